"""Each network typology on tiny graphs: found when the pattern is there, not when it is not."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from aml.engines.monitoring_data import Txn
from aml.engines.network import Flow, FlowGraph, Pattern, find_patterns, funnel
from aml.network_policy import NetworkPolicy, Typology, typologies

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
A = {name: uuid.UUID(int=i + 1) for i, name in enumerate("ABCDEFGHIJKLMNOP")}
CUSTOMER = {a: uuid.UUID(int=1000 + i) for i, a in enumerate(A.values())}
_serial = iter(range(1, 10_000))


def flow(src: str, dst: str, amount: float, hours: float) -> Flow:
    n = next(_serial)
    txn = Txn(
        id=uuid.UUID(int=50_000 + n),
        external_id=f"x{n:05d}",
        account_id=A[src],
        customer_id=CUSTOMER[A[src]],
        booked_at=T0 + timedelta(hours=hours),
        amount=Decimal(str(amount)),
        currency="EUR",
        direction="out",
        channel="sepa",
    )
    return Flow(txn, A[src], A[dst], CUSTOMER[A[src]], CUSTOMER[A[dst]])


def setting(name: str, **changes: object) -> Typology:
    """The typology's settings with no amount floor unless given, and `changes`."""
    values: dict[str, object] = {f"{name}_min_amount_eur": 0}
    values.update({f"{name}_{k}": v for k, v in changes.items()})
    return next(t for t in typologies(NetworkPolicy(**values)) if t.name == name)


def judge(
    flows: list[Flow],
    t: Typology,
    triggers: list[Flow] | None = None,
    business: tuple[str, ...] = (),
) -> list[Pattern]:
    graph = FlowGraph(flows, [A[b] for b in business])
    return find_patterns(graph, triggers or flows, [t])


def names(accounts: list[uuid.UUID]) -> str:
    back = {v: k for k, v in A.items()}
    return "".join(back[a] for a in accounts)


def test_a_four_account_round_trip_is_found_once_by_the_leg_that_closes_it() -> None:
    legs = [
        flow("A", "B", 4200, 0),
        flow("B", "C", 4150, 20),
        flow("C", "D", 4100, 40),
        flow("D", "A", 4050, 60),
    ]
    found = judge(legs, setting("round_trip", min_accounts=3))
    assert len(found) == 1
    assert found[0].trigger is legs[-1]
    assert names(found[0].accounts) == "ABCD"
    assert [f.txn.id for f in found[0].flows] == [f.txn.id for f in legs]
    assert found[0].closes


def test_a_round_trip_out_of_booked_order_or_outside_the_tolerance_is_not_one() -> None:
    backwards = [flow("B", "C", 4000, 0), flow("A", "B", 4000, 10), flow("C", "A", 4000, 20)]
    assert judge(backwards, setting("round_trip", min_accounts=3)) == []
    shrinking = [flow("A", "B", 4000, 0), flow("B", "C", 2000, 10), flow("C", "A", 1900, 20)]
    assert judge(shrinking, setting("round_trip", min_accounts=3, tolerance_percent=20)) == []
    slow = [flow("A", "B", 4000, 0), flow("B", "C", 4000, 24 * 20), flow("C", "A", 4000, 24 * 40)]
    assert judge(slow, setting("round_trip", min_accounts=3, window_days=30)) == []


def test_a_payback_between_two_friends_counts_only_when_two_account_cycles_are_asked_for() -> None:
    legs = [flow("A", "B", 60, 0), flow("B", "A", 60, 30)]
    assert judge(legs, setting("round_trip", min_accounts=3)) == []
    assert len(judge(legs, setting("round_trip", min_accounts=2))) == 1
    assert judge(legs, setting("round_trip", min_accounts=2, min_amount_eur=500)) == []


def test_money_passed_back_and_forth_twice_is_a_round_trip_of_two_accounts() -> None:
    legs = [flow("A", "B", 5000, 0), flow("B", "A", 4900, 30), flow("A", "B", 4800, 60)]
    found = judge(legs, setting("round_trip", min_accounts=3))
    assert len(found) == 1
    assert names(found[0].accounts) == "AB"
    assert len(found[0].flows) == 3
    assert found[0].trigger is legs[-1]
    assert judge(legs, setting("round_trip", min_accounts=3, ping_pong=False)) == []


