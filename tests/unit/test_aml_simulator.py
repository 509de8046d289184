"""The labelled AML book (demo.aml_simulator) and the benchmark's scoring (bench.aml_detection)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from aml.commands.transaction_rows import parse_row
from bench.aml_detection import Detection, Labels, api_row, evaluate, naive_threshold, scaled
from customers.legacy_rows import parse_row as parse_customer
from demo import aml_simulator as sim

END = date(2026, 11, 30)


def small(name: str) -> sim.Params:
    return replace(sim.PARAMS[name], customers=600, days=45)


def test_same_seed_and_params_give_identical_files(tmp_path: Path) -> None:
    first = sim.write(sim.generate(small("tune"), 1, END), tmp_path / "a")
    second = sim.write(sim.generate(small("tune"), 1, END), tmp_path / "b")
    assert first == second
    for name in ("customers.csv", "transactions.csv", "labels.csv", "patterns.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    other = sim.generate(small("tune"), 2, END)
    assert [r.cells() for r in other.rows[:50]] != [
        r.cells() for r in sim.generate(small("tune"), 1, END).rows[:50]
    ]


@pytest.mark.parametrize(("name", "seed"), [("tune", 1), ("eval", 2)])
def test_labels_match_the_planted_transfers(name: str, seed: int) -> None:
    book = sim.generate(small(name), seed, END)
    by_index = {c.index: c for c in book.customers}
    # Every typology is planted, and the labels are exactly the patterns' members.
    assert {p.typology for p in book.patterns} == set(sim.TYPOLOGIES)
    members: dict[str, set[str]] = {}
    for p in book.patterns:
        for i in p.accounts:
            members.setdefault(by_index[i].iban, set()).add(p.typology)
    assert {c.iban: c.typologies for c in book.customers if c.typologies} == members
    assert 0 < len(book.laundering()) / len(book.customers) < 0.25
    # Every planted transfer is in the transactions file on at least one side, the other
    # account named by IBAN, printed IBAN or bank code + account number.
    ibans = {c.iban for c in book.customers}

    def ours(reference: str) -> str | None:
        compact = reference.replace(" ", "").upper()
        if compact in ibans:
            return compact
        if reference.startswith(sim.BANK_CODE + " "):
            serial = int(reference.split()[1])
            return next((i for i in ibans if int(i[12:]) == serial), None)
        return None

    legs = {(r.iban, r.direction, ours(r.cp_account), r.amount) for r in book.rows}
    for p in book.patterns:
        assert p.edges and len(p.edges) == p.transfers
        for src, dst, amount, _ in p.edges:
            a, b = by_index[src].iban, by_index[dst].iban
            assert (a, "out", b, amount) in legs or (b, "in", a, amount) in legs, (p, a, b)
    # Both legs, only the out leg and only the in leg all occur among internal transfers.
    internal = [r for r in book.rows if ours(r.cp_account)]
    assert {r.direction for r in internal} == {"in", "out"}
    assert any(r.cp_account.startswith(sim.BANK_CODE + " ") for r in internal)
    assert any(" " in r.cp_account and r.cp_account[:2] == "DE" for r in internal)
    # Booked in order, before the end, and every row passes the importers' row checks.
    assert [r.booked_at for r in book.rows] == sorted(r.booked_at for r in book.rows)
    assert book.rows[-1].booked_at < datetime(2026, 11, 30, tzinfo=UTC)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    header = sim.TRANSACTION_COLUMNS
    for k, r in enumerate(book.rows[:: max(1, len(book.rows) // 3000)]):
        _, errors = parse_row(api_row(dict(zip(header, r.cells(), strict=True))), k, now)
        assert errors == {}, r
    for row in sim.customer_rows(book):
        parse_customer(dict(zip(sim.CUSTOMER_COLUMNS, row, strict=True)), now)


def test_the_two_parameter_sets_differ_in_size_amounts_windows_and_lengths() -> None:
    tune, eval_ = sim.PARAMS["tune"], sim.PARAMS["eval"]
    assert tune.customers != eval_.customers and tune.days != eval_.days
    for kind in sim.TYPOLOGIES:
        a, b = tune.typologies[kind], eval_.typologies[kind]
        assert (a.size, a.amount_eur, a.window_days) != (b.size, b.amount_eur, b.window_days)
    smaller = scaled(tune, 0.25)
    assert smaller.customers == 1000 and all(t.count >= 1 for t in smaller.typologies.values())


def test_scoring_counts_accounts_and_matches_the_naive_share() -> None:
    labels = Labels(
        accounts=[f"A{i}" for i in range(10)],
        typologies={f"A{i}": ({"cycle"} if i < 3 else {"fan_in"} if i < 5 else set())
                    for i in range(10)},
    )  # fmt: skip
    detection = Detection(
        by_detector={"network/round_trip": {"A0", "A1", "A7"}, "large_transaction": {"A3"}},
        senders={"A3": 9, "A4": 7, "A8": 7, "A9": 6, "A0": 1},
    )
    result = evaluate(labels, detection)
    assert result["overall"]["flagged"] == 4 and result["overall"]["true_positives"] == 3
    assert result["overall"]["recall"] == 0.6 and result["overall"]["precision"] == 0.75
    assert result["typologies"]["cycle"]["recall"] == round(2 / 3, 4)
    assert result["typologies"]["cycle"]["detector_precision"] == round(2 / 3, 4)
    assert result["typologies"]["fan_in"]["recall"] == 0.5
    assert result["typologies"]["fan_in"]["detector_precision"] is None  # no network fan-in
    assert result["families"]["network"]["precision"] == round(2 / 3, 4)
    assert result["families"]["builtin"]["recall"] == 0.2
    # Four accounts flagged by the rules, so ">= 6 senders" (four accounts) is the baseline;
    # when ties would overshoot the share, the threshold goes one higher.
    assert result["naive"]["min_distinct_senders"] == 6 and result["naive"]["flagged"] == 4
    assert result["naive"]["true_positives"] == 2
    assert naive_threshold({"a": 5, "b": 5, "c": 1}, 1) == 6
