"""Machine-readable zones of travel documents (ICAO Doc 9303, parts 4 and 5).

Two layouts: TD3 (passport, 2 lines of 44) and TD1 (identity card, 3 lines of 30). Every
field that matters carries a check digit (weights 7-3-1 repeating; `<` = 0, digits as
themselves, A-Z = 10..35); the composite digit covers the others, so a single altered
character shows up. Parsing never raises on bad check digits: it reports which failed,
because the caller decides what a failure means.
"""

from __future__ import annotations

import string
from datetime import date
from typing import Literal

import pycountry
from pydantic import BaseModel

_WEIGHTS = (7, 3, 1)
_ALLOWED = set(string.ascii_uppercase + string.digits + "<")
# States and organisations whose MRZ code is not their ISO alpha-3 (ICAO 9303-3, 5).
_NON_ISO_CODES = {"GBD": "GB", "GBN": "GB", "GBO": "GB", "GBS": "GB"}


class MrzError(ValueError):
    """The text is not an MRZ at all (wrong shape or characters); bad digits are not errors."""


class MrzResult(BaseModel):
    format: Literal["TD1", "TD3"]
    document_code: str
    issuing_state: str
    document_number: str
    nationality: str
    date_of_birth: date | None
    expiry_date: date | None
    sex: Literal["M", "F", "X"]
    surname: str
    given_names: str
    optional_data: str
    # Names of the check digits that do not match, e.g. ["document_number", "composite"].
    failed_checks: list[str]

    @property
    def valid(self) -> bool:
        return not self.failed_checks

    @property
    def nationality_alpha2(self) -> str | None:
        return country_alpha2(self.nationality)

    @property
    def issuing_state_alpha2(self) -> str | None:
        return country_alpha2(self.issuing_state)


def _value(ch: str) -> int:
    if ch == "<":
        return 0
    if ch.isdigit():
        return int(ch)
    if "A" <= ch <= "Z":
        return ord(ch) - ord("A") + 10
    raise MrzError(f"{ch!r} is not an MRZ character")


def check_digit(field: str) -> str:
    """The ICAO 9303 check digit of `field`, as a character."""
    total = sum(_value(ch) * _WEIGHTS[i % 3] for i, ch in enumerate(field))
    return str(total % 10)


def country_alpha2(code: str) -> str | None:
    """ISO alpha-2 for an MRZ state code (`DEU`, `D<<`), or None for unknown codes like `UTO`."""
    if code.strip("<") == "D":
        return "DE"
    if code in _NON_ISO_CODES:
        return _NON_ISO_CODES[code]
    country = pycountry.countries.get(alpha_3=code)
    return country.alpha_2 if country is not None else None


def _date(yymmdd: str, *, today: date, future_allowed: bool) -> date | None:
    """Resolve the century: a birth date is never in the future; an expiry is within 50 years."""
    if not yymmdd.isdigit():
        return None
    yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    try:
        recent = date(2000 + yy, mm, dd)
        if (future_allowed and recent.year <= today.year + 50) or recent <= today:
            return recent
        return date(1900 + yy, mm, dd)
    except ValueError:
        return None


def _names(field: str) -> tuple[str, str]:
    surname, _, given = field.partition("<<")
    return surname.replace("<", " ").strip(), " ".join(given.replace("<", " ").split())


def _sex(ch: str) -> Literal["M", "F", "X"]:
    return "M" if ch == "M" else "F" if ch == "F" else "X"


def _check(failed: list[str], name: str, field: str, digit: str) -> None:
    if check_digit(field) != digit:
        failed.append(name)


def parse_mrz(lines: list[str], *, today: date) -> MrzResult:
    """Parse a TD3 or TD1 MRZ; `today` resolves two-digit years. Raises MrzError if malformed."""
    lines = [line.strip().upper() for line in lines]
    for line in lines:
        if set(line) - _ALLOWED:
            raise MrzError("an MRZ has only A-Z, 0-9 and <")
    if len(lines) == 2 and all(len(line) == 44 for line in lines):
        return _parse_td3(lines, today=today)
    if len(lines) == 3 and all(len(line) == 30 for line in lines):
        return _parse_td1(lines, today=today)
    raise MrzError("an MRZ is 2 lines of 44 characters (passport) or 3 lines of 30 (ID card)")


