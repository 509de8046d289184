"""Each monitoring rule at its boundary: fires at the threshold, not just below it, never when
disabled. Pure engine, no database: histories are built in memory."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from aml.commands.monitoring_store import matcher_for
from aml.engines.monitoring import evaluate
from aml.engines.monitoring_data import (
    AccountHistory,
    AlertDraft,
    Baseline,
    MonitoringContext,
    NameHit,
    Rule,
    Txn,
)
from aml.rule_policy import RULE_SCHEMAS
from screening.engines.matcher import ScreeningIndex
from screening.engines.ofac import parse_bytes

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ACCOUNT = uuid.uuid4()
CUSTOMER = uuid.uuid4()


def tx(
    amount: str,
    *,
    at: timedelta = timedelta(0),
    direction: str = "out",
    channel: str = "sepa",
    currency: str = "EUR",
    name: str | None = "Some Counterparty",
    cp_account: str | None = None,
    country: str | None = "DE",
) -> Txn:
    """A transaction booked `at` before NOW."""
    return Txn(
        id=uuid.uuid4(),
        external_id=f"t-{uuid.uuid4().hex}",
        account_id=ACCOUNT,
        customer_id=CUSTOMER,
        booked_at=NOW - at,
        amount=Decimal(amount),
        currency=currency,
        direction=direction,
        channel=channel,
        counterparty_name=name,
        counterparty_account=cp_account,
        counterparty_country=country,
    )


def cash_in(amount: str, days_ago: float = 0) -> Txn:
    return tx(amount, at=timedelta(days=days_ago), direction="in", channel="cash", name=None)


@dataclass
class Setup:
    history: list[Txn] = field(default_factory=list)
    last_before: datetime | None = None
    first_activity: datetime | None = None
    baseline: Baseline | None = None
    first_seen: dict[tuple[uuid.UUID, str], datetime] = field(default_factory=dict)
    match_name: Any = None


def run(
    rule: str, new: Sequence[Txn], setup: Setup | None = None, **config: Any
) -> list[AlertDraft]:
    """Only `rule`, configured with `config`, over history + new; the alerts it raises."""
    setup = setup or Setup()
    history = AccountHistory(
        [*setup.history, *new],
        last_before=setup.last_before,
        first_activity=setup.first_activity,
        baseline=setup.baseline,
    )
    context = MonitoringContext(
        accounts={ACCOUNT: history}, first_seen=setup.first_seen, match_name=setup.match_name
    )
    return evaluate(new, context, [Rule(rule, 7, RULE_SCHEMAS[rule](**config))])


# --- large single transaction ------------------------------------------------------------


def test_large_transaction_fires_at_the_threshold_not_a_cent_below() -> None:
    assert run("large_transaction", [tx("14999.99")], threshold_eur=15_000) == []
    [alert] = run("large_transaction", [tx("15000.00")], threshold_eur=15_000)
    assert (alert.rule, alert.version, alert.severity) == ("large_transaction", 7, "medium")
    assert "15 000 EUR" in alert.reason


def test_large_cash_has_its_own_lower_threshold_and_big_amounts_are_high_severity() -> None:
    assert run("large_transaction", [tx("9999.99", channel="cash")]) == []
    assert run("large_transaction", [tx("10000", channel="cash")])
    [alert] = run("large_transaction", [tx("100000")])
    assert alert.severity == "high"


def test_large_transaction_in_another_currency_is_compared_in_eur() -> None:
    # 0.92 EUR per USD (indicative table): 16 000 USD is 14 720 EUR, 17 000 USD 15 640 EUR.
    assert run("large_transaction", [tx("16000", currency="USD")], threshold_eur=15_000) == []
    [alert] = run("large_transaction", [tx("17000", currency="USD")], threshold_eur=15_000)
    assert "17 000 USD (about 15 640 EUR)" in alert.reason


def test_large_transaction_by_default_alerts_from_50_000_eur_and_cash_from_10_000() -> None:
    # Calibrated defaults (aml.rule_policy): a transfer of 49 999 EUR on a known account is
    # routine for private-banking and business customers; cash keeps the EU cash threshold.
    assert run("large_transaction", [tx("49999.99")]) == []
    [alert] = run("large_transaction", [tx("50000")])
    assert "50 000 EUR threshold" in alert.reason
    assert run("large_transaction", [tx("10000", channel="cash")])


# --- structuring ---------------------------------------------------------------------------


def test_three_cash_deposits_just_under_the_threshold_within_five_days_are_structuring() -> None:
    deposits = [cash_in("9500", 4), cash_in("9700", 2), cash_in("9900", 0)]
    [alert] = run("structuring", deposits)
    assert alert.reason == (
        "3 cash deposits of 9 500\N{EN DASH}9 900 EUR within 5 days, each under the 10 000 EUR threshold"
    )
    assert alert.transaction_ids == [d.id for d in deposits]
    assert alert.trigger is deposits[-1] and alert.severity == "high"
    assert alert.dedupe_key == f"structuring:{deposits[-1].id}"


def test_structuring_needs_the_third_deposit_inside_the_window() -> None:
    assert run("structuring", [cash_in("9500", 5.001), cash_in("9700", 2), cash_in("9900")]) == []
    assert run("structuring", [cash_in("9500", 4.999), cash_in("9700", 2), cash_in("9900")])


def test_structuring_counts_only_cash_deposits_in_the_band_under_the_threshold() -> None:
    at_threshold = [cash_in("9500", 2), cash_in("9700", 1), cash_in("10000")]
    below_band = [cash_in("9500", 2), cash_in("9700", 1), cash_in("8999.99")]
    not_cash = [cash_in("9500", 2), cash_in("9700", 1), tx("9900", direction="in")]
    for deposits in (at_threshold, below_band, not_cash):
        assert run("structuring", deposits) == []
    assert run("structuring", [cash_in("9500", 2), cash_in("9700", 1), cash_in("9000")])


def test_an_ongoing_structuring_pattern_is_one_alert_not_one_per_deposit() -> None:
    deposits = [cash_in(a, d) for a, d in (("9500", 4), ("9600", 3), ("9700", 2), ("9800", 1))]
    assert len(run("structuring", deposits)) == 1
    # Once the window has passed since the first alert, a new pattern alerts again.
    later = [cash_in(a, d) for a, d in (("9500", 12), ("9600", 11), ("9700", 10))]
    assert len(run("structuring", [*later, *deposits[1:]])) == 2


# --- velocity against the account's own baseline -------------------------------------------


def baseline(total: str, *, history_days: int = 200) -> Setup:
    end = NOW - timedelta(hours=24)
    return Setup(
        baseline=Baseline(Decimal(total), end - timedelta(days=90), end),
        first_activity=NOW - timedelta(days=history_days),
    )


def test_velocity_fires_at_the_multiple_of_the_daily_average() -> None:
    # 900 000 EUR over 90 days: 10 000 a day; five times that is 50 000 in 24 hours.
    setup = baseline("900000")
    five = {"multiplier": 5}
    assert (
        run("velocity", [tx("20000", at=timedelta(hours=3)), tx("29999.99")], setup, **five) == []
    )
    [alert] = run("velocity", [tx("20000", at=timedelta(hours=3)), tx("30000")], setup, **five)
    assert alert.reason.startswith("50 000 EUR in and out within 24 hours, 5 times")
    assert len(alert.transaction_ids) == 2


def test_velocity_ignores_turnover_older_than_the_window() -> None:
    setup = baseline("900000")
    assert (
        run("velocity", [tx("20000", at=timedelta(hours=24)), tx("30000")], setup, multiplier=5)
        == []
    )


def test_velocity_needs_the_minimum_amount_and_enough_history() -> None:
    quiet = baseline("9000")  # 100 a day: 10 000 in a day is 100 times that
    assert run("velocity", [tx("9999.99")], quiet) == []
    assert run("velocity", [tx("10000")], quiet)
    # The 9 000 over 31 days of history is 290 a day: 10 000 is 34 times that.
    assert run("velocity", [tx("10000")], baseline("9000", history_days=30), multiplier=5) == []
    assert run("velocity", [tx("10000")], baseline("9000", history_days=32), multiplier=5)


def test_velocity_by_default_leaves_a_month_of_turnover_in_one_day_alone() -> None:
    # 9 000 EUR over 90 days is 100 a day: a payday's 3 000 in a day is 30 times the
    # average, ordinary; the default alerts from 75 times (and at least 10 000 EUR).
    setup = baseline("90000")  # 1 000 a day
    assert run("velocity", [tx("30000")], setup) == []  # 30 times: a month in a day
    assert run("velocity", [tx("74999.99")], setup) == []
    [alert] = run("velocity", [tx("75000")], setup)
    assert "75 times" in alert.reason


# --- counterparty country ------------------------------------------------------------------


def test_high_risk_and_prohibited_countries_alert_with_their_severity() -> None:
    [prohibited] = run("high_risk_country", [tx("1000", channel="swift", country="IR")])
    [high] = run("high_risk_country", [tx("1000", channel="swift", country="AE")])
    assert (prohibited.severity, high.severity) == ("high", "medium")
    assert "United Arab Emirates is high risk" in high.reason
    assert run("high_risk_country", [tx("999.99", channel="swift", country="IR")]) == []
    assert run("high_risk_country", [tx("50000", country="DE")]) == []
    assert run("high_risk_country", [tx("5000", country=None)]) == []


def test_medium_risk_countries_alert_only_when_configured() -> None:
    assert run("high_risk_country", [tx("5000", country="TR")]) == []
    [alert] = run("high_risk_country", [tx("5000", country="TR")], include_medium_risk=True)
    assert alert.severity == "low"


# --- rapid movement ------------------------------------------------------------------------


def test_money_in_and_mostly_out_again_within_hours_is_rapid_movement() -> None:
    incoming = tx("10000", at=timedelta(hours=30), direction="in")
    assert run("rapid_movement", [incoming, tx("7999.99", at=timedelta(hours=1))]) == []
    [alert] = run("rapid_movement", [incoming, tx("8000", at=timedelta(hours=1))])
    assert alert.reason == "10 000 EUR came in and 8 000 EUR (80%) went out again within 48 hours"


def test_rapid_movement_needs_both_legs_in_the_window_and_enough_money_in() -> None:
    too_early = tx("10000", at=timedelta(hours=48), direction="in")
    assert run("rapid_movement", [too_early, tx("9000")]) == []
    small = tx("4999.99", at=timedelta(hours=2), direction="in")
    assert run("rapid_movement", [small, tx("4999.99")]) == []
    # Money that left before the money came in was not moving it.
    before = tx("9000", at=timedelta(hours=5))
    assert run("rapid_movement", [before, tx("10000", at=timedelta(hours=2), direction="in")]) == []


# --- dormant account -----------------------------------------------------------------------


def test_a_dormant_account_suddenly_active_alerts() -> None:
    old = tx("50", at=timedelta(days=180))
    assert run("dormant_account", [tx("1000")], Setup(history=[old]))
    recent = tx("50", at=timedelta(days=179, hours=23))
    assert run("dormant_account", [tx("1000")], Setup(history=[recent])) == []
    assert run("dormant_account", [tx("999.99")], Setup(history=[old])) == []


def test_dormancy_counts_from_activity_before_the_loaded_window() -> None:
    setup = Setup(last_before=NOW - timedelta(days=400))
    [alert] = run("dormant_account", [tx("2000")], setup)
    assert "after 400 days without any transaction" in alert.reason
    assert run("dormant_account", [tx("2000")]) == []  # a first transaction ever is not dormancy


def test_dormancy_takes_the_latest_activity_when_older_history_is_only_money_in() -> None:
    # Beyond the hour windows only money in is loaded: an old deposit is in the list while
    # the latest card payment is known only as `last_before`.
    old_deposit = tx("500", at=timedelta(days=300), direction="in")
    setup = Setup(history=[old_deposit], last_before=NOW - timedelta(days=3))
    assert run("dormant_account", [tx("2000")], setup) == []


# --- fan-in --------------------------------------------------------------------------------


def senders(count: int, amount: str = "600", *, same: bool = False) -> list[Txn]:
    return [
        tx(amount, at=timedelta(hours=10 * i), direction="in", name=f"Sender {0 if same else i}")
        for i in range(count)
    ]


def test_many_different_senders_into_one_account_is_fan_in() -> None:
    assert run("fan_in", senders(9), enabled=True) == []
    [alert] = run("fan_in", senders(10), enabled=True)
    assert alert.reason == "10 different senders paid 6 000 EUR into the account within 7 days"
    assert len(alert.transaction_ids) == 10


def test_fan_in_counts_senders_once_and_needs_the_minimum_total() -> None:
    assert run("fan_in", senders(12, same=True), enabled=True) == []
    assert run("fan_in", senders(10, "499.99"), enabled=True) == []
    spread = [
        tx("600", at=timedelta(days=i), direction="in", name=f"Sender {i}") for i in range(10)
    ]
    assert run("fan_in", spread, enabled=True) == []  # the first is 9 days back: outside 7


def test_fan_in_is_off_by_default_the_network_fan_in_supersedes_it() -> None:
    assert run("fan_in", senders(10)) == []


# --- new counterparty ----------------------------------------------------------------------


def test_a_large_payment_to_a_never_seen_counterparty_alerts() -> None:
    history = Setup(first_activity=NOW - timedelta(days=60))
    [alert] = run("new_counterparty", [tx("25000", name="Falcon Trading")], history)
    assert "never seen" in alert.reason
    assert run("new_counterparty", [tx("24999.99", name="Falcon Trading")], history) == []
    lower = {"min_amount_eur": 10_000, "min_history_days": 30}
    younger = Setup(first_activity=NOW - timedelta(days=30))
    assert run("new_counterparty", [tx("10000", name="Falcon Trading")], younger, **lower)
    assert run("new_counterparty", [tx("9999.99", name="Falcon Trading")], younger, **lower) == []


def test_a_known_counterparty_or_a_new_account_does_not_alert() -> None:
    known = Setup(
        first_activity=NOW - timedelta(days=300),
        first_seen={(ACCOUNT, "de89370400440532013000".upper()): NOW - timedelta(days=20)},
    )
    payment = tx("30000", cp_account="DE89 3704 0044 0532 0130 00")
    assert run("new_counterparty", [payment], known) == []
    young = Setup(first_activity=NOW - timedelta(days=59))
    assert run("new_counterparty", [tx("30000")], young) == []


# --- watch list ----------------------------------------------------------------------------

SDN = b"""\
5001,"FALCON STAR TRADING LLC",-0- ,"IRAN",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0-
5002,"RESTREPO VICTORIA, Eduardo","individual","SDNT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"DOB 28 Sep 1958."
"""


@pytest.fixture(scope="module")
def watch_list() -> ScreeningIndex:
    return ScreeningIndex(parse_bytes(SDN), version=f"UNIT {uuid.uuid4().hex}")


def test_a_counterparty_on_the_watch_list_alerts(watch_list: ScreeningIndex) -> None:
    setup = Setup(match_name=matcher_for(watch_list, 90))
    [alert] = run("watchlist_counterparty", [tx("100", name="Falcon Star Trading L.L.C.")], setup)
    assert "FALCON STAR TRADING LLC" in alert.reason and alert.severity == "high"
    assert run("watchlist_counterparty", [tx("100", name="Eduardo Restrepo Victoria")], setup)
    assert run("watchlist_counterparty", [tx("100", name="Rewe Markt GmbH")], setup) == []


def test_the_watch_list_score_threshold_comes_from_the_rule() -> None:
    hit = NameHit(score=89.0, listed_name="SOMEONE", list_entry_id=1, programs=())
    setup = Setup(match_name=lambda name: hit)
    assert run("watchlist_counterparty", [tx("100")], setup) == []
    assert run("watchlist_counterparty", [tx("100")], setup, min_score=85)


# --- switched off --------------------------------------------------------------------------

FIRING: dict[str, tuple[list[Txn], Setup]] = {
    "large_transaction": ([tx("50000")], Setup()),
    "structuring": ([cash_in("9500", 2), cash_in("9700", 1), cash_in("9900")], Setup()),
    "velocity": ([tx("60000")], baseline("9000")),
    "high_risk_country": ([tx("5000", country="IR")], Setup()),
    "rapid_movement": ([tx("9000", at=timedelta(hours=2), direction="in"), tx("9000")], Setup()),
    "dormant_account": ([tx("5000")], Setup(last_before=NOW - timedelta(days=365))),
    "fan_in": (senders(12), Setup()),
    "new_counterparty": ([tx("30000")], Setup(first_activity=NOW - timedelta(days=90))),
    "watchlist_counterparty": (
        [tx("100")],
        Setup(match_name=lambda name: NameHit(99.0, "SOMEONE", 1, ())),
    ),
}


@pytest.mark.parametrize("rule", sorted(RULE_SCHEMAS))
def test_a_disabled_rule_never_fires(rule: str) -> None:
    new, setup = FIRING[rule]
    assert run(rule, new, setup, enabled=True), f"{rule} should fire on its example"
    assert run(rule, new, setup, enabled=False) == []
