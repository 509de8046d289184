"""Account numbers as IBANs (ISO 13616): check digits by ISO 7064 mod 97-10.

New accounts use the German layout, DEkk + 8-digit bank code (BLZ) + 10-digit account
number; the account number is the serial the database hands out, zero-padded.
"""

from __future__ import annotations

import string

# IBAN length per country (SWIFT IBAN registry) for the countries customers pay from most.
# A country not listed is checked by the general rule (15-34 characters) and mod 97 only.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23, "GR": 27,
    "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27,
}  # fmt: skip
_ALNUM = set(string.ascii_uppercase + string.digits)


def compact_iban(value: str) -> str:
    """An IBAN (or account number) without spaces, upper case: the form to compare."""
    return "".join(value.split()).upper()


def _mod97(text: str) -> int:
    """The IBAN as a number (letters A=10..Z=35, country and check digits moved to the end) mod 97."""
    rearranged = text[4:] + text[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97


def check_digits(country: str, bban: str) -> str:
    return f"{98 - _mod97(f'{country}00{bban}'):02d}"


def iban_for(serial: int, *, country: str = "DE", bank_code: str = "37040044") -> str:
    """The IBAN of account number `serial` at `bank_code`."""
    if not 0 < serial < 10**10:
        raise ValueError(f"account serial {serial} does not fit in 10 digits")
    country = country.upper()
    if country == "DE" and not (len(bank_code) == 8 and bank_code.isdigit()):
        raise ValueError(f"a German bank code has 8 digits, not {bank_code!r}")
    bban = f"{bank_code.upper()}{serial:010d}"
    iban = f"{country}{check_digits(country, bban)}{bban}"
    if not is_valid_iban(iban):
        raise ValueError(f"{country} IBANs are not {len(iban)} characters long")
    return iban


def is_valid_iban(value: str) -> bool:
    iban = compact_iban(value)
    if not 15 <= len(iban) <= 34 or set(iban) - _ALNUM:
        return False
    if not (iban[:2].isalpha() and iban[2:4].isdigit()):
        return False
    if IBAN_LENGTHS.get(iban[:2], len(iban)) != len(iban):
        return False
    return _mod97(iban) == 1


def format_iban(value: str) -> str:
    """Print form: groups of four, e.g. `DE89 3704 0044 0532 0130 00`."""
    iban = compact_iban(value)
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