def test_fan_out_counts_distinct_receivers_in_the_window() -> None:
    legs = [flow("A", r, 1000, k * 5) for k, r in enumerate("BCDEF")]
    found = judge(legs, setting("fan_out", min_accounts=5, window_days=10))
    assert len(found) == 1
    assert names(found[0].accounts) == "ABCDEF"
    assert found[0].trigger is legs[-1]
    spread = [flow("A", r, 1000, k * 24 * 4) for k, r in enumerate("BCDEF")]
    assert judge(spread, setting("fan_out", min_accounts=5, window_days=10)) == []


def test_a_business_paying_its_staff_needs_many_times_the_accounts() -> None:
    payroll = [flow("A", r, 2600, k) for k, r in enumerate("BCDEFGHIJK")]
    t = setting("fan_out", min_accounts=5, window_days=10)
    assert judge(payroll, t, business=("A",)) == []
    assert len(judge(payroll, t)) == 6  # a private person: raised at 5, again as each joins
    assert names(judge(payroll, t)[-1].accounts) == "ABCDEFGHIJK"


def test_fan_in_has_long_windows_and_no_floor() -> None:
    legs = [flow(s, "A", 35, k * 24 * 25) for k, s in enumerate("BCDE")]
    found = judge(legs, setting("fan_in", min_accounts=4, window_days=120, min_amount_eur=0))
    assert len(found) == 1
    assert names(found[0].accounts) == "BCDEA"
    assert judge(legs, setting("fan_in", min_accounts=4, window_days=60)) == []
    assert judge(legs, setting("fan_in", min_accounts=4, min_amount_eur=100)) == []


def test_the_slow_fan_in_three_senders_paying_again_and_again_over_months() -> None:
    legs = [
        flow(s, "A", 300 + 170 * k + 40 * i, 24 * (k * 30 + i))
        for k in range(3)
        for i, s in enumerate("BCD")
    ]
    found = judge(legs, setting("fan_in", min_accounts=5, window_days=120, min_repeat_senders=3))
    assert found
    assert names(found[0].accounts) == "BCDA"
    assert judge(legs, setting("fan_in", min_accounts=5, min_repeat_senders=0)) == []
    business = judge(legs, setting("fan_in", min_repeat_senders=3), business=("A",))
    assert business == []


def test_flatmates_paying_the_same_rent_share_every_month_are_standing_orders() -> None:
    rent = [flow(s, "A", 450, 24 * (k * 30 + i)) for k in range(3) for i, s in enumerate("BCD")]
    assert judge(rent, setting("fan_in", min_accounts=5, min_repeat_senders=3)) == []
    # a salary moving by 2 % a month is one too; at 0 % only identical amounts are
    pay = [flow("B", "A", 2600 * (1 + 0.02 * k), 24 * 30 * k) for k in range(3)]
    pay += [flow(s, "A", 300 + 170 * k, 24 * (k * 30 + 1)) for k in range(3) for s in "CD"]
    assert judge(pay, setting("fan_in", min_accounts=5, min_repeat_senders=3)) == []
    loose = setting("fan_in", min_accounts=5, min_repeat_senders=3, standing_order_percent=0)
    assert judge(pay, loose)


def test_scatter_gather_one_sender_many_intermediaries_one_receiver() -> None:
    legs = [flow("A", m, 3000, k) for k, m in enumerate("BCD")]
    legs += [flow(m, "E", 2950, 30 + k) for k, m in enumerate("BCD")]
    found = judge(legs, setting("scatter_gather", min_accounts=3))
    assert len(found) == 1
    assert names(found[0].accounts) == "ABCDE"
    assert found[0].trigger is legs[-1]
    assert judge(legs[:-1], setting("scatter_gather", min_accounts=3)) == []


