"""What a pool child reading a statement sends back (reconciliation/engines/parse_stream.py),
run here in-process over a real pipe."""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

import pytest

from demo.statement_samples import CSV_MAPPING, generate, to_csv
from reconciliation.engines import parse_stream
from reconciliation.engines.lines import StatementLine
from reconciliation.engines.parse_stream import line_from_row, stream_statement
from reconciliation.engines.parsing import read_statement


def read_lines(content: bytes) -> list[StatementLine]:
    items = read_statement("csv", content, CSV_MAPPING)
    return [item for item in items if isinstance(item, StatementLine)]


def messages(content: bytes, *, already: int = 0, chunk: int = 80) -> list[Any]:
    receiver, sender = multiprocessing.Pipe(duplex=False)
    got: list[Any] = []

    def read() -> None:
        while True:
            try:
                got.append(receiver.recv())
            except EOFError:
                return

    reader = threading.Thread(target=read)
    reader.start()
    stream_statement(sender, "csv", content, CSV_MAPPING, already, chunk)
    reader.join()
    return got


def test_lines_come_in_chunks_then_the_rest_with_the_sections() -> None:
    content = to_csv(generate(200, seed=5))
    sent = messages(content)
    assert [(m[0], m[1], len(m[2])) for m in sent] == [
        ("chunk", 80, 80),
        ("chunk", 160, 80),
        ("end", 200, 40),
    ]
    lines = [line_from_row(row) for m in sent for row in m[2]]
    assert lines == read_lines(content)  # what reading in-process gives
    assert [len(m[3]) for m in sent] == [0, 0, 1]  # a CSV file is one section, at its end


def test_lines_stored_by_an_earlier_attempt_are_read_but_not_sent() -> None:
    content = to_csv(generate(200, seed=5))
    sent = messages(content, already=150)
    assert [(m[0], m[1]) for m in sent] == [("end", 200)]
    assert [line_from_row(row) for row in sent[0][2]] == read_lines(content)[150:]


def test_a_refusal_is_sent_with_where_and_why() -> None:
    sent = messages(b"booked,amount\n2026-01-01,1\n")
    assert len(sent) == 1
    kind, location, reason, failure = sent[0]
    assert (kind, location, failure) == ("refused", "line 1", None)
    assert "the header has no column" in reason


def test_a_parser_that_breaks_refuses_the_file_and_sends_its_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: object) -> Any:
        raise KeyError("surprise")

    monkeypatch.setattr(parse_stream, "read_statement", broken)
    (sent,) = messages(b"whatever")
    kind, location, reason, failure = sent
    assert (kind, location) == ("refused", "the file")
    assert reason == "it could not be read as csv (KeyError: 'surprise')"
    assert "Traceback" in failure and "surprise" in failure
