"""The screening benchmark's labelled set (bench/screening_queries.py): the same seed and
lists give the same queries, other seeds and parameters give others, and every label holds."""

from __future__ import annotations

import unicodedata
from functools import cache

import pytest

from bench.screening import choose_threshold, load_lists
from bench.screening_queries import (
    EVAL,
    TUNE,
    Lists,
    build_queries,
    to_arabic,
    to_cyrillic,
    to_greek,
    to_katakana,
)
from screening.engines.entries import script_of


@cache
def lists() -> Lists:
    return Lists(load_lists())


def test_the_same_seed_and_parameters_give_the_same_queries() -> None:
    first = build_queries(lists(), TUNE, 1, positives=300, negatives=300)
    again = build_queries(Lists(load_lists()), TUNE, 1, positives=300, negatives=300)
    assert first == again


def test_the_eval_set_differs_from_the_tune_set() -> None:
    tune = build_queries(lists(), TUNE, 1, positives=300, negatives=300)
    evaluation = build_queries(lists(), EVAL, 2, positives=300, negatives=300)
    overlap = {q.name for q in tune} & {q.name for q in evaluation}
    assert len(overlap) < 60  # a few random names may coincide; the sets do not


def test_every_list_and_every_script_is_in_the_set() -> None:
    queries = build_queries(lists(), TUNE, 1, positives=1500, negatives=100)
    assert {q.list_name for q in queries if q.positive} == {
        "OFAC-SDN",
        "OFAC-CONS",
        "UN-SC",
        "PEP-OS",
    }
    scripts = {q.script for q in queries if q.positive}
    assert {"Latin", "Arabic", "Cyrillic", "Greek", "Katakana"} <= scripts


def test_a_positive_is_labelled_with_an_entry_of_its_list() -> None:
    known = lists()
    keys = {e.entry_key: e for e in known.entries}
    for q in build_queries(known, EVAL, 2, positives=800, negatives=0):
        assert q.target in keys
        assert keys[q.target].list_name == q.list_name
        assert q.target not in q.equivalent
        assert all(k in keys for k in q.equivalent)


def test_a_query_in_another_script_is_written_in_that_script() -> None:
    for q in build_queries(lists(), TUNE, 1, positives=800, negatives=0):
        if q.script == "Latin":
            continue
        written = script_of(q.name.replace("・", " "))
        expected = "Katakana" if q.script == "Katakana" else q.script
        assert written == expected, q


def test_an_original_script_query_is_the_entrys_own_name() -> None:
    known = lists()
    keys = {e.entry_key: e for e in known.entries}
    originals = [
        q
        for q in build_queries(known, TUNE, 1, positives=1500, negatives=0)
        if q.variant.startswith("script:original")
    ]
    assert originals
    for q in originals:
        assert q.list_name == "UN-SC"
        assert q.name in {n.name for n in keys[q.target].names}  # type: ignore[index]


def test_a_negative_is_not_a_listed_name() -> None:
    known = lists()
    negatives = build_queries(known, EVAL, 2, positives=0, negatives=800)
    assert {q.variant for q in negatives} == set(EVAL.negative_mix)
    for q in negatives:
        assert q.target is None and not q.equivalent
        assert not known.listed_anywhere(q.name), q


def test_zero_width_variants_carry_format_characters() -> None:
    marked = [
        q
        for q in build_queries(lists(), EVAL, 2, positives=1500, negatives=0)
        if "zero_width" in q.variant
    ]
    assert marked
    assert any(any(unicodedata.category(c) == "Cf" for c in q.name) for q in marked)


@pytest.mark.parametrize(
    ("render", "word", "expected"),
    [
        (to_cyrillic, "Deripaska", "дерипаска"),
        (to_cyrillic, "Yevgeny", "евгени"),
        (to_greek, "Usama", "ουσαμα"),
        (to_greek, "Hassan", "χασσαν"),
        (to_arabic, "bin", "بن"),
        (to_arabic, "Vladimir", "فلاديمير"),
        (to_katakana, "Usama", "ウサマ"),
        (to_katakana, "Ladin", "ラディン"),
    ],
)
def test_renderings_follow_their_tables(render: object, word: str, expected: str) -> None:
    assert render(word) == expected  # type: ignore[operator]


def test_the_default_threshold_rule_takes_the_highest_recall_at_the_precision() -> None:
    rows = [
        {"threshold": 70, "precision": 0.95, "recall": 0.99},
        {"threshold": 75, "precision": 0.99, "recall": 0.98},
        {"threshold": 80, "precision": 0.995, "recall": 0.98},
        {"threshold": 85, "precision": 1.0, "recall": 0.9},
    ]
    assert choose_threshold(rows) == 80
    assert choose_threshold(rows, 0.9) == 70
