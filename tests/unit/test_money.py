"""Money is Decimal with the currency's minor units, never float (promise 24)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from models.money import MoneyError, format_amount, parse_amount, parse_percent


def test_amounts_are_exact_decimals_in_the_currency_minor_unit() -> None:
    assert parse_amount("2.5", "EUR") == Decimal("2.50")
    assert parse_amount("2.50", "EUR").as_tuple().exponent == -2
    assert parse_amount("1000", "JPY") == Decimal("1000")
    assert parse_amount("1.125", "BHD") == Decimal("1.125")
    assert parse_amount(7, "USD") == Decimal("7.00")


@pytest.mark.parametrize(
    ("value", "currency", "why"),
    [
        (2.5, "EUR", "floating point"),
        ("1.234", "EUR", "2 decimal places"),
        ("10.5", "JPY", "0 decimal places"),
        ("-1", "EUR", "negative"),
        ("abc", "EUR", "not a number"),
        ("NaN", "EUR", "finite"),
        ("1", "XXX", "unknown currency"),
        (True, "EUR", "not an amount"),
    ],
)
def test_bad_amounts_are_refused_with_the_reason(value: object, currency: str, why: str) -> None:
    with pytest.raises(MoneyError, match=why):
        parse_amount(value, currency)


def test_trailing_zeros_beyond_the_minor_unit_are_accepted() -> None:
    assert parse_amount("2.500", "EUR") == Decimal("2.50")


def test_percent_bounds_and_precision() -> None:
    assert parse_percent("1.75") == Decimal("1.7500")
    for bad in ("-0.1", "100.01", "1.23456", 1.5):
        with pytest.raises(MoneyError):
            parse_percent(bad)


def test_formatting_keeps_minor_units() -> None:
    assert format_amount(Decimal("1234.5"), "EUR") == "1,234.50 EUR"
    assert format_amount(Decimal("1234"), "JPY") == "1,234 JPY"
