"""CSV statements, read with the source's saved CsvMapping: one section without balances,
one line per data row.

Processor reports run to millions of rows, so the per-row work is kept to string slicing
and dictionary lookups: no regular expressions, and each distinct date is parsed once.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from reconciliation.engines.csv_mapping import CsvMapping
from reconciliation.engines.lines import (
    AMOUNT_DECIMALS,
    StatementLine,
    StatementRefused,
    StatementSection,
)
from reconciliation.engines.parsing.common import NO_CURRENCY, NUL_REASON, ZERO, line_at

if TYPE_CHECKING:
    from _csv import _reader

_DATE_CACHE_SIZE = 10_000  # distinct dates remembered
_TIME_CACHE_SIZE = 100_000  # distinct times of day remembered (a day has 86 400 seconds)
_SAMPLE_DAY = date(2024, 3, 15)
_FIXED_WIDTH = {"Y": 4, "y": 2, "m": 2, "d": 2, "H": 2, "M": 2, "S": 2}


class _Bad(Exception):
    """A cell that cannot be read: its role in the mapping and why (said to the uploader)."""

    def __init__(self, role: str, reason: str):
        super().__init__(reason)
        self.role = role
        self.reason = reason


def python_encoding(encoding: str) -> str:
    """The codec to read with: UTF-8 files often start with a byte-order mark; drop it."""
    name = codecs.lookup(encoding).name
    return "utf-8-sig" if name == "utf-8" else name


def read_csv(data: bytes, mapping: CsvMapping) -> Iterator[StatementLine | StatementSection]:
    """Yield each data row as a line, then the file as one section."""
    encoding = python_encoding(mapping.encoding)
    if b"\x00" in data:
        # In UTF-16/32 a NUL byte is half of a character: look for NUL characters there.
        if encoding.startswith(("utf-16", "utf-32")):
            text = data.decode(encoding, "replace")
            position, line = text.find("\x00"), line_at(text, text.find("\x00"))
        else:
            position, line = data.find(b"\x00"), line_at(data, data.find(b"\x00"))
        if position >= 0:
            raise StatementRefused(f"line {line}", NUL_REASON)
    stream = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="")
    reader = csv.reader(stream, delimiter=mapping.delimiter)
    try:
        yield from _read_rows(reader, mapping)
    except UnicodeDecodeError:
        raise _not_in_encoding(data, mapping.encoding) from None
    except csv.Error as exc:
        raise StatementRefused(
            f"line {reader.line_num + 1}", f"the CSV cannot be read: {exc}"
        ) from None


def _read_rows(reader: _reader, mapping: CsvMapping) -> Iterator[StatementLine | StatementSection]:
    header = next(reader, None)
    while header is not None and not any(cell.strip() for cell in header):
        header = next(reader, None)
    if header is None:
        raise StatementRefused(
            "line 1", "the file is empty: a header row naming the columns is required"
        )
    header_line = reader.line_num
    index = _column_indexes(header, mapping, header_line)
    names = {role: header[i].strip() for role, i in index.items()}

    booked_at = index["booked_on"]
    value_at = index.get("value_date", -1)
    currency_at = index.get("currency", -1)
    reference_at = index.get("reference", -1)
    bank_reference_at = index.get("bank_reference", -1)
    name_at = index.get("counterparty_name", -1)
    account_at = index.get("counterparty_account", -1)
    description_at = index.get("description", -1)
    amount_of = _amount_reader(mapping, index)
    dates = _DateReader(mapping.date_format)
    known_dates, read_date = dates.cache, dates.read
    currency = mapping.currency

    line_no = 0
    total = ZERO
    first_day: date | None = None
    last_day: date | None = None
    last_line = header_line
    for row in reader:
        line = last_line + 1
        last_line = reader.line_num
        if not row:
            continue
        try:
            text = row[booked_at]
            booked = known_dates.get(text) or read_date(text, "booked_on")
            value_date = None
            if value_at >= 0:  # optional: may be left empty
                text = row[value_at]
                value_date = known_dates.get(text) or (
                    read_date(text, "value_date") if text.strip() else None
                )
            amount = amount_of(row)
            if currency_at >= 0:
                code = row[currency_at].strip().upper()
                if code != currency:
                    currency = _first_currency(code, currency)
            line_no += 1
            total += amount
            # Positional, in StatementLine's field order: a million of these is the
            # largest single cost of reading a big report.
            yield StatementLine(
                line_no,
                0,
                booked,
                value_date,
                amount,
                currency or NO_CURRENCY,
                row[reference_at].strip() or None if reference_at >= 0 else None,
                row[bank_reference_at].strip() or None if bank_reference_at >= 0 else None,
                row[name_at].strip() or None if name_at >= 0 else None,
                row[account_at].strip() or None if account_at >= 0 else None,
                row[description_at].strip() or None if description_at >= 0 else None,
                f"line {line}",
            )
        except _Bad as bad:
            if not any(cell.strip() for cell in row):
                continue  # an empty row (only delimiters)
            raise StatementRefused(f"line {line}, column '{names[bad.role]}'", bad.reason) from None
        except IndexError:
            if not any(cell.strip() for cell in row):
                continue
            raise StatementRefused(
                f"line {line}",
                f"the row has {len(row)} fields, fewer than the header's {len(header)}",
            ) from None
        if first_day is None or booked < first_day:
            first_day = booked
        if last_day is None or booked > last_day:
            last_day = booked

    yield StatementSection(
        index=0,
        statement_id=None,
        account=None,
        currency=currency or NO_CURRENCY,
        opening_balance=None,
        opening_date=None,
        closing_balance=None,
        closing_date=None,
        period_from=first_day,
        period_to=last_day,
        entries=line_no,
        entries_sum=total,
        location=f"lines {header_line + 1} to {last_line}" if line_no else f"line {header_line}",
    )


def _first_currency(code: str, seen: str | None) -> str:
    """The currency of the first line; every later line must be in it too."""
    if not code:
        raise _Bad("currency", "the currency is empty")
    if seen is not None:
        raise _Bad(
            "currency",
            f"'{code}' differs from {seen}, the currency of the lines above: "
            "a statement is in one currency",
        )
    if not (len(code) == 3 and code.isascii() and code.isalpha()):
        raise _Bad("currency", f"'{code}' is not a currency code")
    return code


def _column_indexes(header: list[str], mapping: CsvMapping, line: int) -> dict[str, int]:
    """Role -> position in the row; refuses naming every mapped column the header lacks."""
    exact: dict[str, int] = {}
    folded: dict[str, int] = {}
    for position, name in enumerate(header):
        exact.setdefault(name.strip(), position)
        folded.setdefault(name.strip().casefold(), position)
    index: dict[str, int] = {}
    missing: list[str] = []
    for role, name in mapping.columns().items():
        found = exact.get(name, folded.get(name.casefold()))
        if found is None:
            missing.append(name)
        else:
            index[role] = found
    if missing:
        shown = ", ".join(f"'{name.strip()}'" for name in header[:20])
        more = f" and {len(header) - 20} more" if len(header) > 20 else ""
        raise StatementRefused(
            f"line {line}",
            f"the header has no column {', '.join(repr(name) for name in missing)} "
            f"(the mapping reads {'them' if len(missing) > 1 else 'it'}); "
            f"its columns are {shown}{more}",
        )
    return index


def _amount_reader(mapping: CsvMapping, index: dict[str, int]) -> Callable[[list[str]], Decimal]:
    """row -> signed amount, for the mapping's layout (signed, debit/credit, or direction)."""
    number = _number_reader(mapping)
    if "debit_amount" in index:
        debit_at, credit_at = index["debit_amount"], index["credit_amount"]

        def split(row: list[str]) -> Decimal:
            debit, credit = row[debit_at].strip(), row[credit_at].strip()
            if not debit and not credit:
                raise _Bad("credit_amount", "neither the debit nor the credit column has an amount")
            amount = abs(number(credit, "credit_amount")) if credit else ZERO
            return amount - abs(number(debit, "debit_amount")) if debit else amount

        return split

    amount_at = index["amount"]
    if "direction" not in index:
        return lambda row: number(row[amount_at], "amount")

    direction_at = index["direction"]
    credits = {value.lower() for value in mapping.credit_values}
    debits = {value.lower() for value in mapping.debit_values}
    expected = (
        f"neither a credit ({', '.join(mapping.credit_values)}) "
        f"nor a debit ({', '.join(mapping.debit_values)})"
    )

    def directed(row: list[str]) -> Decimal:
        amount = abs(number(row[amount_at], "amount"))
        mark = row[direction_at].strip()
        folded = mark.lower()
        if folded in credits:
            return amount
        if folded in debits:
            return -amount
        raise _Bad("direction", f"'{mark}' is {expected}")

    return directed


