"""What a statement file says, whatever its format: sections (one account statement each,
with its balances) and lines (one booked entry each). Parsers produce these; matching,
storage and the pages consume them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

FORMATS = ("camt053", "mt940", "csv")
FORMAT_LABELS = {"camt053": "ISO 20022 camt.053", "mt940": "SWIFT MT940", "csv": "CSV"}

# Amounts are compared as integers of this many units per currency unit (five decimals:
# bank statements carry up to five, see camt053.v2.five.decimals.xml).
AMOUNT_DECIMALS = 5
AMOUNT_SCALE = 10**AMOUNT_DECIMALS


def scaled(amount: Decimal) -> int:
    """An amount as an exact integer of AMOUNT_SCALE units (refuses finer amounts)."""
    units = amount.scaleb(AMOUNT_DECIMALS)
    if units != units.to_integral_value():
        raise ValueError(f"{amount} has more than {AMOUNT_DECIMALS} decimal places")
    return int(units)


def unscaled(units: int) -> Decimal:
    return Decimal(units).scaleb(-AMOUNT_DECIMALS).normalize() if units else Decimal(0)


class StatementRefused(Exception):
    """A file we will not read: where in it, and why (shown to the person who uploaded it)."""

    def __init__(self, location: str, reason: str):
        super().__init__(f"{location}: {reason}")
        self.location = location
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StatementLine:
    line_no: int  # 1-based position of the entry in the file (its order, not a text line)
    section: int  # 0-based index of the account statement it belongs to
    booked_on: date
    value_date: date | None
    amount: Decimal  # signed: positive is a credit (money in), negative a debit
    currency: str
    reference: str | None  # what we match on: end-to-end id / customer reference / CSV column
    bank_reference: str | None  # the bank's own reference for the entry
    counterparty_name: str | None
    counterparty_account: str | None
    description: str | None
    location: str  # where in the file, for people: "line 17", "entry 3 of statement 2"


@dataclass(frozen=True, slots=True)
class StatementSection:
    index: int  # 0-based, in file order
    statement_id: str | None  # camt <Stmt><Id>, MT940 :20: / :28C:
    account: str | None  # IBAN, or the account number as the bank writes it
    currency: str
    opening_balance: Decimal | None  # signed; None when the format carries none (CSV)
    opening_date: date | None
    closing_balance: Decimal | None
    closing_date: date | None
    period_from: date | None
    period_to: date | None
    entries: int  # how many lines the section holds
    entries_sum: Decimal  # their signed sum
    location: str
