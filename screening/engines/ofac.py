"""Parsing the OFAC SDN list as published in CSV (`sdn.csv`, no header row).

Columns: ent_num, SDN_Name, SDN_Type, Program, Title, Call_Sign, Vess_type, Tonnage, GRT,
Vess_flag, Vess_owner, Remarks; `-0-` is null. Aliases, dates of birth and nationalities
live inside Remarks, separated by `;`.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pycountry

from screening.engines.entries import ParsedEntry, ParsedName
from screening.engines.normalize import tokens

LIST_NAME = "OFAC-SDN"
COLUMNS = (
    "ent_num",
    "SDN_Name",
    "SDN_Type",
    "Program",
    "Title",
    "Call_Sign",
    "Vess_type",
    "Tonnage",
    "GRT",
    "Vess_flag",
    "Vess_owner",
    "Remarks",
)
ENTRY_TYPES = {"individual": "person", "vessel": "vessel", "aircraft": "aircraft", "": "entity"}

# OFAC's spellings that pycountry does not know by name.
COUNTRY_OVERRIDES = {
    "russia": "RU",
    "burma": "MM",
    "korea, north": "KP",
    "korea, south": "KR",
    "iran": "IR",
    "syria": "SY",
    "turkey": "TR",
    "palestinian": "PS",
    "possibly palestinian": "PS",
    "region: gaza": "PS",
    "west bank": "PS",
    "kosovo": "XK",
    "the gambia": "GM",
    "gambia, the": "GM",
    "north macedonia, the republic of": "MK",
    "macedonia": "MK",
    "congo, democratic republic of the": "CD",
    "congo, republic of the": "CG",
    "macau": "MO",
    "cote d ivoire": "CI",
    "cote d'ivoire": "CI",
    "brunei": "BN",
    "laos": "LA",
    "vietnam": "VN",
    "venezuela": "VE",
    "bolivia": "BO",
    "tanzania": "TZ",
    "moldova": "MD",
    "taiwan": "TW",
    "czech republic": "CZ",
    "bahamas, the": "BS",
    "micronesia, federated states of": "FM",
    "st. kitts and nevis": "KN",
}

_ALIAS = re.compile(r"\b([afn])\.k\.a\.,?\s+'(.+?)'(?=\s*(?:;|\.?\s*$))")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_DATE_FULL = re.compile(r"^(\d{1,2}) ([A-Za-z]{3})[a-z]* (\d{4})$")
_DATE_MONTH = re.compile(r"^([A-Za-z]{3})[a-z]* (\d{4})$")
_YEAR = re.compile(r"^(\d{4})$")


class OfacFileError(ValueError):
    """The file is not an OFAC SDN CSV we can read; the message says where and why."""


def country_code(name: str) -> str | None:
    """ISO 3166 alpha-2 code for a country as OFAC spells it, or None if unknown."""
    key = " ".join(name.strip().rstrip(".").split()).lower()
    if not key:
        return None
    if key in COUNTRY_OVERRIDES:
        return COUNTRY_OVERRIDES[key]
    try:
        return str(pycountry.countries.lookup(key).alpha_2)
    except LookupError:
        return None


def _null(value: str) -> str | None:
    value = value.strip()
    return None if value in ("", "-0-") else value


def _parse_date(text: str) -> tuple[date | None, list[int]]:
    """One DOB value → (full date if given, years it covers)."""
    text = text.strip().rstrip(".").strip()
    if m := _DATE_FULL.match(text):
        month = _MONTHS.get(m.group(2).lower())
        if month:
            try:
                d = date(int(m.group(3)), month, int(m.group(1)))
                return d, [d.year]
            except ValueError:
                return None, [int(m.group(3))]
    if m := _DATE_MONTH.match(text):
        return None, [int(m.group(2))]
    if m := _YEAR.match(text):
        return None, [int(m.group(1))]
    return None, []


def parse_dob(value: str) -> tuple[list[date], list[int]]:
    """`12 Jan 1960`, `Jan 1960`, `1960`, `circa 1958` (±1 year), `1955 to 1957`."""
    value = value.strip().rstrip(".").strip()
    circa = value.lower().startswith("circa ")
    if circa:
        value = value[6:]
    if " to " in value:
        start, end = value.split(" to ", 1)
        _, y1 = _parse_date(start)
        _, y2 = _parse_date(end)
        if y1 and y2 and 0 <= y2[0] - y1[0] <= 30:
            return [], list(range(y1[0], y2[0] + 1))
        return [], sorted(set(y1 + y2))
    full, years = _parse_date(value)
    if circa and years:
        return [], [years[0] - 1, years[0], years[0] + 1]
    return ([full] if full else []), years


def is_weak(alias: str, entry_type: str) -> bool:
    """The CSV drops OFAC's weak/strong flag; nicknames and short acronyms are weak."""
    meaningful = [t for t in tokens(alias, kind=entry_type) if not t.particle]
    if entry_type == "person":
        return "," not in alias and len(meaningful) <= 1
    return len(meaningful) == 1 and len(meaningful[0].canon) <= 4


