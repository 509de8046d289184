"""A legacy book's customers file, row by row: the columns, the checks on each row, and the
file as a stream of staging rows (good or refused) for `customers.legacy_import` to COPY.

Checks that need other rows or the database run there, in SQL."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

import pycountry

from models.money import MINOR_UNITS
from shared.iban import IBAN_LENGTHS, check_digits, format_iban, iban_for

COLUMNS = (
    "legacy_ref",
    "kind",
    "name",
    "segment",
    "country",
    "email",
    "risk_level",
    "iban",
    "currency",
    "opened_at",
)
OPTIONAL_COLUMNS = ("risk_score", "account_status", "tariff_plan")
KINDS = ("individual", "business")
SEGMENTS = ("retail", "business", "private")
RISK_LEVELS = ("low", "medium", "high")
ACCOUNT_STATUSES = ("active", "closed")
COUNTRIES = frozenset(c.alpha_2 for c in pycountry.countries) | {"XK"}  # Kosovo: user-assigned
# The IBANs this back office issues to new accounts (country + bank code): a legacy IBAN
# in that range would collide with an account onboarding opens later.
_OWN_IBAN = iban_for(1)
OWN_RANGE = (_OWN_IBAN[:2], _OWN_IBAN[4:12])


class ImportFileError(Exception):
    """The file cannot be read at all (missing, not UTF-8 CSV, required columns absent)."""


class Rejected(Exception):
    """One row refused: `kind` is what the report's counts group by, `detail` says why."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind, self.detail = kind, detail


# ----------------------------------------------------------------------------- one row
def _text(row: dict[str, str], column: str, limit: int, *, required: bool = True) -> str:
    value = " ".join(row.get(column, "").split())
    if required and not value:
        raise Rejected(f"missing {column}", f"{column} is empty")
    if len(value) > limit:
        raise Rejected(f"{column} too long", f"{column} is longer than {limit} characters")
    return value


def _choice(row: dict[str, str], column: str, allowed: tuple[str, ...]) -> str:
    value = row.get(column, "").strip().lower()
    if value not in allowed:
        shown = repr(value) if value else "empty"
        raise Rejected(f"bad {column}", f"{column} is {shown}; expected {' or '.join(allowed)}")
    return value


def iban_problem(iban: str) -> str | None:
    """Why `iban` (compact, upper case) is not a valid IBAN, or None."""
    if not 15 <= len(iban) <= 34 or not (iban.isascii() and iban.isalnum()):
        return "is not 15 to 34 letters and digits"
    if not (iban[:2].isalpha() and iban[2:4].isdigit()):
        return "does not start with a country code and two check digits"
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return f"has {len(iban)} characters; {iban[:2]} IBANs have {expected}"
    right = check_digits(iban[:2], iban[4:])
    if iban[2:4] != right:
        return f"has check digits {iban[2:4]}; they should be {right}"
    return None


def _opened_at(raw: str, now: datetime) -> datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        if len(raw) == 10:
            value = datetime.combine(date.fromisoformat(raw), datetime.min.time(), UTC)
        else:
            value = datetime.fromisoformat(raw)
    except ValueError:
        raise Rejected(
            "bad opened_at", f"opened_at {raw!r} is not a date (YYYY-MM-DD or ISO 8601)"
        ) from None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    if value > now:
        raise Rejected("bad opened_at", f"opened_at {raw} is in the future")
    return value


