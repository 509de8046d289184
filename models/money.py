"""Money is Decimal with the currency's ISO 4217 minor units, never float."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

# ISO 4217 minor units for the currencies a European / US / UK payment company meets.
MINOR_UNITS: dict[str, int] = {
    "EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2,
    "CZK": 2, "HUF": 2, "RON": 2, "BGN": 2, "CAD": 2, "AUD": 2, "NZD": 2, "SGD": 2,
    "HKD": 2, "CNY": 2, "INR": 2, "MXN": 2, "BRL": 2, "ZAR": 2, "TRY": 2, "AED": 2,
    "JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0,
    "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3,
}  # fmt: skip

PERCENT_PLACES = 4


class MoneyError(ValueError):
    """An amount that is not a valid amount of its currency."""


def minor_units(currency: str) -> int:
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise MoneyError(f"unknown currency {currency!r}") from None


def parse_amount(value: object, currency: str, *, allow_negative: bool = False) -> Decimal:
    """Parse an amount exactly; refuse floats, more decimals than the currency has, and junk."""
    if isinstance(value, float):
        raise MoneyError("amounts must be given as strings or integers, not floating point")
    if isinstance(value, bool):
        raise MoneyError("not an amount")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise MoneyError(f"{value!r} is not a number") from None
    if not amount.is_finite():
        raise MoneyError("amount must be a finite number")
    places = minor_units(currency)
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > places and amount != amount.quantize(Decimal(1).scaleb(-places)):
        raise MoneyError(f"{currency} has {places} decimal places; {value} has more")
    if amount < 0 and not allow_negative:
        raise MoneyError("amount must not be negative")
    return quantize(amount, currency)


def quantize(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_EVEN)


def parse_percent(value: object) -> Decimal:
    if isinstance(value, float):
        raise MoneyError("percentages must be given as strings, not floating point")
    try:
        pct = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise MoneyError(f"{value!r} is not a number") from None
    if not pct.is_finite() or pct < 0 or pct > 100:
        raise MoneyError("percent must be between 0 and 100")
    exponent = pct.as_tuple().exponent
    assert isinstance(exponent, int)
    if -exponent > PERCENT_PLACES and pct != pct.quantize(Decimal(1).scaleb(-PERCENT_PLACES)):
        raise MoneyError(f"percent has at most {PERCENT_PLACES} decimal places")
    return pct.quantize(Decimal(1).scaleb(-PERCENT_PLACES))


def format_amount(amount: Decimal | None, currency: str) -> str:
    if amount is None:
        return "—"
    return f"{quantize(amount, currency):,} {currency}"
