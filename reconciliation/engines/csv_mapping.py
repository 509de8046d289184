"""How to read one source's CSV statements: which column is what, and how numbers and dates
are written. Stored as JSON on the reconciliation source and edited in a form, so every
problem is explained in words against the field it concerns.
"""

from __future__ import annotations

import codecs
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

# The fields that name a column of the file, in the model's order.
_COLUMN_ROLES = (
    "booked_on",
    "value_date",
    "amount",
    "debit_amount",
    "credit_amount",
    "direction",
    "currency_column",
    "reference",
    "bank_reference",
    "counterparty_name",
    "counterparty_account",
    "description",
)
_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
_REQUIRED_TEXT = ("date_format", "encoding", "booked_on")
_SAMPLE_DAY = date(2024, 3, 15)


class CsvMapping(BaseModel):
    """A CSV layout. Column names are the header names in the file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    delimiter: str = ","
    decimal_separator: Literal[".", ","] = "."
    thousands_separator: str | None = None
    date_format: str = "%Y-%m-%d"
    encoding: str = "utf-8"

    booked_on: str
    value_date: str | None = None
    # The amount: one signed column, or debit and credit columns, or an unsigned amount
    # column with a direction column saying which it is.
    amount: str | None = None
    debit_amount: str | None = None
    credit_amount: str | None = None
    direction: str | None = None
    credit_values: list[str] = ["C", "CR", "CRDT", "credit"]
    debit_values: list[str] = ["D", "DR", "DBIT", "debit"]
    # The currency: a column, or the one currency of every line of the file.
    currency_column: str | None = None
    currency: str | None = None

    reference: str | None = None
    bank_reference: str | None = None
    counterparty_name: str | None = None
    counterparty_account: str | None = None
    description: str | None = None

    @field_validator("delimiter", mode="before")
    @classmethod
    def _named_delimiter(cls, value: Any) -> Any:
        # A form cannot easily send a tab, so its name is accepted too. A whitespace
        # delimiter (a tab, a space) is kept as it is.
        if isinstance(value, str) and value.strip():
            return _DELIMITER_NAMES.get(value.strip().lower(), value.strip())
        return value

    @field_validator(
        "date_format",
        "encoding",
        "booked_on",
        "value_date",
        "amount",
        "debit_amount",
        "credit_amount",
        "direction",
        "currency_column",
        "currency",
        "reference",
        "bank_reference",
        "counterparty_name",
        "counterparty_account",
        "description",
        mode="before",
    )
    @classmethod
    def _tidy(cls, value: Any, info: ValidationInfo) -> Any:
        # Form fields come with stray spaces; an empty optional field means "not in the file".
        if not isinstance(value, str):
            return value
        value = value.strip()
        if not value and info.field_name not in _REQUIRED_TEXT:
            return None
        return value

    @field_validator("thousands_separator", mode="before")
    @classmethod
    def _no_grouping(cls, value: Any) -> Any:
        # Not stripped: a space is a common thousands separator.
        return None if value == "" else value

    @field_validator("credit_values", "debit_values", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value

    @model_validator(mode="after")
    def _explain(self) -> CsvMapping:
        problems = self.problems()
        if problems:
            raise ValidationError.from_exception_data(
                "CsvMapping",
                [
                    InitErrorDetails(
                        type=PydanticCustomError("csv_mapping", message),
                        loc=(field,),
                        input=getattr(self, field),
                    )
                    for field, message in problems.items()
                ],
            )
        return self

    def problems(self) -> dict[str, str]:
        """What is wrong, per field, in words (empty when the mapping is usable)."""
        problems: dict[str, str] = {}
        if len(self.delimiter) != 1 or self.delimiter in '"\r\n':
            problems["delimiter"] = (
                "The delimiter is one character that separates the columns, such as ',' or ';'"
                " (or 'tab')."
            )
        if self.thousands_separator is not None:
            if len(self.thousands_separator) != 1 or self.thousands_separator.isdigit():
                problems["thousands_separator"] = (
                    "The thousands separator is one character, such as '.', ',' or a space."
                )
            elif self.thousands_separator == self.decimal_separator:
                problems["thousands_separator"] = (
                    "The thousands separator cannot be the decimal separator too."
                )
        if problem := _date_format_problem(self.date_format):
            problems["date_format"] = problem
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            problems["encoding"] = (
                f"'{self.encoding}' is not a text encoding we know; "
                "common ones are utf-8, cp1252 and latin-1."
            )
        if not self.booked_on:
            problems["booked_on"] = "Name the column that holds the booking date."
        problems.update(self._amount_problems())
        if self.currency_column and self.currency:
            problems["currency"] = (
                "Give either the column that holds the currency or the one currency of the "
                "whole file, not both."
            )
        elif not self.currency_column and not self.currency:
            problems["currency"] = (
                "Give the currency: the column that holds it, or the one currency of the "
                "whole file (such as EUR)."
            )
        elif self.currency and not (
            len(self.currency) == 3 and self.currency.isascii() and self.currency.isalpha()
        ):
            problems["currency"] = (
                f"'{self.currency}' is not a currency code; it has three letters, such as EUR."
            )
        return problems

    def _amount_problems(self) -> dict[str, str]:
        problems: dict[str, str] = {}
        split = self.debit_amount or self.credit_amount
        if self.amount and split:
            problems["amount"] = (
                "Use either one amount column or debit and credit columns, not both."
            )
        elif not self.amount and not split:
            problems["amount"] = (
                "Say where the amount is: a signed amount column, debit and credit columns, "
                "or an amount column with a direction column."
            )
        elif split and not self.credit_amount:
            problems["credit_amount"] = "A debit column needs the credit column beside it."
        elif split and not self.debit_amount:
            problems["debit_amount"] = "A credit column needs the debit column beside it."
        elif split and self.debit_amount == self.credit_amount:
            problems["credit_amount"] = "Debit and credit are two different columns."
        if self.direction and not self.amount:
            problems["direction"] = "A direction column goes with an amount column."
        elif self.direction and self.direction == self.amount:
            problems["direction"] = "The direction and the amount are two different columns."
        if self.direction:
            credits = {value.lower() for value in self.credit_values}
            debits = {value.lower() for value in self.debit_values}
            if not credits:
                problems["credit_values"] = "List the values that mark a credit, such as C, CR."
            if not debits:
                problems["debit_values"] = "List the values that mark a debit, such as D, DR."
            if both := sorted(credits & debits):
                problems["debit_values"] = (
                    f"{', '.join(repr(v) for v in both)} cannot mark both a credit and a debit."
                )
        return problems

    def columns(self) -> dict[str, str]:
        """Role -> header name, for every column this mapping reads, in the fields' order
        (the role of the currency column is "currency")."""
        return {
            role.removesuffix("_column"): name
            for role in _COLUMN_ROLES
            if (name := getattr(self, role))
        }

    def describe(self) -> list[str]:
        """The layout in a few sentences, for the source's page."""
        delimiter = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "pipes"}.get(
            self.delimiter, f"'{self.delimiter}'"
        )
        numbers = f"decimals after '{self.decimal_separator}'"
        if self.thousands_separator:
            numbers += f", thousands grouped with '{self.thousands_separator}'"
        if self.amount and self.direction:
            amount = f"amount in '{self.amount}', credit or debit per '{self.direction}'"
        elif self.amount:
            amount = f"signed amount in '{self.amount}'"
        else:
            amount = f"debits in '{self.debit_amount}', credits in '{self.credit_amount}'"
        currency = (
            f"currency in '{self.currency_column}'"
            if self.currency_column
            else f"every line in {self.currency}"
        )
        return [
            f"Columns separated by {delimiter}, text in {self.encoding}; {numbers}.",
            f"Booking date in '{self.booked_on}', written like "
            f"{_SAMPLE_DAY.strftime(self.date_format)}.",
            f"The {amount}; {currency}.",
        ]


