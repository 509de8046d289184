"""ICAO 9303 machine-readable zones: the specimen documents verify, altered ones do not."""

from __future__ import annotations

from datetime import date

import pytest

from onboarding.engines.mrz import (
    MrzError,
    check_digit,
    country_alpha2,
    parse_mrz,
    td1_lines,
    td3_lines,
)

TODAY = date(2025, 1, 15)
TD3 = [
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
]
TD1 = [
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
]


def _replace(line: str, index: int, char: str) -> str:
    return line[:index] + char + line[index + 1 :]


def test_check_digit_follows_the_7_3_1_weights() -> None:
    assert check_digit("L898902C3") == "6"
    assert check_digit("740812") == "2"
    assert check_digit("120415") == "9"
    assert check_digit("ZE184226B<<<<<") == "1"
    assert check_digit("<<<") == "0"


def test_td3_specimen_parses_with_all_check_digits_valid() -> None:
    result = parse_mrz(TD3, today=TODAY)

    assert result.format == "TD3"
    assert result.valid
    assert result.document_code == "P"
    assert result.issuing_state == "UTO"
    assert result.document_number == "L898902C3"
    assert result.nationality == "UTO"
    assert result.date_of_birth == date(1974, 8, 12)
    assert result.expiry_date == date(2012, 4, 15)
    assert result.sex == "F"
    assert result.surname == "ERIKSSON"
    assert result.given_names == "ANNA MARIA"
    assert result.optional_data == "ZE184226B"


def test_td1_specimen_parses_with_all_check_digits_valid() -> None:
    result = parse_mrz(TD1, today=TODAY)

    assert result.format == "TD1"
    assert result.failed_checks == []
    assert result.document_number == "D23145890"
    assert result.nationality == "UTO"
    assert result.date_of_birth == date(1974, 8, 12)
    assert result.expiry_date == date(2012, 4, 15)
    assert (result.surname, result.given_names) == ("ERIKSSON", "ANNA MARIA")


@pytest.mark.parametrize(
    ("index", "char", "failed"),
    [
        (3, "0", ["document_number", "composite"]),  # document number altered
        (9, "7", ["document_number", "composite"]),  # its check digit altered
        (14, "9", ["date_of_birth", "composite"]),  # 1974 -> 1979
        (22, "3", ["expiry_date", "composite"]),  # 2012 -> 2013
        (30, "X", ["personal_number", "composite"]),  # optional data altered
        (43, "1", ["composite"]),
    ],
)
def test_altered_td3_fails_the_check_digits_it_touches(
    index: int, char: str, failed: list[str]
) -> None:
    tampered = [TD3[0], _replace(TD3[1], index, char)]
    assert tampered != TD3

    result = parse_mrz(tampered, today=TODAY)

    assert not result.valid
    assert result.failed_checks == failed


@pytest.mark.parametrize(
    ("line", "index", "char", "failed"),
    [
        (0, 6, "3", ["document_number", "composite"]),
        (1, 3, "9", ["date_of_birth", "composite"]),
        (1, 12, "5", ["expiry_date", "composite"]),
        (1, 29, "5", ["composite"]),
    ],
)
def test_altered_td1_fails_the_check_digits_it_touches(
    line: int, index: int, char: str, failed: list[str]
) -> None:
    tampered = list(TD1)
    tampered[line] = _replace(tampered[line], index, char)
    assert tampered != TD1

    assert parse_mrz(tampered, today=TODAY).failed_checks == failed


def test_empty_personal_number_may_carry_a_filler_check_digit() -> None:
    line = TD3[1][:28] + "<" * 15
    line = line + check_digit(line[0:10] + line[13:20] + line[21:43])

    assert parse_mrz([TD3[0], line], today=TODAY).valid


def test_td1_document_number_longer_than_nine_characters_continues_in_optional_data() -> None:
    number = "D23145890AB"
    one = f"I<UTO{number[:9]}<{number[9:]}{check_digit(number)}".ljust(30, "<")
    two = "7408122F1204159UTO<<<<<<<<<<<"
    two += check_digit(one[5:30] + two[0:7] + two[8:15] + two[18:29])

    result = parse_mrz([one, two, TD1[2]], today=TODAY)

    assert result.document_number == number
    assert result.valid


@pytest.mark.parametrize(
    "lines",
    [
        [TD3[0]],
        [TD3[0], TD3[1][:-1]],
        [TD1[0], TD1[1]],
        [TD3[0], TD3[1].replace("<", " ")],
    ],
)
def test_text_that_is_not_an_mrz_is_refused(lines: list[str]) -> None:
    with pytest.raises(MrzError):
        parse_mrz(lines, today=TODAY)


def test_two_digit_years_resolve_birth_to_the_past_and_expiry_to_the_next_decades() -> None:
    lines = td3_lines(
        document_number="C01X00T47",
        issuing_state="D",
        nationality="D",
        surname="Mustermann",
        given_names="Erika",
        date_of_birth=date(2005, 3, 1),
        expiry_date=date(2034, 2, 28),
        sex="F",
    )
    result = parse_mrz(lines, today=TODAY)

    assert result.date_of_birth == date(2005, 3, 1)
    assert result.expiry_date == date(2034, 2, 28)
    # Born "in 2030" is impossible: it must be 1930.
    lines[1] = lines[1][:13] + "300101" + check_digit("300101") + lines[1][20:]
    assert parse_mrz(lines, today=TODAY).date_of_birth == date(1930, 1, 1)


def test_generated_mrzs_verify_and_round_trip() -> None:
    fields = {
        "document_number": "L01X00T47",
        "issuing_state": "DEU",
        "nationality": "DEU",
        "surname": "Mustermann",
        "given_names": "Erika",
        "date_of_birth": date(1964, 8, 12),
        "expiry_date": date(2031, 10, 31),
        "sex": "F",
    }
    for lines in (td3_lines(**fields), td1_lines(**fields)):  # type: ignore[arg-type]
        result = parse_mrz(lines, today=TODAY)
        assert result.valid, result.failed_checks
        assert result.document_number == "L01X00T47"
        assert result.nationality_alpha2 == "DE"
        assert result.date_of_birth == date(1964, 8, 12)
        assert result.expiry_date == date(2031, 10, 31)


def test_state_codes_map_to_iso_alpha2_including_germany_s_d() -> None:
    assert country_alpha2("DEU") == "DE"
    assert country_alpha2("D<<") == "DE"
    assert country_alpha2("D") == "DE"
    assert country_alpha2("FRA") == "FR"
    assert country_alpha2("UTO") is None