def _number_reader(mapping: CsvMapping) -> Callable[[str, str], Decimal]:
    """(text, role) -> Decimal, with the mapping's separators; refuses anything but a number
    (no exponents, NaN or underscores, which Decimal() would take) and more than five decimals.
    """
    thousands = mapping.thousands_separator
    comma = mapping.decimal_separator == ","

    def number(text: str, role: str) -> Decimal:
        written = text.strip()
        plain = written.replace(thousands, "") if thousands else written
        if comma:
            plain = plain.replace(",", ".")
        digits = plain[1:] if plain[:1] in ("-", "+") else plain
        point = digits.find(".")
        whole = digits if point < 0 else digits[:point] + digits[point + 1 :]
        if not (whole.isdigit() and whole.isascii()):
            raise _Bad(role, f"'{written}' is not an amount" if written else "the amount is empty")
        if point >= 0 and len(digits) - point - 1 > AMOUNT_DECIMALS:
            raise _Bad(role, f"'{written}' has more than {AMOUNT_DECIMALS} decimal places")
        return Decimal(plain)

    return number


class _DateReader:
    """Dates in the mapping's format, each distinct text parsed once.

    "%Y-%m-%d" goes to date.fromisoformat, other formats of zero-padded numbers are sliced,
    anything else (month names...) goes to strptime. A date-time ("2024-03-04 10:12:43") is
    split where its time starts: the day is parsed once per day and each time of day checked
    once, however many rows carry them.
    """

    def __init__(self, date_format: str):
        self.date_format = date_format
        self.layout = _fixed_layout(date_format)
        self.cache: dict[str, date] = {}  # whole texts; the caller looks here first
        self.days: dict[str, date] = {}  # date-times: the date part
        self.times: set[str] = set()  # date-times: time parts already checked

    def read(self, text: str, role: str) -> date:
        """The date of a text `cache` does not know yet (refused in words if it is none)."""
        written = text.strip()
        try:
            day = self._parse(written)
        except ValueError:
            example = _SAMPLE_DAY.strftime(self.date_format)
            reason = (
                f"'{written}' is not a date written like {example}"
                if written
                else "the date is empty"
            )
            raise _Bad(role, reason) from None
        if len(self.cache) < _DATE_CACHE_SIZE and not self.times:
            self.cache[text] = day
        return day

    def _parse(self, written: str) -> date:
        if self.date_format == "%Y-%m-%d":
            if len(written) != 10 or written[4] != "-" or written[7] != "-":
                raise ValueError(written)
            return date.fromisoformat(written)
        layout = self.layout
        if layout is None or len(written) != layout.width:
            return datetime.strptime(written, self.date_format).date()
        split = layout.time_starts
        if split is None:
            return layout.parse(written)
        day = self.days.get(written[:split])
        if day is None or written[split:] not in self.times:
            day = layout.parse(written)
            if len(self.days) < _DATE_CACHE_SIZE:
                self.days[written[:split]] = day
            if len(self.times) < _TIME_CACHE_SIZE:
                self.times.add(written[split:])
        return day


