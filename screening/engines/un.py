"""Parsing the UN Security Council Consolidated List (the official XML, `sc-sanctions.xsd`).

`CONSOLIDATED_LIST dateGenerated=…` holds `INDIVIDUALS/INDIVIDUAL` and `ENTITIES/ENTITY`.
Each has `DATAID` (our ent_num), `REFERENCE_NUMBER` ("QDi.001", the list's reference),
`UN_LIST_TYPE` (the sanctions regime: our programme), the name in parts
`FIRST_NAME`…`FOURTH_NAME`, `NAME_ORIGINAL_SCRIPT` (Arabic, Cyrillic… kept as a name with
its script), aliases with a `QUALITY` (individuals: Good / Low — low-quality aliases are
weak names, as the UN asks; entities: a.k.a. / f.k.a.), dates of birth (exact date, year,
approximately a year, between two years), nationalities and the narrative `COMMENTS1`.
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
    parse_xml,
    read_bytes,
)

LIST_NAME = "UN-SC"
_NAME_PARTS = ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME")
_ENTITY_ALIAS_KINDS = {"a.k.a.": "aka", "f.k.a.": "fka", "n.k.a.": "nka"}


def _text(element: Element, path: str) -> str:
    return " ".join((element.findtext(path) or "").split())


def _values(element: Element, path: str) -> list[str]:
    out: list[str] = []
    for value in element.findall(path):
        add_unique(out, " ".join((value.text or "").split()))
    return out


def _dates_of_birth(element: Element) -> tuple[list[date], list[int]]:
    dates: list[date] = []
    years: list[int] = []
    for dob in element.findall("INDIVIDUAL_DATE_OF_BIRTH"):
        kind = _text(dob, "TYPE_OF_DATE").upper()
        if full := iso_date(_text(dob, "DATE")):
            dates.append(full)
            years.append(full.year)
        elif (year := _text(dob, "YEAR")).isdigit():
            y = int(year)
            years.extend([y - 1, y, y + 1] if kind == "APPROXIMATELY" else [y])
        elif (
            (start := _text(dob, "FROM_YEAR")).isdigit()
            and (end := _text(dob, "TO_YEAR")).isdigit()
            and 0 <= int(end) - int(start) <= 30
        ):
            years.extend(range(int(start), int(end) + 1))
    return sorted(set(dates)), sorted(set(years))


def _place_of_birth(element: Element) -> str:
    places = []
    for pob in element.findall("INDIVIDUAL_PLACE_OF_BIRTH"):
        parts = [_text(pob, tag) for tag in ("CITY", "STATE_PROVINCE", "COUNTRY")]
        if text := ", ".join(p for p in parts if p):
            places.append(text)
    return "; ".join(places)


def _names(element: Element, individual: bool) -> tuple[str, list[ParsedName]]:
    primary = " ".join(p for tag in _NAME_PARTS if (p := _text(element, tag)))
    names = [ParsedName(primary, "primary")]
    seen = {primary.casefold()}
    original = _text(element, "NAME_ORIGINAL_SCRIPT")
    if original and original.casefold() not in seen:
        seen.add(original.casefold())
        names.append(ParsedName(original, "aka", "strong", script_of(original)))
    alias_tag = "INDIVIDUAL_ALIAS" if individual else "ENTITY_ALIAS"
    for alias in element.findall(alias_tag):
        name = _text(alias, "ALIAS_NAME")
        if not name or name.casefold() in seen:
            continue
        seen.add(name.casefold())
        quality = _text(alias, "QUALITY")
        if individual:
            weak = quality.lower() == "low"
            names.append(
                ParsedName(
                    name,
                    "aka",
                    "weak" if weak else "strong",
                    script_of(name),
                    quality.lower() or None,
                )
            )
        else:
            kind = _ENTITY_ALIAS_KINDS.get(quality.lower(), "aka")
            names.append(ParsedName(name, kind, "strong", script_of(name)))
    return primary, names


def parse_element(element: Element, individual: bool) -> ParsedEntry:
    data_id = _text(element, "DATAID")
    reference = _text(element, "REFERENCE_NUMBER")
    if not data_id.isdigit():
        raise ListFileError(f"an entry ({reference or 'no reference'}) has no DATAID number")
    if not reference:
        raise ListFileError(f"entry DATAID {data_id} has no REFERENCE_NUMBER")
    primary, names = _names(element, individual)
    if not primary:
        raise ListFileError(f"entry {reference} has no name")
    dates, years = _dates_of_birth(element) if individual else ([], [])
    nationalities: list[str] = []
    for value in _values(element, "NATIONALITY/VALUE"):
        add_unique(nationalities, country(value))
    details: dict[str, str] = {}
    for key, value in (
        ("Listed on", _text(element, "LISTED_ON")),
        ("Gender", _text(element, "GENDER")),
        ("Designation", "; ".join(_values(element, "DESIGNATION/VALUE"))),
        ("Place of birth", _place_of_birth(element) if individual else ""),
        ("Nationality", "; ".join(_values(element, "NATIONALITY/VALUE"))),
    ):
        if value:
            details[key] = value
    titles = _values(element, "TITLE/VALUE")
    programme = _text(element, "UN_LIST_TYPE")
    return ParsedEntry(
        ent_num=int(data_id),
        entry_type="person" if individual else "entity",
        primary_name=primary,
        names=names,
        programs=[programme] if programme else [],
        birth_dates=dates,
        birth_years=years,
        nationalities=nationalities,
        title="; ".join(titles) or None,
        remarks=_text(element, "COMMENTS1") or None,
        details=details,
        list_name=LIST_NAME,
        reference=reference,
    )


def parse_bytes(data: bytes) -> tuple[list[ParsedEntry], date | None]:
    """Every entry of the list, and the date it was generated (its `dateGenerated`)."""
    root = parse_xml(data)
    if root.tag != "CONSOLIDATED_LIST":
        raise ListFileError(f"the root element is <{root.tag}>, not <CONSOLIDATED_LIST>")
    entries: list[ParsedEntry] = []
    seen: set[str] = set()
    for path, individual in (("INDIVIDUALS/INDIVIDUAL", True), ("ENTITIES/ENTITY", False)):
        for element in root.findall(path):
            entry = parse_element(element, individual)
            if entry.reference in seen:
                raise ListFileError(f"entry {entry.reference} appears twice")
            seen.add(entry.reference)
            entries.append(entry)
    if not entries:
        raise ListFileError("the file holds no individuals or entities")
    return entries, iso_date(root.get("dateGenerated"))


def parse_file(path: Path) -> list[ParsedEntry]:
    """Every entry of a UN consolidated list XML (or .xml.gz); ListFileError if not one."""
    return parse_bytes(read_bytes(path))[0]