@dataclass
class Remarks:
    aliases: list[ParsedName] = field(default_factory=list)
    dates: list[date] = field(default_factory=list)
    years: list[int] = field(default_factory=list)
    nationalities: list[str] = field(default_factory=list)


def parse_remarks(remarks: str | None, entry_type: str) -> Remarks:
    out = Remarks()
    aliases, dates, years, nationalities = out.aliases, out.dates, out.years, out.nationalities
    if remarks:
        for m in _ALIAS.finditer(remarks):
            alias = m.group(2).strip().strip("'").strip()
            if alias:
                kind = {"a": "aka", "f": "fka", "n": "nka"}[m.group(1)]
                weak = "weak" if is_weak(alias, entry_type) else "strong"
                aliases.append(ParsedName(alias, kind, weak))
        for part in remarks.split(";"):
            part = part.strip()
            lowered = part.lower()
            if lowered.startswith("alt. "):
                part, lowered = part[5:].strip(), lowered[5:].strip()
            if lowered.startswith("dob "):
                d, y = parse_dob(part[4:])
                dates.extend(x for x in d if x not in dates)
                years.extend(x for x in y if x not in years)
            elif lowered.startswith(("nationality ", "citizen ")):
                country = part.split(" ", 1)[1]
                code = country_code(country)
                if code and code not in nationalities:
                    nationalities.append(code)
    return out


def parse_row(row: list[str], line: int) -> ParsedEntry:
    if len(row) != len(COLUMNS):
        raise OfacFileError(f"line {line}: expected 12 columns, found {len(row)}")
    try:
        ent_num = int(row[0].strip())
    except ValueError:
        raise OfacFileError(f"line {line}: ent_num {row[0]!r} is not a number") from None
    name = _null(row[1])
    if not name:
        raise OfacFileError(f"line {line}: entry {ent_num} has no name")
    sdn_type = (_null(row[2]) or "").lower()
    if sdn_type not in ENTRY_TYPES:
        raise OfacFileError(f"line {line}: unknown SDN_Type {row[2]!r}")
    entry_type = ENTRY_TYPES[sdn_type]
    programs = [p.strip() for p in (_null(row[3]) or "").strip("[]").split("] [") if p.strip()]
    remarks = _null(row[11])
    parsed = parse_remarks(remarks, entry_type)
    details = {
        key: value
        for key, raw in zip(COLUMNS[5:11], row[5:11], strict=True)
        if (value := _null(raw) or "")
    }
    return ParsedEntry(
        ent_num=ent_num,
        entry_type=entry_type,
        primary_name=name,
        names=[ParsedName(name, "primary"), *parsed.aliases],
        programs=programs,
        birth_dates=parsed.dates,
        birth_years=sorted(parsed.years),
        nationalities=parsed.nationalities,
        title=_null(row[4]),
        remarks=remarks,
        details=details,
        list_name=LIST_NAME,
        reference=str(ent_num),
    )


def read_text(path: Path) -> bytes:
    """The file's bytes (gunzipped when it ends in .gz)."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise OfacFileError(f"{path.name} is not a valid gzip file: {exc}") from None
    return raw


def parse_bytes(data: bytes) -> list[ParsedEntry]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    entries: list[ParsedEntry] = []
    seen: set[int] = set()
    for line, row in _rows(text):
        entry = parse_row(row, line)
        if entry.ent_num in seen:
            raise OfacFileError(f"line {line}: entry {entry.ent_num} appears twice")
        seen.add(entry.ent_num)
        entries.append(entry)
    if not entries:
        raise OfacFileError("the file holds no SDN entries")
    return entries


def _rows(text: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text))
    try:
        for row in reader:
            # The published file ends with a DOS end-of-file byte (0x1A) on its own line.
            if not row or (len(row) == 1 and row[0].strip() in ("", "\x1a")):
                continue
            yield reader.line_num, row
    except csv.Error as exc:
        raise OfacFileError(f"line {reader.line_num}: {exc}") from None


def parse_file(path: Path) -> list[ParsedEntry]:
    """Every entry of an SDN CSV (or .csv.gz) file; OfacFileError if it is not one."""
    return parse_bytes(read_text(path))


_DATE_IN_NAME = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def list_date_from_name(path: Path) -> date | None:
    """`ofac_sdn_2024-05-03.csv.gz` → 2024-05-03."""
    m = _DATE_IN_NAME.search(path.name)
    if not m:
        return None
    try:
        return datetime.strptime(m.group(0), "%Y-%m-%d").date()
    except ValueError:
        return None
