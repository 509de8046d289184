"""What every statement reader shares: amount checks and the running totals of a section."""

from __future__ import annotations

from decimal import Decimal

from reconciliation.engines.lines import AMOUNT_DECIMALS, StatementRefused

ZERO = Decimal(0)
# ISO 4217 "no currency": a CSV report with no rows and no fixed currency in its mapping.
NO_CURRENCY = "XXX"


def check_decimals(amount: Decimal, written: str, location: str) -> Decimal:
    """The amount, or a refusal when it is finer than the five decimals we store."""
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > AMOUNT_DECIMALS:
        raise StatementRefused(
            location, f"'{written}' has more than {AMOUNT_DECIMALS} decimal places"
        )
    return amount


# PostgreSQL text cannot hold a NUL character, and no bank writes one on purpose: a file
# with one is refused where it is, before anything of it is stored.
NUL_REASON = (
    "a NUL byte (0x00) is in the text, which no statement may hold (a damaged export?); "
    "ask the bank for the file again"
)


def first_nul(data: bytes) -> int | None:
    """Where the first NUL byte is, or None (for files in single-byte or UTF-8 encodings)."""
    position = data.find(b"\x00")
    return None if position < 0 else position


def line_at(data: bytes | str, position: int) -> int:
    """The 1-based text line a position in the file is on."""
    if isinstance(data, bytes):
        return data.count(b"\n", 0, position) + 1
    return data.count("\n", 0, position) + 1
