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
import re
from collections.abc import Iterator

from domain.reconciliation.csv_mapping import CsvMapping
from domain.reconciliation.lines import FORMATS, StatementLine, StatementRefused, StatementSection
from domain.reconciliation.parsing.camt053 import ISO_NAMESPACE, message_problem, read_camt053
from domain.reconciliation.parsing.csv_format import python_encoding, read_csv
from domain.reconciliation.parsing.mt940 import read_mt940

__all__ = [
    "CsvMapping",
    "StatementLine",
    "StatementRefused",
    "StatementSection",
    "count_entries",
    "detect_format",
    "read_statement",
]

_SNIFF = 64 * 1024  # how much of the start of a file decides its format
_XML_NAMESPACE = re.compile(rb"""xmlns(?::\w+)?\s*=\s*["']([^"']*)["']""")
_MT940_TAG = re.compile(rb"(?m)^:(?:20|25|28C?|60[FM]|61|62[FM]):")
_CSV_DELIMITERS = (b",", b";", b"\t", b"|")
_BLANK_CSV = b" \t\r,;|"  # what an entirely empty row is made of


def detect_format(data: bytes) -> str:
    """Which format the file is in, from its first bytes; refuses what none of them fits."""
    head = data[:_SNIFF].lstrip(b"\xef\xbb\xbf \t\r\n\x00\x01")
    if not head:
        raise StatementRefused("line 1", "the file is empty")
    if head.startswith(b"<"):
        namespaces = [ns.decode("ascii", "replace") for ns in _XML_NAMESPACE.findall(head)]
        iso = [ns for ns in namespaces if ns.startswith(ISO_NAMESPACE)]
        if not iso:
            raise StatementRefused(
                "line 1", "this XML is not an ISO 20022 document: this is not a bank statement"
            )
        problems = [message_problem(ns) for ns in iso]
        if None in problems:
            return "camt053"
        raise StatementRefused("line 1", problems[0] or "not a camt.053 statement")
    tags = {match.group(0) for match in _MT940_TAG.finditer(head)}
    if b":20:" in tags and len(tags) > 1:
        return "mt940"
    first_line = head.split(b"\n", 1)[0]
    if any(delimiter in first_line for delimiter in _CSV_DELIMITERS):
        return "csv"
    raise StatementRefused(
        "line 1",
        "this is neither a camt.053 statement (XML), an MT940 statement, nor a CSV table",
    )


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
