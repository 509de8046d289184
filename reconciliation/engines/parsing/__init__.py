"""Statement files in, StatementLine and StatementSection out, whatever the format.

    fmt = detect_format(data)                      # "camt053" | "mt940" | "csv"
    total = count_entries(fmt, data)               # for a progress bar, before reading
    for item in read_statement(fmt, data, mapping):
        ...                                        # lines, each section right after its lines

Reading streams and stops at the first problem with StatementRefused(location, reason); a
file that raises is refused as a whole, even after some lines were yielded.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from reconciliation.engines.csv_mapping import CsvMapping
from reconciliation.engines.lines import FORMATS, StatementLine, StatementRefused, StatementSection
from reconciliation.engines.parsing.camt053 import read_camt053
from reconciliation.engines.parsing.csv_format import python_encoding, read_csv
from reconciliation.engines.parsing.detect import Detected, sniff, upload_problem
from reconciliation.engines.parsing.mt940 import read_mt940

__all__ = [
    "CsvMapping",
    "Detected",
    "StatementLine",
    "StatementRefused",
    "StatementSection",
    "count_entries",
    "detect_format",
    "read_statement",
    "sniff",
    "upload_problem",
]

_BLANK_CSV = b" \t\r,;|"  # what an entirely empty row is made of


def detect_format(data: bytes) -> str:
    """Which of the formats we read the file is in, from its first bytes; refuses what none
    of them fits, naming what it looks like (an MT942, a camt.052, ...)."""
    found = sniff(data)
    if found.kind not in FORMATS or found.problem is not None:
        raise StatementRefused("line 1", found.problem or f"this looks like {found.label}")
    return found.kind


def count_entries(fmt: str, data: bytes, mapping: CsvMapping | None = None) -> int:
    """How many lines reading will give, by counting bytes (exact for well-formed files)."""
    if fmt == "camt053":
        # "<Ntry>", "</Ntry>", "<ns:Ntry>" and "</ns:Ntry>" all end so; no other element does.
        return data.count(b"Ntry>") // 2
    if fmt == "mt940":
        return data.count(b"\n:61:") + data.startswith(b":61:")
    if fmt == "csv":
        return _count_csv_rows(data, mapping)
    raise ValueError(f"unknown statement format {fmt!r}; expected one of {FORMATS}")


def read_statement(
    fmt: str, data: bytes, mapping: CsvMapping | None = None
) -> Iterator[StatementLine | StatementSection]:
    """The file's lines as they are read, each section right after its lines."""
    if fmt == "camt053":
        return read_camt053(data)
    if fmt == "mt940":
        return read_mt940(data)
    if fmt == "csv":
        if mapping is None:
            raise StatementRefused(
                "line 1", "CSV files are read with a column mapping, and this source has none yet"
            )
        return read_csv(data, mapping)
    raise ValueError(f"unknown statement format {fmt!r}; expected one of {FORMATS}")


def _count_csv_rows(data: bytes, mapping: CsvMapping | None) -> int:
    """Data rows: the lines after the header that hold more than delimiters and blanks."""
    if b'"' in data:
        # Quoted fields may hold line breaks: let the csv module find the records.
        encoding = python_encoding(mapping.encoding) if mapping else "utf-8-sig"
        text = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, errors="replace", newline="")
        reader = csv.reader(text, delimiter=mapping.delimiter if mapping else ",")
        rows = sum(1 for row in reader if any(cell.strip() for cell in row))
    else:
        rows = sum(1 for line in data.split(b"\n") if line.strip(_BLANK_CSV))
    return max(rows - 1, 0)
