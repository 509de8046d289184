"""SWIFT MT940, read with the mt-940 library, one statement (one :20: block) at a time.

The library is lenient: it reads what it can and says nothing about the rest. A statement
we reconcile against must be read exactly or not at all, so every :61: entry and every
balance is checked against the SWIFT layout first, and every problem is refused with the
text line it is on (the library works on a copy of the text without blank lines, which
`_Block` maps back to the file's own line numbers).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import mt940 as mt940_lib

from reconciliation.engines.lines import StatementLine, StatementRefused, StatementSection
from reconciliation.engines.parsing.common import NUL_REASON, ZERO, check_decimals, line_at
from reconciliation.engines.parsing.mt940_details import Details, read_details

# Every fix the library offers, on: RC is negative and RD positive (reversals), lowercase
# marks count, :86: is never cut short, a byte-order mark does not hide the first :20:.
OPTIONS = mt940_lib.Options.all()

_STATEMENT_START = re.compile(r"^:20:", re.MULTILINE)
_FIELD_START = re.compile(r"^:(\w+):", re.MULTILINE)
# An MT942 (intraday report) has a floor limit (:34F:) and a date-time (:13D:), and no
# opening balance; its :90D:/:90C: sums stand where an MT940's balances would.
_MT942_FIELDS = re.compile(r"^:(?:34F|13D|90[CD]):", re.MULTILINE)
_OPENING_FIELD = re.compile(r"^:60[FM]?:", re.MULTILINE)
MT942_REASON = "MT942 is an intraday report, not a statement; upload the end-of-day MT940"
_ENTRY_START = re.compile(r"^:61:", re.MULTILINE)
# The :61: layout (6!n[4!n]2a[1!a]15d1!a3!c...), strict where the library is lenient: an
# amount is digits with one decimal comma, and a transaction type (N, F or S and three
# characters) must follow it, or "1X,00" would be read as an amount of 1.
_ENTRY = re.compile(
    r"(?P<date>\d{6})(?P<entry>\d{4}|\s{4})?(?P<mark>R?[CD])(?P<funds>[A-Z])?[\n ]?"
    r"(?P<amount>\d+(?:,\d*)?)(?P<type>[NFS][A-Z0-9 ]{3})",
    re.IGNORECASE,
)
_BALANCE = re.compile(
    r"(?P<mark>[CD])(?P<date>\d{6})(?P<currency>[A-Z]{3})(?P<amount>\d+(?:,\d*)?)"
)
_OPENING_TAGS = ("60F", "60M", "60")
_CLOSING_TAGS = ("62F", "62M", "62")
_BALANCE_TAGS = {*_OPENING_TAGS, *_CLOSING_TAGS, "64", "65"}
_BALANCE_SLUGS = {  # where the library files each balance
    "60F": "final_opening_balance",
    "60M": "intermediate_opening_balance",
    "60": "opening_balance",
    "62F": "final_closing_balance",
    "62M": "intermediate_closing_balance",
    "62": "closing_balance",
}
_FIELD_NAMES = {
    "20": "statement reference (:20:)",
    "25": "account (:25:)",
    "28": "statement number (:28:)",
    "28C": "statement number (:28C:)",
    "60F": "opening balance (:60F:)",
    "60M": "opening balance (:60M:)",
    "60": "opening balance (:60:)",
    "61": "entry (:61:)",
    "62F": "closing balance (:62F:)",
    "62M": "closing balance (:62M:)",
    "62": "closing balance (:62:)",
    "64": "available balance (:64:)",
    "65": "forward available balance (:65:)",
    "86": "entry details (:86:)",
    "NS": "bank-specific field (:NS:)",
}


def decode(data: bytes) -> str:
    """MT940 text: UTF-8 when it is, else Windows-1252, else Latin-1 (which always decodes)."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def read_mt940(data: bytes) -> Iterator[StatementLine | StatementSection]:
    """Yield each :61: entry as a line and each :20: statement as a section after its lines."""
    text = decode(data)
    _refuse_nul(text)
    starts = [match.start() for match in _STATEMENT_START.finditer(text)]
    before = text[: starts[0]] if starts else text
    if stray := _ENTRY_START.search(before):
        where = f"line {before.count(chr(10), 0, stray.start()) + 1}"
        raise StatementRefused(where, "this :61: entry comes before any :20: (statement reference)")
    if not starts:
        raise StatementRefused(
            "line 1", "no :20: and no :61: in the file: this is not an MT940 statement"
        )
    line_no = 0
    first_line = before.count("\n") + 1
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(text)
        if is_mt942(text[start:end]):
            raise StatementRefused(f"line {first_line}", MT942_REASON)
        block = _Block(first_line)
        block.parse(text[start:end])
        first_line += text.count("\n", start, end)
        section = block.section(index)  # balances checked before any of its lines is given
        entries_sum = ZERO
        for transaction in block.transactions:
            line_no += 1
            line = block.line(transaction, line_no, index, section.currency)
            entries_sum += line.amount
            yield line
        yield replace(section, entries=len(block.transactions), entries_sum=entries_sum)


