"""Parsing the UK Sanctions List as the FCDO publishes it in XML (`UK_Sanctions_List.xml`).

`Designations` holds `DateGenerated` and one `Designation` an entry: `UniqueID` ("RUS0251",
our reference; ent_num is `entries.number_for` of it), `OFSIGroupID`, `UNReferenceNumber`,
`RegimeName` (our programme), `IndividualEntityShip` (Individual / Entity / Ship),
`DesignationSource`, `SanctionsImposed`, `DateDesignated`, `LastUpdated`, `OtherInformation`,
`Names/Name` (`Name1`…`Name5` given names, `Name6` the family or organisation name,
`NameType` "Primary Name" / "Alias", `AliasStrength` — low-quality aliases are weak names),
`NonLatinNames/NonLatinName/NameNonLatinScript` (kept as names with their script),
`IndividualDetails/Individual/DOBs/DOB` (dd/mm/yyyy, "00" for an unknown day or month) and
`…/Nationalities/Nationality`. Written from the published layout; tested on a small fixture.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from xml.etree.ElementTree import Element

from screening.engines.entries import ParsedEntry, ParsedName, number_for, script_of
from screening.engines.listfiles import (
    ListFileError,
    add_unique,
    country,
    iso_date,
    local,
    parse_xml,
    read_bytes,
)

LIST_NAME = "UK-SL"
_TYPES = {"individual": "person", "entity": "entity", "ship": "vessel"}
_REGIME = re.compile(r"\s*(\(Sanctions\))?\s*(\(EU Exit\))?\s*Regulations\s+\d{4}$")
_DOB = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def _strip(element: Element) -> Element:
    """The tree with namespaces dropped from its tags (the FCDO file has none; be tolerant)."""
    for node in element.iter():
        node.tag = local(node.tag)
    return element


def _text(element: Element, path: str) -> str:
    return " ".join((element.findtext(path) or "").split())


def _dob(text: str) -> tuple[date | None, int | None]:
    m = _DOB.match(text.strip())
    if not m:
        return None, int(text[-4:]) if text[-4:].isdigit() else None
    day, month, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if day and month:
        try:
            return date(year, month, day), year
        except ValueError:
            return None, year
    return None, year


def _regime(name: str) -> str:
    """ "The Russia (Sanctions) (EU Exit) Regulations 2019" → "Russia" (the programme)."""
    short = _REGIME.sub("", name.removeprefix("The ")).strip()
    return (short or name)[:60]


def parse_designation(element: Element) -> ParsedEntry:
    reference = _text(element, "UniqueID")
    if not reference:
        raise ListFileError("a Designation has no UniqueID")
    kind = _text(element, "IndividualEntityShip").lower()
    entry_type = _TYPES.get(kind, "entity")
    names: list[ParsedName] = []
    primary: ParsedName | None = None
    for item in element.findall("Names/Name"):
        given = [
            p for tag in ("Name1", "Name2", "Name3", "Name4", "Name5") if (p := _text(item, tag))
        ]
        family = _text(item, "Name6")
        name = " ".join([*given, family]) if given else family
        if not name or any(n.name.casefold() == name.casefold() for n in names):
            continue
        # "Good quality" / "Low quality": kept as the UN's words, good / low.
        quality = _text(item, "AliasStrength").lower().removesuffix(" quality").strip() or None
        strength = "weak" if quality == "low" else "strong"
        parsed = ParsedName(name, "aka", strength, script_of(name), quality)
        if primary is None and _text(item, "NameType").lower().startswith("primary"):
            parsed.kind = "primary"
            primary = parsed
        names.append(parsed)
    for item in element.findall("NonLatinNames/NonLatinName"):
        name = _text(item, "NameNonLatinScript")
        if name and not any(n.name.casefold() == name.casefold() for n in names):
            names.append(ParsedName(name, "aka", "strong", script_of(name)))
    if not names:
        raise ListFileError(f"designation {reference} has no name")
    if primary is None:
        primary = names[0]
        primary.kind = "primary"
    names.remove(primary)
    names.insert(0, primary)
    dates: list[date] = []
    years: list[int] = []
    for value in element.findall("IndividualDetails/Individual/DOBs/DOB"):
        full, year = _dob(value.text or "")
        if full:
            add_unique(dates, full)
        if year and year not in years:
            years.append(year)
    nationalities: list[str] = []
    for value in element.findall("IndividualDetails/Individual/Nationalities/Nationality"):
        add_unique(nationalities, country(value.text))
    details: dict[str, str] = {}
    for key, tag in (
        ("Designation source", "DesignationSource"),
        ("Sanctions imposed", "SanctionsImposed"),
        ("Date designated", "DateDesignated"),
        ("OFSI group", "OFSIGroupID"),
        ("UN reference", "UNReferenceNumber"),
    ):
        if text := _text(element, tag):
            details[key] = text
    regime = _regime(_text(element, "RegimeName"))
    return ParsedEntry(
        ent_num=number_for(f"{LIST_NAME}:{reference}"),
        entry_type=entry_type,
        primary_name=primary.name,
        names=names,
        programs=[regime] if regime else [],
        birth_dates=sorted(dates),
        birth_years=sorted(years),
        nationalities=nationalities,
        remarks=_text(element, "OtherInformation") or None,
        details=details,
        list_name=LIST_NAME,
        reference=reference,
    )


def parse_bytes(data: bytes) -> tuple[list[ParsedEntry], date | None]:
    """Every designation, and the date the file was generated (`DateGenerated`)."""
    root = _strip(parse_xml(data))
    if root.tag != "Designations":
        raise ListFileError(f"the root element is <{root.tag}>, not <Designations>")
    entries: list[ParsedEntry] = []
    seen: set[str] = set()
    for element in root.findall("Designation"):
        entry = parse_designation(element)
        if entry.reference in seen:
            raise ListFileError(f"designation {entry.reference} appears twice")
        seen.add(entry.reference)
        entries.append(entry)
    if not entries:
        raise ListFileError("the file holds no Designation")
    return entries, iso_date(_text(root, "DateGenerated") or root.get("DateGenerated"))


def parse_file(path: Path) -> list[ParsedEntry]:
    """Every designation of a UK Sanctions List XML file (or .xml.gz); ListFileError if not."""
    return parse_bytes(read_bytes(path))[0]