def _parse_td3(lines: list[str], *, today: date) -> MrzResult:
    one, two = lines
    failed: list[str] = []
    _check(failed, "document_number", two[0:9], two[9])
    _check(failed, "date_of_birth", two[13:19], two[19])
    _check(failed, "expiry_date", two[21:27], two[27])
    personal = two[28:42]
    # An empty personal-number field may carry `<` instead of 0 as its digit (9303-4, 4.2.2).
    if not (personal.strip("<") == "" and two[42] == "<"):
        _check(failed, "personal_number", personal, two[42])
    _check(failed, "composite", two[0:10] + two[13:20] + two[21:43], two[43])
    surname, given = _names(one[5:44])
    return MrzResult(
        format="TD3",
        document_code=one[0:2].strip("<"),
        issuing_state=one[2:5].strip("<") or one[2:5],
        document_number=two[0:9].strip("<"),
        nationality=two[10:13].strip("<") or two[10:13],
        date_of_birth=_date(two[13:19], today=today, future_allowed=False),
        expiry_date=_date(two[21:27], today=today, future_allowed=True),
        sex=_sex(two[20]),
        surname=surname,
        given_names=given,
        optional_data=personal.strip("<"),
        failed_checks=failed,
    )


def _parse_td1(lines: list[str], *, today: date) -> MrzResult:
    one, two, three = lines
    failed: list[str] = []
    number, digit, optional = one[5:14], one[14], one[15:30]
    if digit == "<" and optional.strip("<"):
        # A number longer than 9: it continues in the optional data, its digit last (9303-5, 4.2.2).
        overflow = optional.split("<", 1)[0]
        number, digit, optional = number + overflow[:-1], overflow[-1], optional[len(overflow) :]
    _check(failed, "document_number", number, digit)
    _check(failed, "date_of_birth", two[0:6], two[6])
    _check(failed, "expiry_date", two[8:14], two[14])
    _check(failed, "composite", one[5:30] + two[0:7] + two[8:15] + two[18:29], two[29])
    surname, given = _names(three)
    return MrzResult(
        format="TD1",
        document_code=one[0:2].strip("<"),
        issuing_state=one[2:5].strip("<") or one[2:5],
        document_number=number.strip("<"),
        nationality=two[15:18].strip("<") or two[15:18],
        date_of_birth=_date(two[0:6], today=today, future_allowed=False),
        expiry_date=_date(two[8:14], today=today, future_allowed=True),
        sex=_sex(two[7]),
        surname=surname,
        given_names=given,
        optional_data=(optional + two[18:29]).strip("<"),
        failed_checks=failed,
    )


def _field(value: str, width: int) -> str:
    text = "".join(ch if ch in _ALLOWED else "<" for ch in value.upper().replace(" ", "<"))
    if len(text) > width:
        raise MrzError(f"{value!r} does not fit in {width} characters")
    return text.ljust(width, "<")


def td3_lines(
    *,
    document_number: str,
    issuing_state: str,
    nationality: str,
    surname: str,
    given_names: str,
    date_of_birth: date,
    expiry_date: date,
    sex: Literal["M", "F", "X"] = "X",
    personal_number: str = "",
) -> list[str]:
    """A passport MRZ with correct check digits (for test data and demo applicants)."""
    name = _field(f"{surname}<<{given_names}", 39)
    number, personal = _field(document_number, 9), _field(personal_number, 14)
    dob, expiry = date_of_birth.strftime("%y%m%d"), expiry_date.strftime("%y%m%d")
    body = (
        f"{number}{check_digit(number)}{_field(nationality, 3)}{dob}{check_digit(dob)}"
        f"{'<' if sex == 'X' else sex}{expiry}{check_digit(expiry)}{personal}"
        f"{check_digit(personal)}"
    )
    composite = check_digit(body[0:10] + body[13:20] + body[21:43])
    return [f"P<{_field(issuing_state, 3)}{name}", body + composite]


def td1_lines(
    *,
    document_number: str,
    issuing_state: str,
    nationality: str,
    surname: str,
    given_names: str,
    date_of_birth: date,
    expiry_date: date,
    sex: Literal["M", "F", "X"] = "X",
) -> list[str]:
    """An identity-card MRZ (document number up to 9 characters) with correct check digits."""
    number = _field(document_number, 9)
    dob, expiry = date_of_birth.strftime("%y%m%d"), expiry_date.strftime("%y%m%d")
    one = f"I<{_field(issuing_state, 3)}{number}{check_digit(number)}{'<' * 15}"
    two = (
        f"{dob}{check_digit(dob)}{'<' if sex == 'X' else sex}{expiry}{check_digit(expiry)}"
        f"{_field(nationality, 3)}{'<' * 11}"
    )
    two += check_digit(one[5:30] + two[0:7] + two[8:15] + two[18:29])
    return [one, two, _field(f"{surname}<<{given_names}", 30)]
