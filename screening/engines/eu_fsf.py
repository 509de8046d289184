"""Parsing the EU Consolidated Financial Sanctions List (FSF XML, `xmlFullSanctionsList_1_1`).

`export generationDate=…` (namespace `http://eu.europa.ec/fpi/fsd/export`) holds one
`sanctionEntity` an entry: attributes `logicalId` (our ent_num) and `euReferenceNumber`
("EU.27.28", our reference; the logical id when empty), `unitedNationId`; children
`subjectType code="person|enterprise"`, `regulation programme=… numberTitle=…` (our
programmes), `nameAlias wholeName= firstName= middleName= lastName= strong= nameLanguage=
title=` (the first strong alias is the primary name; `strong="false"` aliases are weak),
`citizenship countryIso2Code=`, `birthdate birthdate= year= circa= city= countryIso2Code=`,
`remark`. Written from the published XSD; tested on a small fixture.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from xml.etree.ElementTree import Element

from screening.engines.entries import ParsedEntry, ParsedName, script_of
from screening.engines.listfiles import (
    ListFileError,
    add_unique,
    country,
    iso_date,
    local,
    parse_xml,
    read_bytes,
)

LIST_NAME = "EU-FSF"
_TYPES = {"person": "person", "enterprise": "entity", "vessel": "vessel", "aircraft": "aircraft"}


def _children(element: Element, name: str) -> list[Element]:
    return [child for child in element if local(child.tag) == name]


def _attr(element: Element, name: str) -> str:
    return " ".join((element.get(name) or "").split())


def _whole_name(alias: Element) -> str:
    if whole := _attr(alias, "wholeName"):
        return whole
    parts = (_attr(alias, k) for k in ("firstName", "middleName", "lastName"))
    return " ".join(p for p in parts if p)


def parse_entity(element: Element) -> ParsedEntry:
    logical_id = _attr(element, "logicalId")
    if not logical_id.isdigit():
        raise ListFileError(f"a sanctionEntity has no numeric logicalId ({logical_id!r})")
    reference = _attr(element, "euReferenceNumber") or logical_id
    subject = next(iter(_children(element, "subjectType")), None)
    code = _attr(subject, "code").lower() if subject is not None else ""
    entry_type = _TYPES.get(code, "entity")
    names: list[ParsedName] = []
    titles: list[str] = []
    for alias in _children(element, "nameAlias"):
        name = _whole_name(alias)
        add_unique(titles, _attr(alias, "title"))
        if not name or any(n.name.casefold() == name.casefold() for n in names):
            continue
        weak = _attr(alias, "strong").lower() == "false"
        names.append(ParsedName(name, "aka", "weak" if weak else "strong", script_of(name)))
    if not names:
        raise ListFileError(f"sanctionEntity {reference} has no nameAlias")
    primary = next((n for n in names if n.strength == "strong"), names[0])
    primary.kind = "primary"
    names.remove(primary)
    names.insert(0, primary)
    programmes: list[str] = []
    regulations: list[str] = []
    for regulation in _children(element, "regulation"):
        add_unique(programmes, _attr(regulation, "programme"))
        add_unique(regulations, _attr(regulation, "numberTitle"))
    nationalities: list[str] = []
    for citizenship in _children(element, "citizenship"):
        add_unique(
            nationalities,
            country(
                _attr(citizenship, "countryIso2Code") or _attr(citizenship, "countryDescription")
            ),
        )
    dates: list[date] = []
    years: list[int] = []
    places: list[str] = []
    for born in _children(element, "birthdate"):
        circa = _attr(born, "circa").lower() == "true"
        full = iso_date(_attr(born, "birthdate"))
        year = _attr(born, "year")
        if full and not circa:
            add_unique(dates, full)
            years.append(full.year)
        elif year.isdigit() or full:
            y = full.year if full else int(year)
            years.extend([y - 1, y, y + 1] if circa else [y])
        place = ", ".join(
            p
            for p in (_attr(born, "city"), _attr(born, "place"), _attr(born, "countryDescription"))
            if p
        )
        add_unique(places, place)
    details: dict[str, str] = {}
    for key, value in (
        ("Designation date", _attr(element, "designationDate")),
        ("UN reference", _attr(element, "unitedNationId")),
        ("Regulation", "; ".join(regulations)),
        ("Place of birth", "; ".join(places)),
    ):
        if value:
            details[key] = value
    remarks = [" ".join((r.text or "").split()) for r in _children(element, "remark")]
    return ParsedEntry(
        ent_num=int(logical_id),
        entry_type=entry_type,
        primary_name=primary.name,
        names=names,
        programs=programmes,
        birth_dates=sorted(dates),
        birth_years=sorted(set(years)),
        nationalities=nationalities,
        title="; ".join(titles) or None,
        remarks="; ".join(r for r in remarks if r) or None,
        details=details,
        list_name=LIST_NAME,
        reference=reference,
    )


def parse_bytes(data: bytes) -> tuple[list[ParsedEntry], date | None]:
    """Every entry of the list, and its `generationDate`."""
    root = parse_xml(data)
    if local(root.tag) != "export":
        raise ListFileError(f"the root element is <{local(root.tag)}>, not <export>")
    entries: list[ParsedEntry] = []
    seen: set[str] = set()
    for element in _children(root, "sanctionEntity"):
        entry = parse_entity(element)
        if entry.reference in seen:
            raise ListFileError(f"entry {entry.reference} appears twice")
        seen.add(entry.reference)
        entries.append(entry)
    if not entries:
        raise ListFileError("the file holds no sanctionEntity")
    return entries, iso_date(root.get("generationDate"))


def parse_file(path: Path) -> list[ParsedEntry]:
    """Every entry of an EU FSF XML file (or .xml.gz); ListFileError if not one."""
    return parse_bytes(read_bytes(path))[0]