def _date_format_problem(date_format: str) -> str | None:
    """None when the format writes and reads back a whole date (day, month and year)."""
    try:
        written = _SAMPLE_DAY.strftime(date_format)
        read = datetime.strptime(written, date_format).date()
    except ValueError:
        read = None
    if read != _SAMPLE_DAY:
        return (
            f"'{date_format}' does not give the day, month and year of a date; "
            "write it like %Y-%m-%d or %d.%m.%Y."
        )
    return None


# Ready layouts, to start a source's mapping from.

# A card processor's settlement details report (Adyen-style columns): one row per booked
# payment, refund, chargeback or fee, net amounts split into debit and credit.
CARD_PROCESSOR_SETTLEMENT = CsvMapping(
    booked_on="Creation Date",
    date_format="%Y-%m-%d %H:%M:%S",
    debit_amount="Net Debit (NC)",
    credit_amount="Net Credit (NC)",
    currency_column="Net Currency",
    reference="Merchant Reference",
    bank_reference="Psp Reference",
    description="Type",
)

# A bank's plain CSV export: comma-separated, ISO dates, one signed amount.
GENERIC_BANK_CSV = CsvMapping(
    booked_on="Booking Date",
    value_date="Value Date",
    amount="Amount",
    currency_column="Currency",
    reference="Reference",
    bank_reference="Bank Reference",
    counterparty_name="Counterparty",
    counterparty_account="Counterparty Account",
    description="Description",
)

# The continental European variant: semicolons, decimal commas, day-first dates, and
# separate debit and credit columns, in Windows encoding.
EUROPEAN_BANK_CSV = CsvMapping(
    delimiter=";",
    decimal_separator=",",
    thousands_separator=".",
    date_format="%d.%m.%Y",
    encoding="cp1252",
    booked_on="Buchungstag",
    value_date="Valuta",
    debit_amount="Soll",
    credit_amount="Haben",
    currency="EUR",
    reference="Verwendungszweck",
    counterparty_name="Name",
    counterparty_account="IBAN",
    description="Buchungstext",
)

PRESETS: dict[str, tuple[str, CsvMapping]] = {
    "card_processor_settlement": (
        "Card processor settlement report",
        CARD_PROCESSOR_SETTLEMENT,
    ),
    "generic_bank_csv": ("Bank CSV export (comma, ISO dates)", GENERIC_BANK_CSV),
    "european_bank_csv": ("Bank CSV export (semicolon, decimal comma)", EUROPEAN_BANK_CSV),
}