def test_gather_scatter_many_in_then_many_out_of_a_hub() -> None:
    legs = [flow(s, "H", 2000, k) for k, s in enumerate("ABC")]
    legs += [flow("H", d, 1900, 20 + k) for k, d in enumerate("DEF")]
    found = judge(legs, setting("gather_scatter", min_accounts=3))
    assert len(found) == 1
    assert names(found[0].accounts) == "ABCHDEF"
    # the hub paying out first and gathering later is not the pattern
    late = [flow("H", d, 1900, k) for k, d in enumerate("DEF")]
    late += [flow(s, "H", 2000, 20 + k) for k, s in enumerate("ABC")]
    assert judge(late, setting("gather_scatter", min_accounts=3)) == []


def test_bipartite_senders_each_paying_several_receivers() -> None:
    legs = [flow(s, r, 1500, i) for i, (s, r) in enumerate(
        (s, r) for s in "ABC" for r in "DEF")]  # fmt: skip
    found = judge(legs, setting("bipartite", min_accounts=3))
    assert len(found) == 1
    assert set(names(found[0].accounts)) == set("ABCDEF")
    star = [flow(s, "D", 1500, i) for i, s in enumerate("ABC")]
    assert judge(star, setting("bipartite", min_accounts=3)) == []


def test_stack_three_layers_linked_to_each_other() -> None:
    legs = [flow(s, m, 1500, i) for i, (s, m) in enumerate((s, m) for s in "AB" for m in "CD")]
    legs += [flow(m, d, 1400, 10 + i) for i, (m, d) in enumerate((m, d) for m in "CD" for d in "EF")]  # fmt: skip
    found = judge(legs, setting("stack", min_accounts=2))
    assert len(found) == 1
    assert names(found[0].accounts) == "ABCDEF"


def test_a_layering_chain_within_hours_and_not_over_weeks() -> None:
    legs = [
        flow("A", "B", 9000, 0),
        flow("B", "C", 8800, 3),
        flow("C", "D", 8700, 7),
        flow("D", "E", 8600, 12),
    ]
    found = judge(legs, setting("chain", min_accounts=5, window_hours=24))
    assert len(found) == 1
    assert names(found[0].accounts) == "ABCDE"
    assert judge(legs, setting("chain", min_accounts=5, window_hours=6)) == []
    growing = [flow("A", "B", 1000, 0), flow("B", "C", 5000, 1), flow("C", "D", 9000, 2)]
    assert judge(growing, setting("chain", min_accounts=4)) == []


def cash(account: str, amount: float, hours: float, channel: str = "cash") -> Txn:
    n = next(_serial)
    return Txn(
        uuid.UUID(int=90_000 + n), f"c{n:05d}", A[account], CUSTOMER[A[account]],
        T0 + timedelta(hours=hours), Decimal(str(amount)), "EUR", "in", channel,
    )  # fmt: skip


@pytest.mark.parametrize(("deposits", "wired", "found"), [(5, 9_500, True), (2, 9_500, False),
                                                          (5, 2_000, False)])  # fmt: skip
def test_a_funnel_is_many_cash_deposits_then_a_quick_wire(
    deposits: int, wired: float, found: bool
) -> None:
    history = [cash("A", 2000, k) for k in range(deposits)]
    wire = Txn(uuid.uuid4(), "w1", A["A"], CUSTOMER[A["A"]], T0 + timedelta(hours=20),
               Decimal(wired), "EUR", "out", "swift")  # fmt: skip
    t = setting("funnel", min_accounts=4, window_hours=72, tolerance_percent=30)
    assert (funnel(history, wire, t) is not None) is found


def test_each_pattern_is_raised_once_whatever_order_the_batch_is_judged_in() -> None:
    legs = [flow("A", "B", 5000, 0), flow("B", "C", 5000, 5), flow("C", "A", 5000, 9)]
    t = setting("round_trip", min_accounts=3)
    whole = judge(legs, t)
    one_by_one = [p for k in range(3) for p in judge(legs[: k + 1], t, [legs[k]])]
    assert [p.key for p in whole] == [p.key for p in one_by_one]
    assert len(whole) == 1