def is_mt942(text: str) -> bool:
    """Whether this text is an MT942 interim report (its fields, and no opening balance)."""
    return bool(_MT942_FIELDS.search(text)) and not _OPENING_FIELD.search(text)


def _refuse_nul(text: str) -> None:
    """A NUL anywhere is refused naming its line and the field it is in."""
    position = text.find("\x00")
    if position < 0:
        return
    line_start = text.rfind("\n", 0, position) + 1
    fields = list(_FIELD_START.finditer(text, 0, line_start + 6))
    field = next((m.group(1) for m in reversed(fields) if m.start() <= position), None)
    where = f"line {line_at(text, position)}"
    if field is not None:
        where += f", in the {_FIELD_NAMES.get(field, f':{field}:')}"
    raise StatementRefused(where, NUL_REASON)


class _Unreadable(Exception):
    """A field that does not follow the layout; _Block adds the line it is on."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Statement(mt940_lib.tags.Statement):
    """:61:, tried against the SWIFT pattern, then ASN Bank's (an IBAN as the customer
    reference), then GLS's (a long reference before //), after our strict check.

    The class keeps the library's name on purpose: the library derives the processors'
    slug ("statement") from it, and the default :61: processors must still run.
    """

    _patterns = tuple(
        re.compile(tag.pattern, mt940_lib.tags.Tag.RE_FLAGS)
        for tag in (
            mt940_lib.tags.Statement,
            mt940_lib.tags.StatementASNB,
            mt940_lib.tags.StatementGLS,
        )
    )

    def parse(self, transactions: Any, value: str) -> dict[str, str | None]:
        del transactions  # part of the library's tag protocol
        _check_entry(value)
        for pattern in self._patterns:
            if match := pattern.match(value):
                return match.groupdict()
        raise _Unreadable(f"'{_first_line(value)}' is not laid out as an MT940 entry")


_TAGS: dict[int | str, mt940_lib.tags.Tag] = {61: Statement()}


def _ensure_type_code(
    transactions: Any, tag: Any, tag_dict: dict[str, Any], result: dict[str, Any]
) -> dict[str, Any]:
    # The library starts a new transaction only when the previous one has a type code ("id");
    # our check requires one, this keeps two entries from ever being merged into one.
    del transactions, tag, tag_dict
    result["id"] = result.get("id") or "NONE"
    return result


_PROCESSORS = {
    "post_statement": [
        *mt940_lib.models.Transactions.DEFAULT_PROCESSORS["post_statement"],
        _ensure_type_code,
    ]
}


class _Block(mt940_lib.models.Transactions):
    """One :20: statement, parsed by the library, with the file's line of every field."""

    def __init__(self, first_line: int):
        super().__init__(processors=_PROCESSORS, tags=_TAGS, options=OPTIONS)
        self.first_line = first_line
        self.field_lines: dict[str, int] = {}
        self._kept: list[int] = []
        self._cursor = (0, 0)  # (offset in the library's text, its line index there)
        self._closed = False

    def parse(self, data: str) -> list[mt940_lib.models.Transaction]:
        # The library drops blank lines and lone "-" lines before it looks for tags
        # (Transactions.strip); remember which of our lines each of its lines is.
        self._kept = [
            number
            for number, raw in enumerate(data.split("\n"))
            if (line := raw.replace("\r", "").rstrip()) and line.strip() != "-"
        ]
        return super().parse(data)

    def _line_of(self, offset: int, data: str) -> int:
        position, index = self._cursor
        index += data.count("\n", position, offset)
        self._cursor = (offset, index)
        return self.first_line + self._kept[index]

    def _process_match(
        self,
        match: re.Match[str],
        i: int,
        valid_matches: list[re.Match[str]],
        data: str,
    ) -> None:
        line = self._line_of(match.start(), data)
        field = match.group("full_tag")
        end = valid_matches[i + 1].start() if i + 1 < len(valid_matches) else len(data)
        value = data[match.end() : end].strip()
        if field == "86" and self._closed:
            return  # statement-level information after the closing balance (ING's summary)
        try:
            if field in _BALANCE_TAGS:
                _check_balance(value)
            super()._process_match(match, i, valid_matches, data)
        except _Unreadable as exc:
            raise StatementRefused(f"line {line}", exc.reason) from None
        except (RuntimeError, ValueError, ArithmeticError, KeyError, TypeError) as exc:
            name = _FIELD_NAMES.get(field, f":{field}:")
            raise StatementRefused(
                f"line {line}", f"the {name} '{_first_line(value)}' cannot be read"
            ) from exc
        self.field_lines.setdefault(field, line)
        if field == "61":
            self.transactions[-1].data["text_line"] = line
        elif field in _CLOSING_TAGS:
            self._closed = True

    def section(self, index: int) -> StatementSection:
        """The statement's own data; its entries are counted by the caller as it reads them."""
        location = f"line {self.field_lines.get('20', self.first_line)}"
        opening = self._balance(_OPENING_TAGS)
        closing = self._balance(_CLOSING_TAGS)
        if opening is None and any(field in self.field_lines for field in ("13D", "34F")):
            raise StatementRefused(
                location, "this is an MT942 interim report, not a statement (MT940)"
            )
        if opening is None:
            raise StatementRefused(
                location, f"statement {index + 1} has no opening balance (:60F:)"
            )
        if closing is None:
            raise StatementRefused(
                location, f"statement {index + 1} has no closing balance (:62F:)"
            )
        reference = (self.data.get("transaction_reference") or "").strip()
        number = self.data.get("statement_number")
        sequence = self.data.get("sequence_number")
        if number:
            reference = f"{reference} {number}{f'/{sequence}' if sequence else ''}".strip()
        return StatementSection(
            index=index,
            statement_id=reference or None,
            account=(self.data.get("account_identification") or "").strip() or None,
            currency=opening[2],
            opening_balance=opening[0],
            opening_date=opening[1],
            closing_balance=closing[0],
            closing_date=closing[1],
            period_from=opening[1],
            period_to=closing[1],
            entries=0,
            entries_sum=ZERO,
            location=location,
        )

    def _balance(self, fields: tuple[str, ...]) -> tuple[Decimal, date, str] | None:
        """The first of these balances the statement has: amount (signed), date, currency."""
        for field in fields:
            balance = self.data.get(_BALANCE_SLUGS[field])
            if balance is None:
                continue
            amount: Decimal = balance.amount.amount
            where = f"line {self.field_lines.get(field, self.first_line)}"
            check_decimals(amount, str(abs(amount)).replace(".", ","), where)
            return amount, _plain_date(balance.date), balance.amount.currency
        return None

    def line(
        self, transaction: mt940_lib.models.Transaction, line_no: int, section: int, currency: str
    ) -> StatementLine:
        data = transaction.data
        location = f"line {data['text_line']}"
        amount: Decimal = data["amount"].amount
        check_decimals(amount, str(abs(amount)).replace(".", ","), location)
        value_date = _plain_date(data["date"])
        entry_date = data.get("entry_date")
        details: Details = read_details(data)
        return StatementLine(
            line_no=line_no,
            section=section,
            booked_on=_plain_date(entry_date) if entry_date else value_date,
            value_date=value_date,
            amount=amount,
            currency=data["amount"].currency or currency,
            reference=details.reference,
            bank_reference=details.bank_reference,
            counterparty_name=details.counterparty_name,
            counterparty_account=details.counterparty_account,
            description=details.description,
            location=location,
        )


