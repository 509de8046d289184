"""The matching engine: each pass, each ambiguity rule, fees, tolerance, determinism, and a
generated statement whose every line comes back with the outcome it was made for."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from demo.statement_samples import CSV_MAPPING, generate, to_camt053, to_csv, to_mt940
from reconciliation.engines.lines import StatementLine, StatementSection, scaled
from reconciliation.engines.matching import MatchResult, MatchSettings, lines_frame, match
from reconciliation.engines.parsing import read_statement
from reconciliation.policy import ReconciliationPolicy, parse_fees

FEES = parse_fees("0.20, 0.35, 1.50, 1.4%")
SETTINGS = MatchSettings(
    date_window_days=3, fees=FEES, batch_channels=frozenset({"card"}), batch_max_records=50
)


def lines(*rows: tuple[int, str, str, str | None]) -> pd.DataFrame:
    """(line_no, booked_on, signed amount, reference)"""
    return pd.DataFrame(
        {
            "line_no": np.array([r[0] for r in rows], np.int64),
            "booked_on": pd.to_datetime([r[1] for r in rows]),
            "amount": np.array([scaled(Decimal(r[2])) for r in rows], np.int64),
            "reference": pd.array([r[3] for r in rows], dtype=object),
        }
    )


def records(*rows: tuple[str, str, str] | tuple[str, str, str, str]) -> pd.DataFrame:
    """(record_id, booked_on, signed amount[, channel]); external_id is EXT-<record_id>."""
    return pd.DataFrame(
        {
            "record_id": [r[0] for r in rows],
            "external_id": [f"EXT-{r[0]}" for r in rows],
            "booked_on": pd.to_datetime([r[1] for r in rows]),
            "amount": np.array([scaled(Decimal(r[2])) for r in rows], np.int64),
            "channel": [r[3] if len(r) > 3 else "sepa" for r in rows],  # type: ignore[misc]
        }
    )


def outcome(result: MatchResult) -> dict[int, tuple[str, tuple[str, ...]]]:
    """line_no -> (pass or break kind, its records: matched, or the break's own/candidates)."""
    out: dict[int, tuple[str, tuple[str, ...]]] = {}
    passes = dict(zip(result.matches["match_no"], result.matches["pass_name"], strict=True))
    recs = result.match_records.groupby("match_no")["record_id"].apply(tuple).to_dict()
    for match_no, line_no in zip(
        result.match_lines["match_no"], result.match_lines["line_no"], strict=True
    ):
        out[int(line_no)] = (str(passes[match_no]), recs.get(match_no, ()))
    for b in result.breaks:
        for line_no in b.line_nos:
            out[line_no] = (b.kind, b.record_ids or b.candidate_record_ids)
    return out


def run(ls: pd.DataFrame, rs: pd.DataFrame, **changes: Any) -> MatchResult:
    settings = MatchSettings(**{**SETTINGS.__dict__, **changes})
    return match(ls, rs, settings)


# -- pass 1: reference ----------------------------------------------------------------------


def test_same_reference_and_amount_is_a_reference_match() -> None:
    result = run(
        lines((1, "2026-11-05", "120.00", "EXT-a")), records(("a", "2026-11-01", "120.00"))
    )
    assert outcome(result) == {1: ("reference", ("a",))}
    row = result.matches.iloc[0]
    assert (row.line_count, row.record_count, row.days_apart) == (1, 1, 4)
    assert row.lines_amount == row.records_amount == scaled(Decimal("120.00"))
    assert result.pass_counts["reference"] == 1
    assert len(result.unmatched_record_ids) == 0


def test_same_reference_other_amount_is_a_mismatch_holding_both() -> None:
    result = run(
        lines((1, "2026-11-02", "130.00", "EXT-a"), (2, "2026-11-02", "120.00", None)),
        records(("a", "2026-11-02", "120.00")),
    )
    # Line 2 has the record's amount and date, but the record is held by the mismatch.
    assert outcome(result) == {1: ("amount_mismatch", ("a",)), 2: ("unmatched_line", ())}
    mismatch = result.breaks[0]
    assert mismatch.difference == scaled(Decimal("10.00"))
    assert mismatch.amount == scaled(Decimal("130.00"))
    assert mismatch.booked_on == date(2026, 11, 2)
    assert len(result.unmatched_record_ids) == 0


def test_same_reference_net_of_a_known_fee_is_a_fee_match() -> None:
    result = run(
        lines((1, "2026-11-02", "98.50", "EXT-a"), (2, "2026-11-02", "-101.50", "EXT-b")),
        records(("a", "2026-11-02", "100.00"), ("b", "2026-11-02", "-100.00")),
    )
    assert outcome(result) == {1: ("fee", ("a",)), 2: ("fee", ("b",))}
    assert result.pass_counts["fee"] == 2


def test_lines_sharing_a_reference_that_add_up_are_a_split() -> None:
    result = run(
        lines(
            (1, "2026-11-02", "60.00", "EXT-a"),
            (2, "2026-11-03", "25.50", "EXT-a"),
            (3, "2026-11-03", "14.50", "EXT-a"),
        ),
        records(("a", "2026-11-02", "100.00")),
    )
    assert outcome(result) == {n: ("split", ("a",)) for n in (1, 2, 3)}
    assert list(result.matches["line_count"]) == [3]
    assert result.pass_counts["split"] == 3


def test_lines_sharing_a_reference_that_do_not_add_up_are_one_mismatch() -> None:
    result = run(
        lines((1, "2026-11-02", "60.00", "EXT-a"), (2, "2026-11-02", "30.00", "EXT-a")),
        records(("a", "2026-11-02", "100.00")),
    )
    assert len(result.breaks) == 1
    (brk,) = result.breaks
    assert (brk.kind, brk.line_nos, brk.record_ids) == ("amount_mismatch", (1, 2), ("a",))
    assert brk.difference == scaled(Decimal("-10.00"))
    assert len(result.matches) == 0


# -- fees -----------------------------------------------------------------------------------


def test_a_credit_arrives_net_of_the_fee_and_a_debit_leaves_with_it_on_top() -> None:
    result = run(
        lines(
            (1, "2026-11-03", "98.50", None),  # +100.00 less 1.50
            (2, "2026-11-03", "-201.50", None),  # -200.00 and 1.50 on top
            (3, "2026-11-03", "-298.50", None),  # -300.00 *less* 1.50: not how fees work
        ),
        records(
            ("a", "2026-11-02", "100.00"),
            ("b", "2026-11-02", "-200.00"),
            ("c", "2026-11-02", "-300.00"),
        ),
    )
    assert outcome(result) == {
        1: ("fee", ("a",)),
        2: ("fee", ("b",)),
        3: ("unmatched_line", ()),
    }
    assert list(result.unmatched_record_ids) == ["c"]


def test_a_percentage_fee_is_rounded_half_even_to_the_cent() -> None:
    pct = parse_fees("1.4%")
    # 1.4 % of 7.50 is 0.105 -> 0.10; of 2.50 it is 0.035 -> 0.04; of -125.00 it is 1.75.
    result = run(
        lines(
            (1, "2026-11-02", "7.40", None),
            (2, "2026-11-02", "2.46", None),
            (3, "2026-11-02", "-126.75", None),
            (4, "2026-11-02", "17.25", None),  # 17.50 less 0.25 (0.245 rounded half up)
        ),
        records(
            ("a", "2026-11-02", "7.50"),
            ("b", "2026-11-02", "2.50"),
            ("c", "2026-11-02", "-125.00"),
            ("d", "2026-11-02", "17.50"),  # 1.4 % of 17.50 is 0.245 -> 0.24, not 0.25
        ),
        fees=pct,
    )
    assert outcome(result) == {
        1: ("fee", ("a",)),
        2: ("fee", ("b",)),
        3: ("fee", ("c",)),
        4: ("unmatched_line", ()),
    }


def test_a_line_that_is_the_record_less_a_fee_for_two_records_is_ambiguous() -> None:
    result = run(
        lines((1, "2026-11-03", "99.80", None)),  # 100.00 less 0.20, or 100.15 less 0.35
        records(("a", "2026-11-02", "100.00"), ("b", "2026-11-02", "100.15")),
    )
    assert outcome(result) == {1: ("ambiguous", ("a", "b"))}
    assert len(result.unmatched_record_ids) == 0


# -- pass 2: batch --------------------------------------------------------------------------

CARD_DAY = (
    ("c1", "2026-11-02", "12.30", "card"),
    ("c2", "2026-11-02", "45.00", "card"),
    ("c3", "2026-11-02", "42.70", "card"),
)  # 100.00 in all


def test_a_line_of_a_days_card_records_settles_them_as_one_batch() -> None:
    result = run(lines((1, "2026-11-03", "100.00", "SETTLE-1102")), records(*CARD_DAY))
    assert outcome(result) == {1: ("batch", ("c1", "c2", "c3"))}
    row = result.matches.iloc[0]
    assert (row.line_count, row.record_count, row.days_apart) == (1, 3, 1)
    assert result.pass_counts["batch"] == 1


@pytest.mark.parametrize(
    "settled", ["98.60", "98.50"], ids=["less 1.4 % of the total", "less a fixed fee"]
)
def test_a_batch_may_arrive_net_of_a_known_fee(settled: str) -> None:
    result = run(lines((1, "2026-11-02", settled, None)), records(*CARD_DAY))
    assert outcome(result) == {1: ("batch", ("c1", "c2", "c3"))}


@pytest.mark.parametrize("booked", ["2026-11-01", "2026-11-06"], ids=["before", "too late"])
def test_a_batch_line_is_booked_on_the_day_or_within_the_window_after(booked: str) -> None:
    result = run(lines((1, booked, "100.00", None)), records(*CARD_DAY))
    assert outcome(result)[1][0] == "unmatched_line"


def test_a_group_larger_than_the_batch_limit_is_not_a_batch() -> None:
    result = run(lines((1, "2026-11-03", "100.00", None)), records(*CARD_DAY), batch_max_records=2)
    assert outcome(result)[1][0] == "unmatched_line"


def test_two_lines_for_one_batch_are_ambiguous() -> None:
    result = run(
        lines((1, "2026-11-02", "100.00", None), (2, "2026-11-03", "100.00", None)),
        records(*CARD_DAY),
    )
    (brk,) = result.breaks
    assert (brk.kind, brk.line_nos, brk.candidate_record_ids) == (
        "ambiguous",
        (1, 2),
        ("c1", "c2", "c3"),
    )
    assert len(result.matches) == 0
    assert list(result.ambiguous_record_ids) == ["c1", "c2", "c3"]


def test_card_records_matched_by_reference_leave_the_days_batch() -> None:
    result = run(
        lines((1, "2026-11-02", "45.00", "EXT-c2"), (2, "2026-11-03", "55.00", None)),
        records(*CARD_DAY),
    )
    assert outcome(result) == {1: ("reference", ("c2",)), 2: ("batch", ("c1", "c3"))}


# -- pass 3: amount and date ----------------------------------------------------------------


def test_same_amount_within_the_window_is_an_amount_date_match() -> None:
    result = run(
        lines((1, "2026-11-05", "310.25", "EXT-garbled"), (2, "2026-11-09", "77.00", None)),
        records(("a", "2026-11-02", "310.25"), ("b", "2026-11-02", "77.00")),
    )
    assert outcome(result) == {1: ("amount_date", ("a",)), 2: ("unmatched_line", ())}
    assert list(result.unmatched_record_ids) == ["b"]


def test_two_records_of_the_same_amount_and_day_are_ambiguous_never_guessed() -> None:
    result = run(
        lines((1, "2026-11-03", "50.00", None)),
        records(("a", "2026-11-02", "50.00"), ("b", "2026-11-02", "50.00")),
    )
    (brk,) = result.breaks
    assert (brk.kind, brk.line_nos, brk.record_ids) == ("ambiguous", (1,), ())
    assert brk.candidate_record_ids == ("a", "b")
    assert len(result.matches) == 0
    # Both are the break's candidates, not unmatched records of their own.
    assert len(result.unmatched_record_ids) == 0
    assert list(result.ambiguous_record_ids) == ["a", "b"]


def test_two_lines_for_one_record_are_ambiguous() -> None:
    result = run(
        lines((1, "2026-11-02", "50.00", None), (2, "2026-11-04", "50.00", None)),
        records(("a", "2026-11-02", "50.00")),
    )
    (brk,) = result.breaks
    assert (brk.kind, brk.line_nos, brk.candidate_record_ids) == ("ambiguous", (1, 2), ("a",))
    assert brk.amount == scaled(Decimal("100.00"))


def test_a_chain_of_candidates_is_one_ambiguous_component() -> None:
    # Line 1 may be a or b, line 2 may be b or c: one component, one break, nothing guessed.
    result = run(
        lines((1, "2026-11-02", "50.00", None), (2, "2026-11-08", "50.00", None)),
        records(
            ("a", "2026-10-30", "50.00"), ("b", "2026-11-05", "50.00"), ("c", "2026-11-11", "50.00")
        ),
    )
    (brk,) = result.breaks
    assert brk.line_nos == (1, 2)
    assert brk.candidate_record_ids == ("a", "b", "c")


def test_an_ambiguous_break_lists_at_most_max_candidates_but_holds_them_all() -> None:
    many = [(f"r{i:02d}", "2026-11-02", "50.00") for i in range(15)]
    result = run(lines((1, "2026-11-02", "50.00", None)), records(*many), max_candidates=10)
    (brk,) = result.breaks
    assert brk.candidate_record_ids == tuple(f"r{i:02d}" for i in range(10))
    assert len(result.ambiguous_record_ids) == 15
    assert len(result.unmatched_record_ids) == 0


# -- tolerance ------------------------------------------------------------------------------


def test_a_tolerance_counts_small_differences_as_the_same_amount() -> None:
    cent = scaled(Decimal("0.01"))
    result = run(
        lines(
            (1, "2026-11-02", "100.01", "EXT-a"),  # reference, 0.01 off
            (2, "2026-11-02", "100.02", "EXT-b"),  # reference, 0.02 off
            (3, "2026-11-03", "49.99", None),  # amount and date, 0.01 off
        ),
        records(
            ("a", "2026-11-02", "100.00"),
            ("b", "2026-11-02", "100.00"),
            ("c", "2026-11-02", "50.00"),
        ),
        tolerance=cent,
    )
    assert outcome(result) == {
        1: ("reference", ("a",)),
        2: ("amount_mismatch", ("b",)),
        3: ("amount_date", ("c",)),
    }


def test_within_a_tolerance_two_candidates_are_still_ambiguous() -> None:
    result = run(
        lines((1, "2026-11-02", "50.00", None)),
        records(("a", "2026-11-02", "50.01"), ("b", "2026-11-02", "49.99")),
        tolerance=scaled(Decimal("0.01")),
    )
    assert outcome(result) == {1: ("ambiguous", ("a", "b"))}


def test_without_a_tolerance_a_cent_is_a_difference() -> None:
    result = run(lines((1, "2026-11-02", "50.01", None)), records(("a", "2026-11-02", "50.00")))
    assert outcome(result) == {1: ("unmatched_line", ())}


# -- the result as a whole ------------------------------------------------------------------


def test_matches_are_numbered_by_pass_then_by_first_line() -> None:
    result = run(
        lines(
            (1, "2026-11-03", "77.70", None),  # amount_date
            (2, "2026-11-03", "100.00", None),  # batch
            (3, "2026-11-02", "10.00", "EXT-a"),  # reference
            (4, "2026-11-02", "19.80", None),  # fee
            (5, "2026-11-02", "20.00", "EXT-b"),  # reference
        ),
        records(
            *CARD_DAY,
            ("a", "2026-11-02", "10.00"),
            ("b", "2026-11-02", "20.00"),
            ("x", "2026-11-02", "77.70"),
            ("y", "2026-11-02", "20.00"),
        ),
    )
    assert list(result.matches["match_no"]) == [1, 2, 3, 4, 5]
    assert list(result.matches["pass_name"]) == ["reference", "reference", "batch", "amount_date", "fee"]  # fmt: skip
    assert list(result.match_lines["line_no"]) == [3, 5, 2, 1, 4]


def test_the_result_does_not_depend_on_the_order_of_the_rows() -> None:
    sample = generate(3_000, seed=5)
    ls, rs = lines_frame(sample.lines), sample.records_frame()
    first = match(ls, rs, SETTINGS)
    rng = np.random.default_rng(1)
    again = match(
        ls.iloc[rng.permutation(len(ls))].reset_index(drop=True),
        rs.iloc[rng.permutation(len(rs))].reset_index(drop=True),
        SETTINGS,
    )
    pd.testing.assert_frame_equal(first.matches, again.matches)
    pd.testing.assert_frame_equal(first.match_lines, again.match_lines)
    pd.testing.assert_frame_equal(first.match_records, again.match_records)
    assert first.breaks == again.breaks
    assert list(first.unmatched_record_ids) == list(again.unmatched_record_ids)


def test_a_generated_statement_comes_back_exactly_as_labelled() -> None:
    sample = generate(20_000, seed=11)
    settings = MatchSettings(fees=FEES, batch_channels=frozenset({"card"}))
    result = match(lines_frame(sample.lines), sample.records_frame(), settings)
    got = outcome(result)
    labels = {n: label for n, label in enumerate(sample.labels, start=1)}
    assert {n: got[n][0] for n in labels} == labels
    assert result.pass_counts == sample.expected.pass_counts
    assert result.break_counts() == {k: v for k, v in sample.expected.breaks.items() if v}
    assert list(result.unmatched_record_ids) == sample.unmatched_record_ids
    assert list(result.ambiguous_record_ids) == sample.ambiguous_record_ids
    # Every line and every record at most once.
    assert result.match_lines["line_no"].is_unique
    assert result.match_records["record_id"].is_unique
    assert set(result.match_records["record_id"]).isdisjoint(sample.unmatched_record_ids)


@pytest.mark.parametrize("fmt", ["csv", "camt053", "mt940"])
def test_a_generated_statement_reads_back_line_for_line_in_every_format(fmt: str) -> None:
    sample = generate(1_000, seed=4)
    iban = "DE89370400440532013000"
    writers = {
        "csv": lambda: to_csv(sample),
        "camt053": lambda: to_camt053(sample, iban),
        "mt940": lambda: to_mt940(sample, iban),
    }
    items = list(read_statement(fmt, writers[fmt](), CSV_MAPPING))
    read = [x for x in items if isinstance(x, StatementLine)]
    (section,) = [x for x in items if isinstance(x, StatementSection)]

    def fields(x: StatementLine) -> tuple[Any, ...]:
        return (x.line_no, x.booked_on, x.value_date, x.amount, x.reference, x.bank_reference,
                x.counterparty_name, x.description)  # fmt: skip

    assert [fields(x) for x in read] == [fields(x) for x in sample.lines]
    assert section.entries_sum == sample.closing_balance - sample.opening_balance
    if fmt != "csv":  # CSV carries no balances
        assert (section.opening_balance, section.closing_balance) == (
            sample.opening_balance,
            sample.closing_balance,
        )
        assert (section.period_from, section.period_to) == (sample.period_from, sample.period_to)


def test_settings_follow_the_policy_and_the_source() -> None:
    policy = ReconciliationPolicy(date_window_days=5, amount_tolerance_minor=2, known_fees="0.35")
    source = SimpleNamespace(batch_channels=["card"])
    settings = MatchSettings.from_policy(policy, source)  # type: ignore[arg-type]
    assert settings.tolerance == scaled(Decimal("0.02"))
    assert settings.date_window_days == 5
    assert settings.fees == tuple(parse_fees("0.35"))
    assert settings.batch_channels == frozenset({"card"})


def test_parsed_lines_become_the_engines_columns() -> None:
    line = StatementLine(
        7,
        0,
        date(2026, 11, 2),
        None,
        Decimal("-12.34567"),
        "EUR",
        None,
        "B1",
        None,
        None,
        None,
        "x",
    )
    frame = lines_frame([line])
    assert frame["line_no"].tolist() == [7]
    assert frame["amount"].tolist() == [-1_234_567]
    assert frame["booked_on"].tolist() == [pd.Timestamp("2026-11-02")]
    assert frame["reference"].isna().all()
