"""One door to every list format: which parser reads which list, and the file's own date."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from screening.engines import eu_fsf, ofac, opensanctions, uk, un, us_consolidated
from screening.engines.entries import ParsedEntry
from screening.engines.listfiles import ListFileError, date_in_name, read_bytes

# What each list's file is, for messages ("… is not a readable OFAC SDN CSV file").
FORMATS = {
    ofac.LIST_NAME: "OFAC SDN CSV",
    us_consolidated.LIST_NAME: "US consolidated (legacy CSV set)",
    un.LIST_NAME: "UN consolidated list XML",
    eu_fsf.LIST_NAME: "EU Financial Sanctions File XML",
    uk.LIST_NAME: "UK Sanctions List XML",
    opensanctions.LIST_NAME: "OpenSanctions Senzing JSONL",
}
# Formats whose files state their own date; the others need it in the file name or given.
SELF_DATED = frozenset({un.LIST_NAME, eu_fsf.LIST_NAME, uk.LIST_NAME, opensanctions.LIST_NAME})


@dataclass(frozen=True)
class ParsedList:
    list_name: str
    entries: list[ParsedEntry]
    file_date: date | None  # the date the file states (UN dateGenerated…), else None
    raw: bytes  # what the checksum is taken of (the files concatenated for a CSV set)


def _ofac(path: Path) -> ParsedList:
    raw = read_bytes(path)
    try:
        return ParsedList(ofac.LIST_NAME, ofac.parse_bytes(raw), None, raw)
    except ofac.OfacFileError as exc:
        raise ListFileError(str(exc)) from None


def _cons(path: Path) -> ParsedList:
    directory = path if path.is_dir() else path.parent
    raw = b"".join(
        read_bytes(p)
        for f in us_consolidated.FILES
        for p in (directory / f, directory / f"{f}.gz")
        if p.exists()
    )
    return ParsedList(us_consolidated.LIST_NAME, us_consolidated.parse_dir(path), None, raw)


def _xml_or_jsonl(
    list_name: str, parse: Callable[[bytes], tuple[list[ParsedEntry], date | None]]
) -> Callable[[Path], ParsedList]:
    def read(path: Path) -> ParsedList:
        raw = read_bytes(path)
        entries, file_date = parse(raw)
        return ParsedList(list_name, entries, file_date, raw)

    return read


PARSERS: dict[str, Callable[[Path], ParsedList]] = {
    ofac.LIST_NAME: _ofac,
    us_consolidated.LIST_NAME: _cons,
    un.LIST_NAME: _xml_or_jsonl(un.LIST_NAME, un.parse_bytes),
    eu_fsf.LIST_NAME: _xml_or_jsonl(eu_fsf.LIST_NAME, eu_fsf.parse_bytes),
    uk.LIST_NAME: _xml_or_jsonl(uk.LIST_NAME, uk.parse_bytes),
    opensanctions.LIST_NAME: _xml_or_jsonl(opensanctions.LIST_NAME, opensanctions.parse_bytes),
}


def parse_list(list_name: str, path: Path) -> ParsedList:
    """Every entry of `path` read as list `list_name`; ListFileError with a reason if it is
    not one, KeyError for a list no parser reads, FileNotFoundError for no file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    return PARSERS[list_name](path)


def list_date_of(parsed: ParsedList, path: Path) -> date | None:
    """The list date: the date in the file name, else the file's own date."""
    return date_in_name(path) or parsed.file_date