class _FixedLayout:
    """A format of zero-padded numbers and literal characters (%d.%m.%Y, %Y-%m-%d %H:%M)."""

    def __init__(self, fields: dict[str, int], literals: list[tuple[int, str]], width: int):
        self.fields = fields  # directive letter -> start position
        self.literals = literals
        self.width = width
        # Where the time of day starts, when all of the date comes before it.
        date_end = max(fields[f] + _FIXED_WIDTH[f] for f in fields if f in "Yymd")
        time_start = min((fields[f] for f in fields if f in "HMS"), default=None)
        self.time_starts = date_end if time_start is not None and date_end <= time_start else None

    def parse(self, written: str) -> date:
        for position, char in self.literals:
            if written[position] != char:
                raise ValueError(written)
        values = {}
        for letter, start in self.fields.items():
            part = written[start : start + _FIXED_WIDTH[letter]]
            if not (part.isdigit() and part.isascii()):
                raise ValueError(written)
            values[letter] = int(part)
        if "y" in values:  # strptime's pivot: 69-99 are 19xx, 00-68 are 20xx
            values["Y"] = values["y"] + (1900 if values["y"] >= 69 else 2000)
        if values.get("H", 0) > 23 or values.get("M", 0) > 59 or values.get("S", 0) > 61:
            raise ValueError(written)
        return date(values["Y"], values["m"], values["d"])


def _fixed_layout(date_format: str) -> _FixedLayout | None:
    fields: dict[str, int] = {}
    literals: list[tuple[int, str]] = []
    position = 0
    at = 0
    while at < len(date_format):
        char = date_format[at]
        if char == "%":
            letter = date_format[at + 1 : at + 2]
            if letter == "%":
                literals.append((position, "%"))
                position += 1
            elif letter in _FIXED_WIDTH and letter not in fields:
                fields[letter] = position
                position += _FIXED_WIDTH[letter]
            else:
                return None  # names of months, fractions, zones...: strptime's business
            at += 2
            continue
        literals.append((position, char))
        position += 1
        at += 1
    has_year = "Y" in fields or "y" in fields
    if not (has_year and "m" in fields and "d" in fields):
        return None
    return _FixedLayout(fields, literals, position)


def _not_in_encoding(data: bytes, encoding: str) -> StatementRefused:
    try:
        data.decode(python_encoding(encoding))
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return StatementRefused(
            f"line {line}",
            f"the file is not {encoding} text (byte 0x{data[exc.start]:02x} is not "
            f"{encoding}); check the encoding in the source's CSV mapping",
        )
    return StatementRefused("line 1", f"the file is not {encoding} text")
