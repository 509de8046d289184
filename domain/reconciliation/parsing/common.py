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
