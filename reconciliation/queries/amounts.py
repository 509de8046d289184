"""Amounts as the reconciliation pages show them: exactly, as strings. Statement amounts carry
up to five decimals and are never rounded to cents.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from models.money import MoneyError, minor_units


def amount_text(value: Decimal | str | None, currency: str | None = None) -> str:
    """An amount exactly, with at least its currency's minor units: 98.5 -> '98.50',
    0.12345 stays '0.12345' (statements carry up to five decimals)."""
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    try:
        places = minor_units(currency or "")
    except MoneyError:
        places = 2
    step = Decimal(1).scaleb(-places)
    if amount == amount.quantize(step):
        return f"{amount.quantize(step):f}"
    return f"{amount.normalize():f}"
