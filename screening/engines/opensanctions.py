"""Parsing OpenSanctions data in the Senzing entity format (JSON Lines, one record a line).

A record: `RECORD_ID` (our reference; ent_num is `entries.number_for` of it), `RECORD_TYPE`
(PERSON / ORGANIZATION; records without one — the positions PEPs occupy, "United States
senator" — are not entries and are skipped), `NAMES` (`NAME_TYPE` PRIMARY / ALIAS,
`NAME_FULL` or `NAME_FIRST`/`NAME_LAST`/`NAME_ORG`), `DATES` (`DATE_OF_BIRTH`: a year or a
date), `COUNTRIES` (`NATIONALITY`, `CITIZENSHIP`: codes), `RISKS` (`TOPIC`, e.g. `role.pep`,
`sanction`: our topics), `URL`, `LAST_CHANGE` (the newest is the file's date; not part of an entry's content). OpenSanctions data is CC BY-NC 4.0: a bank
needs OpenSanctions' commercial licence to use it in production.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from screening.engines.entries import PEP, ParsedEntry, ParsedName, number_for, script_of
from screening.engines.listfiles import ListFileError, add_unique, country, iso_date, read_bytes

LIST_NAME = "PEP-OS"
_TYPES = {"PERSON": "person", "ORGANIZATION": "entity", "COMPANY": "entity", "VESSEL": "vessel"}


def _name(item: dict[str, Any]) -> str:
    if full := item.get("NAME_FULL") or item.get("NAME_ORG"):
        return " ".join(str(full).split())
    parts = [item.get(k) for k in ("NAME_FIRST", "NAME_MIDDLE", "NAME_LAST")]
    return " ".join(" ".join(str(p).split()) for p in parts if p)


def parse_record(record: dict[str, Any], line: int) -> ParsedEntry | None:
    """One entry, or None for a record that is not a person or organisation."""
    reference = str(record.get("RECORD_ID") or "").strip()
    if not reference:
        raise ListFileError(f"line {line}: the record has no RECORD_ID")
    entry_type = _TYPES.get(str(record.get("RECORD_TYPE") or "").upper())
    if entry_type is None:
        return None
    names: list[ParsedName] = []
    primary = ""
    for item in record.get("NAMES") or []:
        name = _name(item)
        if not name or any(n.name.casefold() == name.casefold() for n in names):
            continue
        is_primary = str(item.get("NAME_TYPE", "")).upper() == "PRIMARY" and not primary
        if is_primary:
            primary = name
        names.append(
            ParsedName(name, "primary" if is_primary else "aka", "strong", script_of(name))
        )
    if not names:
        raise ListFileError(f"line {line}: record {reference} has no name")
    if not primary:
        primary = names[0].name
        names[0].kind = "primary"
    names.sort(key=lambda n: n.kind != "primary")
    dates: list[date] = []
    years: list[int] = []
    details: dict[str, str] = {}
    for item in record.get("DATES") or []:
        if born := str(item.get("DATE_OF_BIRTH") or "").strip():
            if (full := iso_date(born)) and len(born) >= 10:
                dates.append(full)
                years.append(full.year)
            elif born[:4].isdigit():
                years.append(int(born[:4]))
        if died := str(item.get("DATE_OF_DEATH") or "").strip():
            details["Date of death"] = died
    nationalities: list[str] = []
    for item in record.get("COUNTRIES") or []:
        for key in ("NATIONALITY", "CITIZENSHIP"):
            add_unique(nationalities, country(str(item.get(key) or "")))
    topics: list[str] = []
    for item in record.get("RISKS") or []:
        add_unique(topics, str(item.get("TOPIC") or "").strip())
    for key, value in (
        ("Source", record.get("DATA_SOURCE")),
        ("URL", record.get("URL")),
    ):
        if value:
            details[key] = str(value)
    return ParsedEntry(
        ent_num=number_for(reference),
        entry_type=entry_type,
        primary_name=primary,
        names=names,
        programs=[str(record.get("DATA_SOURCE"))] if record.get("DATA_SOURCE") else [],
        birth_dates=sorted(set(dates)),
        birth_years=sorted(set(years)),
        nationalities=nationalities,
        details=details,
        list_name=LIST_NAME,
        reference=reference,
        topics=topics or [PEP],  # a record in a PEP dataset that names no risk topic
    )


def parse_bytes(data: bytes) -> tuple[list[ParsedEntry], date | None]:
    """Every entry, and the file's own date (its newest `LAST_CHANGE`)."""
    entries: list[ParsedEntry] = []
    seen: set[str] = set()
    newest: date | None = None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ListFileError(f"not UTF-8 text: {exc}") from None
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ListFileError(f"line {line}: not a JSON record ({exc.msg})") from None
        if not isinstance(record, dict):
            raise ListFileError(f"line {line}: not a JSON object")
        changed = iso_date(str(record.get("LAST_CHANGE") or ""))
        if changed and (newest is None or changed > newest):
            newest = changed
        entry = parse_record(record, line)
        if entry is None:
            continue
        if entry.reference in seen:
            raise ListFileError(f"line {line}: record {entry.reference} appears twice")
        seen.add(entry.reference)
        entries.append(entry)
    if not entries:
        raise ListFileError("the file holds no person or organisation records")
    return entries, newest


def parse_file(path: Path) -> list[ParsedEntry]:
    """Every entry of a Senzing JSONL file (or .jsonl.gz); ListFileError if not one."""
    return parse_bytes(read_bytes(path))[0]
