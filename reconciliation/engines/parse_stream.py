"""Reading a statement in a pool child (core.cpu_pool) and sending its lines back in
chunks over a pipe, so that the parse activity stores them (and its progress) while the
child reads on. Pure: no database.

Messages, in order:

    ("chunk", read, lines, sections)   `chunk` lines to store; sections read since the last
    ("end", read, lines, sections)     the rest of the lines and sections: the file is read
    ("refused", location, reason, failure)
                                       the file is refused; lines of earlier chunks stay
                                       sent, the lines since then are not. `failure` is the
                                       traceback when a parser broke rather than refused.

`read` is the line number reached. Lines travel as tuples of their fields in LINE_FIELDS
order (`line_from_row` makes them lines again): pickling 20 000 dataclasses takes about a
second, their tuples a fifth of that. Lines up to `already` (stored by an earlier attempt)
are read but not sent. The pipe's buffer is small, so the child reads at most one chunk
ahead of the activity's storing.
"""

from __future__ import annotations

import dataclasses
import operator
import traceback
from multiprocessing.connection import Connection
from typing import Any

from reconciliation.engines.csv_mapping import CsvMapping
from reconciliation.engines.lines import StatementLine, StatementRefused, StatementSection
from reconciliation.engines.parsing import read_statement

LINE_FIELDS = tuple(field.name for field in dataclasses.fields(StatementLine))
_row_of = operator.attrgetter(*LINE_FIELDS)
Row = tuple[Any, ...]


def line_from_row(row: Row) -> StatementLine:
    return StatementLine(*row)


def stream_statement(
    pipe: Connection,
    fmt: str,
    content: bytes,
    mapping: CsvMapping | None,
    already: int,
    chunk: int,
) -> None:
    """Read `content` and send its lines to `pipe` (see the module's docstring)."""
    lines: list[Row] = []
    sections: list[StatementSection] = []
    read = 0
    try:
        try:
            for item in read_statement(fmt, content, mapping):
                if isinstance(item, StatementSection):
                    sections.append(item)
                    continue
                read = item.line_no
                if item.line_no <= already:  # stored by an earlier attempt: resume after it
                    continue
                lines.append(_row_of(item))
                if len(lines) >= chunk:
                    pipe.send(("chunk", read, lines, sections))
                    lines, sections = [], []
        except StatementRefused as refusal:
            pipe.send(("refused", refusal.location, refusal.reason, None))
            return
        except Exception as exc:
            # A parser failing on a file it should have refused refuses it (the activity
            # logs the failure for us) rather than being retried for hours on the same bytes.
            reason = f"it could not be read as {fmt} ({type(exc).__name__}: {exc})"[:900]
            pipe.send(("refused", "the file", reason, traceback.format_exc()))
            return
        pipe.send(("end", read, lines, sections))
    except (BrokenPipeError, EOFError):
        return  # the activity stopped listening (cancelled, or its worker stopping)
    finally:
        pipe.close()