def parse_row(row: dict[str, str], now: datetime) -> tuple[Any, ...]:
    """The staging fields of one good row; raises Rejected naming the first bad field."""
    legacy_ref = _text(row, "legacy_ref", 100)
    kind = _choice(row, "kind", KINDS)
    name = _text(row, "name", 200)
    segment = _choice(row, "segment", SEGMENTS)
    country = row.get("country", "").strip().upper()
    if country not in COUNTRIES:
        raise Rejected("bad country", f"country {country!r} is not an ISO 3166 alpha-2 code")
    email = _text(row, "email", 200, required=False) or None
    if email is not None and (email.count("@") != 1 or " " in email or "." not in email):
        raise Rejected("bad email", f"email {email!r} is not an email address")
    risk_level = _choice(row, "risk_level", RISK_LEVELS)
    score = row.get("risk_score", "").strip()
    if score and not (score.isdigit() and int(score) <= 100):
        raise Rejected("bad risk_score", f"risk_score {score!r} is not a whole number 0-100")
    iban = "".join(row.get("iban", "").split()).upper()
    if not iban:
        raise Rejected("missing iban", "iban is empty")
    if problem := iban_problem(iban):
        raise Rejected("bad IBAN", f"IBAN {format_iban(iban)} {problem}")
    if (iban[:2], iban[4:12]) == OWN_RANGE:
        raise Rejected(
            "IBAN in our own range",
            f"IBAN {format_iban(iban)} is in the range this back office issues to new "
            "accounts and would collide with one of them",
        )
    currency = row.get("currency", "").strip().upper()
    if currency not in MINOR_UNITS:
        raise Rejected("unknown currency", f"currency {currency!r} is not one we hold")
    opened_at = _opened_at(row.get("opened_at", ""), now)
    status = row.get("account_status", "").strip().lower() or "active"
    if status not in ACCOUNT_STATUSES:
        raise Rejected("bad account_status", f"account_status {status!r} is not active or closed")
    plan = row.get("tariff_plan", "").strip() or None
    score_value = int(score) if score else 0
    return (legacy_ref, kind, name, segment, country, email, risk_level, score_value,
            iban, currency, opened_at, status, plan)  # fmt: skip


# ----------------------------------------------------------------------------- the file
def open_csv(path: Path) -> TextIO:
    try:
        return path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise ImportFileError(f"No file at {path}") from None
    except OSError as exc:
        raise ImportFileError(f"Cannot read {path}: {exc.strerror}") from None


def _header(reader: Any) -> list[str]:
    return [h.strip().lower() for h in next(reader, [])]


def scan(path: Path) -> tuple[int, str]:
    """The file's data-row count and SHA-256; refuses a file that is not a readable CSV
    with every required column (before anything is written)."""
    with open_csv(path) as handle:
        reader = csv.reader(handle)
        try:
            header = _header(reader)
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                found = ", ".join(h for h in header if h) or "nothing"
                raise ImportFileError(
                    f"{path.name} lacks the required column(s) {', '.join(missing)} "
                    f"(its header row has {found})"
                )
            rows = sum(1 for values in reader if values)
        except UnicodeDecodeError as exc:
            raise ImportFileError(f"{path.name} is not UTF-8 text ({exc.reason})") from None
        except csv.Error as exc:
            raise ImportFileError(
                f"{path.name} is not a readable CSV file (line {reader.line_num}: {exc})"
            ) from None
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        for block in iter(lambda: raw.read(1 << 20), b""):
            digest.update(block)
    return rows, digest.hexdigest()


_NOTHING = (None,) * 13


def staged_rows(handle: TextIO, now: datetime) -> Iterator[tuple[Any, ...]]:
    """Each data row as a staging row: line, legacy_ref as written, parsed fields or
    nothing, and the rejection (kind, reason) or nothing."""
    reader = csv.reader(handle)
    header = _header(reader)
    ref_at = header.index("legacy_ref")
    for values in reader:
        if not values:
            continue
        line = reader.line_num
        raw_ref = values[ref_at].strip()[:100] if ref_at < len(values) else ""
        if len(values) != len(header):
            reason = f"has {len(values)} fields; the header has {len(header)}"
            yield (line, raw_ref, *_NOTHING, "wrong number of fields", reason)
            continue
        try:
            fields = parse_row(dict(zip(header, values, strict=True)), now)
        except Rejected as rejected:
            yield (line, raw_ref, *_NOTHING, rejected.kind, rejected.detail)
        else:
            yield (line, raw_ref, *fields, None, None)
