"""Parsing the US Treasury Consolidated (non-SDN) Sanctions List in OFAC's legacy CSV set.

Four files, no header rows, `-0-` as null, in one directory (each may be gzipped):
  * `cons_prim.csv` — one row an entry, the SDN file's twelve columns (ofac.COLUMNS);
  * `cons_alt.csv` — aliases: ent_num, alt_num, alt_type (aka / fka / nka), alt_name, remarks;
  * `cons_add.csv` — addresses: ent_num, add_num, address, city/state/postal, country, remarks;
  * `cons_comments.csv` — remarks that overflowed the primary row: ent_num, the rest of the text.
Aliases and dates in remarks are read as for the SDN list (`ofac.parse_row`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from screening.engines.entries import ParsedEntry, ParsedName
from screening.engines.listfiles import ListFileError, read_bytes
from screening.engines.ofac import OfacFileError, is_weak, parse_row

LIST_NAME = "OFAC-CONS"
FILES = ("cons_prim.csv", "cons_alt.csv", "cons_add.csv", "cons_comments.csv")
_ALT_KINDS = {"aka": "aka", "fka": "fka", "nka": "nka"}


def _null(value: str) -> str:
    value = value.strip()
    return "" if value == "-0-" else value


def _rows(text: str, name: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text))
    try:
        for row in reader:
            # The published files end with a DOS end-of-file byte (0x1A) on its own line.
            if not row or (len(row) == 1 and row[0].strip() in ("", "\x1a")):
                continue
            yield reader.line_num, row
    except csv.Error as exc:
        raise ListFileError(f"{name} line {reader.line_num}: {exc}") from None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _ent_num(value: str, name: str, line: int) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ListFileError(f"{name} line {line}: ent_num {value!r} is not a number") from None


def parse_texts(prim: str, alt: str = "", add: str = "", comments: str = "") -> list[ParsedEntry]:
    overflow: dict[int, str] = {}
    for line, row in _rows(comments, "cons_comments.csv"):
        if len(row) < 2:
            raise ListFileError(f"cons_comments.csv line {line}: expected 2 columns")
        num = _ent_num(row[0], "cons_comments.csv", line)
        overflow[num] = overflow.get(num, "") + row[1]
    entries: dict[int, ParsedEntry] = {}
    for line, row in _rows(prim, "cons_prim.csv"):
        num = _ent_num(row[0], "cons_prim.csv", line) if row else 0
        if num in overflow and len(row) == 12:
            row = [*row[:11], (_null(row[11]) + overflow[num]) or "-0-"]
        try:
            entry = parse_row(row, line)
        except OfacFileError as exc:
            raise ListFileError(f"cons_prim.csv {exc}") from None
        if entry.ent_num in entries:
            raise ListFileError(f"cons_prim.csv line {line}: entry {entry.ent_num} appears twice")
        entry.list_name = LIST_NAME
        entry.reference = str(entry.ent_num)
        entries[entry.ent_num] = entry
    if not entries:
        raise ListFileError("cons_prim.csv holds no entries")
    for line, row in _rows(alt, "cons_alt.csv"):
        if len(row) < 4:
            raise ListFileError(f"cons_alt.csv line {line}: expected 5 columns, found {len(row)}")
        alias_of = entries.get(_ent_num(row[0], "cons_alt.csv", line))
        name = _null(row[3])
        if alias_of is None or not name:
            continue  # an alias of an entry the primary file does not hold
        if any(n.name.casefold() == name.casefold() for n in alias_of.names):
            continue
        kind = _ALT_KINDS.get(_null(row[2]).lower(), "aka")
        strength = "weak" if is_weak(name, alias_of.entry_type) else "strong"
        alias_of.names.append(ParsedName(name, kind, strength))
    addresses: dict[int, list[str]] = {}
    for line, row in _rows(add, "cons_add.csv"):
        num = _ent_num(row[0], "cons_add.csv", line)
        text = ", ".join(v for v in (_null(x) for x in row[2:5]) if v)
        if num in entries and text:
            addresses.setdefault(num, []).append(text)
    for num, found in addresses.items():
        entries[num].details["Address"] = "; ".join(found)
    return list(entries.values())


def _file(directory: Path, name: str, required: bool) -> str:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.exists():
            return _decode(read_bytes(candidate))
    if required:
        raise ListFileError(f"{directory.name} holds no {name} (or {name}.gz)")
    return ""


def parse_dir(directory: Path) -> list[ParsedEntry]:
    """Every entry of the consolidated list in `directory` (or the directory of the given
    `cons_prim.csv`); ListFileError if it is not one."""
    directory = Path(directory)
    if directory.is_file():
        directory = directory.parent
    if not directory.is_dir():
        raise ListFileError(f"{directory} is not a directory holding cons_prim.csv")
    prim, alt, add, comments = (_file(directory, f, f == "cons_prim.csv") for f in FILES)
    return parse_texts(prim, alt, add, comments)
