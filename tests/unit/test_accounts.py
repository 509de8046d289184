"""Account numbers are IBANs whose check digits verify (ISO 13616, mod 97-10)."""

from __future__ import annotations

import pytest

from shared.iban import format_iban, iban_for, is_valid_iban


@pytest.mark.parametrize(
    "iban",
    [
        "DE89370400440532013000",
        "GB82WEST12345698765432",
        "FR1420041010050500013M02606",
        "NL91ABNA0417164300",
        "CH9300762011623852957",
        "de89 3704 0044 0532 0130 00",
    ],
)
def test_known_valid_ibans_verify(iban: str) -> None:
    assert is_valid_iban(iban)


@pytest.mark.parametrize(
    "iban",
    [
        "DE88370400440532013000",  # check digits off by one
        "DE89370400440532013001",  # account number altered
        "DE89370400440523013000",  # two digits swapped
        "DE8937040044053201300",  # one digit short for Germany
        "GB82WEST1234569876543!",
        "8937040044053201300DE0",
        "",
    ],
)
def test_altered_or_malformed_ibans_do_not_verify(iban: str) -> None:
    assert not is_valid_iban(iban)


def test_new_account_number_is_a_valid_german_iban() -> None:
    iban = iban_for(532013000)

    assert iban == "DE89370400440532013000"
    assert is_valid_iban(iban)


def test_consecutive_serials_get_distinct_valid_ibans() -> None:
    ibans = [iban_for(serial) for serial in range(1, 200)]

    assert len(set(ibans)) == len(ibans)
    assert all(is_valid_iban(iban) and len(iban) == 22 for iban in ibans)
    assert ibans[0] == f"DE{ibans[0][2:4]}370400440000000001"


def test_bank_code_is_part_of_the_iban() -> None:
    assert iban_for(1, bank_code="10010010")[4:12] == "10010010"


@pytest.mark.parametrize(
    ("serial", "bank_code"),
    [(0, "37040044"), (10**10, "37040044"), (1, "3704004"), (1, "3704004X")],
)
def test_serials_and_bank_codes_that_do_not_fit_are_refused(serial: int, bank_code: str) -> None:
    with pytest.raises(ValueError):
        iban_for(serial, bank_code=bank_code)


def test_iban_prints_in_groups_of_four() -> None:
    assert format_iban("DE89370400440532013000") == "DE89 3704 0044 0532 0130 00"
    assert format_iban(" gb82 west12345698765432") == "GB82 WEST 1234 5698 7654 32"