def _plain_date(value: date) -> date:
    """The library's Date subclass as a plain date (nothing of the library leaks out)."""
    return date(value.year, value.month, value.day)


def _first_line(value: str) -> str:
    return value.split("\n", 1)[0].strip()


def _check_entry(value: str) -> None:
    """Refuse a :61: that is not (date)(entry date)(C/D/RC/RD)(amount)(type), saying which part."""
    if _ENTRY.match(value):
        _check_date(value[:6])
        return
    head = _first_line(value)
    _check_date(head[:6])
    rest = head[6:]
    if rest[:4].isdigit():
        rest = rest[4:]
    mark = re.match(r"R?[CD]", rest, re.IGNORECASE)
    if not mark:
        raise _Unreadable(f"'{rest[:2]}' is not a debit/credit mark (C, D, RC or RD)")
    rest = rest[mark.end() :]
    if rest[:1].isalpha() and rest[1:2].isdigit():
        rest = rest[1:]  # the funds code
    before_type = re.match(r"(.*?)(?:[NFS][A-Z0-9]{3}|$)", rest)
    written = before_type.group(1) if before_type else rest
    if not re.fullmatch(r"\d+(?:,\d*)?", written):
        raise _Unreadable(f"'{written}' is not an amount")
    raise _Unreadable(
        f"the amount '{written}' is not followed by a transaction type (such as NTRF)"
    )


def _check_date(written: str) -> None:
    if len(written) == 6 and written.isdigit():
        month, day = int(written[2:4]), int(written[4:6])
        if 1 <= month <= 12 and 1 <= day <= 31:
            return
    raise _Unreadable(f"'{written}' is not a date (YYMMDD)")


def _check_balance(value: str) -> None:
    head = _first_line(value)
    if match := _BALANCE.fullmatch(head):
        _check_date(match.group("date"))
        return
    if head[:1] not in ("C", "D"):
        raise _Unreadable(f"'{head[:1]}' is not a debit/credit mark (C or D)")
    _check_date(head[1:7])
    if not re.fullmatch(r"[A-Z]{3}", head[7:10]):
        raise _Unreadable(f"'{head[7:10]}' is not a currency code")
    raise _Unreadable(f"'{head[10:]}' is not an amount")
