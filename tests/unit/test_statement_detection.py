"""What an uploaded file looks like, judged before anything is stored: every statement sample
we hold (the repository's and the shared reference copy), the files the product generates,
and the neighbours people upload by mistake (MT942, camt.052/054, other ISO messages)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from demo import statement_samples as sample_files
from reconciliation.engines.csv_mapping import CARD_PROCESSOR_SETTLEMENT
from reconciliation.engines.parsing import sniff, upload_problem

SAMPLES = Path(__file__).parents[2] / "data" / "statements"
# The shared reference data the repository's samples were copied from (absent in a clone).
SHARED = Path(os.environ.get("SHARED_STATEMENTS", "/work/shared/data/statements"))
KIND_OF_FOLDER = {"camt053": "camt053", "mt940": "mt940"}


def _files(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".md")


@pytest.mark.parametrize("path", _files(SAMPLES), ids=lambda p: str(p.relative_to(SAMPLES)))
def test_every_repository_sample_is_detected_as_the_format_of_its_folder(path: Path) -> None:
    found = sniff(path.read_bytes())
    assert found.kind == KIND_OF_FOLDER[path.parent.name]
    assert upload_problem(found, "Bank", found.kind) is None


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared reference data is not here")
def test_every_shared_reference_sample_is_detected_as_the_format_of_its_folder() -> None:
    kinds = {str(p.relative_to(SHARED)): sniff(p.read_bytes()).kind for p in _files(SHARED)}
    assert kinds, "no samples in the shared data"
    assert kinds == {name: KIND_OF_FOLDER[name.split("/")[0]] for name in kinds}


@pytest.mark.parametrize("fmt", ["camt053", "mt940", "csv"])
def test_the_files_the_product_generates_are_detected_as_their_format(fmt: str) -> None:
    sample = sample_files.generate(200, seed=7, currency="EUR", start=date(2020, 1, 6))
    data = sample_files.statement_file(
        fmt, sample, account="DE89370400440532013000", mapping=CARD_PROCESSOR_SETTLEMENT
    )
    assert sniff(data).kind == fmt


MT942 = (
    b":20:INTRADAY\n:25:NL91ABNA0417164300\n:28C:1/1\n:34F:EURD0,42\n:13D:2403011200+0100\n"
    b":61:2403010301C10,00NTRFNONREF\n:86:x\n:90C:1EUR10,00\n"
)


def _iso(message: str) -> bytes:
    minimal = (SAMPLES / "camt053" / "camt053.v2.minimal.xml").read_bytes()
    return minimal.replace(b"camt.053.001.02", message.encode())


def test_mt942_is_refused_as_such_even_by_an_mt940_source() -> None:
    found = sniff(MT942)
    assert found.kind == "mt942"
    assert upload_problem(found, "ABN AMRO EUR", "mt940") == (
        "This looks like MT942: MT942 is an intraday report; upload the end-of-day MT940."
    )
    assert upload_problem(found, "Deutsche Bank camt", "camt053") == (
        "This looks like MT942 (an intraday report); Deutsche Bank camt expects ISO 20022 camt.053."
    )


def test_camt_sent_to_an_mt940_source_names_both_formats() -> None:
    found = sniff((SAMPLES / "camt053" / "camt053.v8.xml").read_bytes())
    assert upload_problem(found, "ABN AMRO EUR", "mt940") == (
        "This looks like camt.053; ABN AMRO EUR expects SWIFT MT940."
    )


def test_mt940_sent_to_a_csv_source_names_both_formats() -> None:
    found = sniff((SAMPLES / "mt940" / "jejik_ing.sta").read_bytes())
    assert upload_problem(found, "Card processor", "csv") == (
        "This looks like MT940; Card processor expects CSV."
    )


@pytest.mark.parametrize(
    ("message", "kind", "said"),
    [
        (
            "camt.052.001.08",
            "camt052",
            "This looks like camt.052: camt.052 is an intraday report; upload the end-of-day "
            "camt.053 statement.",
        ),
        (
            "camt.054.001.08",
            "camt054",
            "This looks like camt.054 (a debit/credit notification); Bank expects "
            "ISO 20022 camt.053.",
        ),
        (
            "pain.001.001.09",
            "iso20022",
            "This looks like pain.001; Bank expects ISO 20022 camt.053.",
        ),
    ],
)
def test_iso_neighbours_of_camt053_are_named(message: str, kind: str, said: str) -> None:
    found = sniff(_iso(message))
    assert found.kind == kind
    assert upload_problem(found, "Bank", "camt053") == said


def test_a_camt053_version_we_do_not_read_is_left_to_the_reader_to_refuse() -> None:
    found = sniff(_iso("camt.053.001.01"))
    assert found.kind == "camt053" and found.problem is not None
    assert upload_problem(found, "Bank", "camt053") is None


@pytest.mark.parametrize("data", [b"just some words\n", b"\x89PNG\r\n\x1a\n\x00\x00", b""])
def test_what_cannot_be_told_is_left_to_the_reader(data: bytes) -> None:
    found = sniff(data)
    assert not found.known
    assert upload_problem(found, "Bank", "mt940") is None


def test_csv_whose_first_line_has_delimiters_is_csv() -> None:
    assert sniff(b"Date;Amount;Reference\n2024-03-01;10,00;A\n").kind == "csv"
