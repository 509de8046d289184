"""One transaction row, as the API and the legacy import receive it: validated field by field.

Every problem is named after its field (`amount`, `counterparty.country`) with a sentence
saying what is wrong; a row with any problem is refused, the rest of its batch is not.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import pycountry
from pydantic import BaseModel, Field

from models.aml import CHANNELS, DIRECTIONS
from models.money import MINOR_UNITS, MoneyError, parse_amount
from shared.iban import is_valid_iban

MAX_BATCH = 10_000
MAX_AMOUNT = Decimal(10) ** 15  # Numeric(20, 4) holds 16 integer digits; nobody pays more
FUTURE_TOLERANCE = timedelta(days=1)  # clocks differ; a booking days ahead is a mistake
ROW_FIELDS = frozenset(
    (
        *("external_id", "account", "booked_at", "amount", "currency", "direction"),
        *("channel", "counterparty", "description"),
    )
)
COUNTERPARTY_FIELDS = frozenset(("name", "account", "country"))
COUNTRIES = frozenset(c.alpha_2 for c in pycountry.countries)


@dataclass(slots=True)
class ParsedRow:
    index: int
    external_id: str
    iban: str
    booked_at: datetime
    amount: Decimal
    currency: str
    direction: str
    channel: str
    counterparty_name: str | None
    counterparty_account: str | None
    counterparty_country: str | None
    description: str | None

    def content(self, account_id: uuid.UUID) -> tuple[Any, ...]:
        """What must match for a row sent again to count as the same transaction."""
        return (
            account_id,
            self.booked_at,
            self.amount,
            self.currency,
            self.direction,
            self.channel,
            self.counterparty_name,
            self.counterparty_account,
            self.counterparty_country,
            self.description,
        )


def _text(value: Any, errors: dict[str, str], name: str, limit: int, *, required: bool) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors[name] = "required"
        return ""
    if not isinstance(value, str):
        errors[name] = "must be a string"
        return ""
    text = value.strip()
    if len(text) > limit:
        errors[name] = f"at most {limit} characters"
    elif not text.isprintable():
        errors[name] = "must not contain control characters"
    return text


def _booked_at(value: Any, errors: dict[str, str], now: datetime) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        errors["booked_at"] = "required: ISO 8601 date and time with a timezone"
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        errors["booked_at"] = "not an ISO 8601 date and time (e.g. 2026-11-26T09:30:00+01:00)"
        return None
    if when.tzinfo is None:
        errors["booked_at"] = "needs a timezone (e.g. +01:00 or Z)"
        return None
    if when > now + FUTURE_TOLERANCE:
        errors["booked_at"] = "is in the future"
        return None
    return when


def parse_row(raw: Any, index: int, now: datetime) -> tuple[ParsedRow | None, dict[str, str]]:
    """One row validated: the parsed row, or the errors per field."""
    errors: dict[str, str] = {}
    if not isinstance(raw, Mapping):
        return None, {"row": "must be a JSON object"}
    for name in raw:
        if name not in ROW_FIELDS:
            errors[str(name)[:60]] = "unknown field"
    external_id = _text(raw.get("external_id"), errors, "external_id", 100, required=True)
    account = raw.get("account")
    iban = "".join(account.split()).upper() if isinstance(account, str) else ""
    if not iban:
        errors["account"] = "required: the IBAN of one of our accounts"
    elif not is_valid_iban(iban):
        errors["account"] = "not a valid IBAN"
    booked_at = _booked_at(raw.get("booked_at"), errors, now)
    currency = raw.get("currency")
    if not isinstance(currency, str) or currency.strip().upper() not in MINOR_UNITS:
        errors["currency"] = "unknown currency: use an ISO 4217 code such as EUR"
        currency = None
    else:
        currency = currency.strip().upper()
    amount: Decimal | None = None
    raw_amount = raw.get("amount")
    if raw_amount is None:
        errors["amount"] = "required"
    elif currency is not None:
        try:
            amount = parse_amount(raw_amount, currency)
        except MoneyError as exc:
            errors["amount"] = str(exc)
        else:
            if amount <= 0:
                errors["amount"] = "must be more than zero"
            elif amount >= MAX_AMOUNT:
                errors["amount"] = "too large"
    direction = raw.get("direction")
    if direction not in DIRECTIONS:
        errors["direction"] = "must be in or out"
    channel = raw.get("channel")
    if channel not in CHANNELS:
        errors["channel"] = f"must be one of {', '.join(CHANNELS)}"
    name = account_no = country = ""
    counterparty = raw.get("counterparty")
    if isinstance(counterparty, Mapping):
        for key in counterparty:
            if key not in COUNTERPARTY_FIELDS:
                errors[f"counterparty.{str(key)[:40]}"] = "unknown field"
        name = _text(counterparty.get("name"), errors, "counterparty.name", 200, required=False)
        account_no = _text(
            counterparty.get("account"), errors, "counterparty.account", 64, required=False
        )
        country = _text(
            counterparty.get("country"), errors, "counterparty.country", 2, required=False
        ).upper()
        if country and country not in COUNTRIES:
            errors["counterparty.country"] = "use an ISO 3166-1 alpha-2 country code, e.g. DE"
    elif counterparty is not None:
        errors["counterparty"] = "must be an object with name, account and country"
    description = _text(raw.get("description"), errors, "description", 500, required=False)
    if errors:
        return None, errors
    assert booked_at is not None and amount is not None and currency is not None
    return (
        ParsedRow(
            index=index,
            external_id=external_id,
            iban=iban,
            booked_at=booked_at,
            amount=amount,
            currency=currency,
            direction=str(direction),
            channel=str(channel),
            counterparty_name=name or None,
            counterparty_account=account_no or None,
            counterparty_country=country or None,
            description=description or None,
        ),
        {},
    )


# --- the row format, for the API documentation ---------------------------------------------
# Rows are checked by `parse_row`, not by these models, so that one bad row is reported on
# its own instead of refusing its whole batch; the models only describe the format.


class CounterpartyIn(BaseModel):
    name: str | None = Field(default=None, max_length=200, description="Who paid or was paid.")
    account: str | None = Field(
        default=None, max_length=64, description="Their IBAN, card or wallet reference."
    )
    country: str | None = Field(
        default=None, min_length=2, max_length=2, description="ISO 3166-1 alpha-2, e.g. DE."
    )


class TransactionIn(BaseModel):
    external_id: str = Field(
        max_length=100,
        description="Core banking's id of the booking; sending it again changes nothing.",
    )
    account: str = Field(max_length=42, description="IBAN of one of our accounts.")
    booked_at: datetime = Field(
        description="ISO 8601 with a timezone, e.g. 2026-11-26T09:30:00+01:00."
    )
    amount: str | int = Field(
        description="Positive, as a string or integer (never a float), with at most the "
        'currency\'s decimal places: "9700.00".'
    )
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217, e.g. EUR.")
    direction: Literal["in", "out"] = Field(description="Money in to or out of the account.")
    channel: Literal["card", "sepa", "swift", "cash", "crypto"]
    counterparty: CounterpartyIn | None = None
    description: str | None = Field(default=None, max_length=500)


class TransactionBatch(BaseModel):
    transactions: list[TransactionIn] = Field(
        max_length=MAX_BATCH, description=f"Up to {MAX_BATCH:,} transactions."
    )
