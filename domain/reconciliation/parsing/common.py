"""What every statement reader shares: amount checks and the running totals of a section."""

from __future__ import annotations

from decimal import Decimal

from domain.reconciliation.lines import AMOUNT_DECIMALS, StatementRefused

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


def is_iban(text: str) -> bool:
    """A syntactically valid IBAN (country, check digits, mod-97), spaces ignored."""
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact.isalnum() or not compact.isascii():
        return False
    if not (compact[:2].isalpha() and compact[2:4].isdigit()):
        return False
    rearranged = compact[4:] + compact[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1
