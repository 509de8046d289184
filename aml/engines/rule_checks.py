"""The monitoring rules, one function each: does transaction `t` (at position `i` of its
account's history) make the rule fire? Each answers with an alert draft saying why, or None.

Amounts are compared in EUR (`Txn.eur`); reasons quote them in whole euros.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from aml.engines.monitoring_data import (
    AccountHistory,
    AlertDraft,
    MonitoringContext,
    RuleCheck,
    Txn,
    eur,
)
from aml.rule_policy import (
    DormantAccountRule,
    FanInRule,
    HighRiskCountryRule,
    LargeTransactionRule,
    NewCounterpartyRule,
    RapidMovementRule,
    StructuringRule,
    VelocityRule,
    WatchlistCounterpartyRule,
)
from onboarding.engines.reference_data import country_risk

CHANNEL_WORDS = {
    "card": "card payment",
    "sepa": "SEPA transfer",
    "swift": "SWIFT payment",
    "cash": "cash",
    "crypto": "crypto transfer",
}


def amount_text(t: Txn) -> str:
    if t.currency == "EUR":
        return eur(t.amount)
    return f"{t.amount:,} {t.currency}".replace(",", " ") + f" (about {eur(t.eur)})"


def describe(t: Txn) -> str:
    """`SWIFT payment of 50 000 EUR to Falcon Trading (AE)`, `cash deposit of 9 700 EUR`."""
    if t.channel == "cash":
        return f"cash {'deposit' if t.direction == 'in' else 'withdrawal'} of {amount_text(t)}"
    other = t.counterparty_name or t.counterparty_account or "an unnamed counterparty"
    where = f" ({t.counterparty_country})" if t.counterparty_country else ""
    way = "from" if t.direction == "in" else "to"
    return f"{CHANNEL_WORDS[t.channel]} of {amount_text(t)} {way} {other}{where}"


def sentence(t: Txn) -> str:
    text = describe(t)
    return text[0].upper() + text[1:]


def _draft(
    rule: str, severity: str, t: Txn, involved: list[Txn], reason: str, **details: Any
) -> AlertDraft:
    return AlertDraft(
        rule=rule,
        version=0,  # set by the engine: the configuration version it ran under
        severity=severity,
        trigger=t,
        transactions=involved,
        reason=reason[:1000],
        details={"amount_eur": str(round(t.eur, 2)), **details},
    )


def large_transaction(
    t: Txn, i: int, h: AccountHistory, ctx: MonitoringContext, cfg: LargeTransactionRule
) -> AlertDraft | None:
    threshold = cfg.cash_threshold_eur if t.channel == "cash" else cfg.threshold_eur
    if t.eur < threshold:
        return None
    severity = "high" if t.eur >= cfg.high_severity_eur else "medium"
    reason = f"Single {describe(t)}, at or above the {eur(threshold)} threshold"
    return _draft("large_transaction", severity, t, [t], reason, threshold_eur=threshold)


def structuring(
    t: Txn, i: int, h: AccountHistory, ctx: MonitoringContext, cfg: StructuringRule
) -> AlertDraft | None:
    threshold = Decimal(cfg.threshold_eur)
    floor = threshold * (100 - cfg.band_percent) / 100

    def counts(x: Txn) -> bool:
        return x.direction == "in" and x.channel == "cash" and floor <= x.eur < threshold

    if not counts(t):
        return None
    lo = h.start_of(i, t.booked_at - timedelta(days=cfg.window_days))
    deposits = [x for x in h.txns[lo : i + 1] if counts(x)]
    if len(deposits) < cfg.min_deposits:
        return None
    low, high = min(x.eur for x in deposits), max(x.eur for x in deposits)
    band = eur(low) if round(low) == round(high) else f"{eur(low)[:-4]}\N{EN DASH}{eur(high)}"
    reason = (
        f"{len(deposits)} cash deposits of {band} within {cfg.window_days} days, "
        f"each under the {eur(threshold)} threshold"
    )
    return _draft(
        "structuring",
        "high",
        t,
        deposits,
        reason,
        deposits=len(deposits),
        total_eur=str(round(sum(x.eur for x in deposits), 2)),
        threshold_eur=cfg.threshold_eur,
        window_days=cfg.window_days,
    )


def velocity(
    t: Txn, i: int, h: AccountHistory, ctx: MonitoringContext, cfg: VelocityRule
) -> AlertDraft | None:
    base = h.baseline
    if base is None or h.first_activity is None:
        return None
    if h.first_activity > base.end - timedelta(days=cfg.min_history_days):
        return None  # too little history to know what is normal for this account
    lo = h.start_of(i, t.booked_at - timedelta(hours=cfg.window_hours))
    money_in, money_out = h.sums(lo, i)
    turnover = money_in + money_out
    if turnover < cfg.min_window_eur:
        return None
    days = Decimal((base.end - max(base.start, h.first_activity)).total_seconds()) / 86_400
    average = base.total_eur / days
    if average > 0 and turnover < cfg.multiplier * average:
        return None
    times = f"{turnover / average:.0f} times" if average > 0 else "against none on"
    reason = (
        f"{eur(turnover)} in and out within {cfg.window_hours} hours, {times} the account's "
        f"average day ({eur(average)} over the previous {days:.0f} days)"
    )
    return _draft(
        "velocity",
        "medium",
        t,
        h.txns[lo : i + 1],
        reason,
        window_eur=str(round(turnover, 2)),
        daily_average_eur=str(round(average, 2)),
        baseline_days=round(days, 1),
        window_hours=cfg.window_hours,
    )


COUNTRY_SEVERITY = {"prohibited": "high", "high": "medium", "medium": "low"}


def high_risk_country(
    t: Txn, i: int, h: AccountHistory, ctx: MonitoringContext, cfg: HighRiskCountryRule
) -> AlertDraft | None:
    if not t.counterparty_country or t.eur < cfg.min_amount_eur:
        return None
    risk = country_risk(t.counterparty_country)
    if risk.level not in ("prohibited", "high") and not (
        cfg.include_medium_risk and risk.level == "medium"
    ):
        return None
    reason = f"{sentence(t)}: {risk.label} is {risk.level} risk ({risk.source})"
    return _draft(
        "high_risk_country",
        COUNTRY_SEVERITY[risk.level],
        t,
        [t],
        reason,
        country=t.counterparty_country,
        country_risk=risk.level,
        source=risk.source,
    )


def rapid_movement(
    t: Txn, i: int, h: AccountHistory, ctx: MonitoringContext, cfg: RapidMovementRule
) -> AlertDraft | None:
    if t.direction != "out":
        return None
    lo = h.start_of(i, t.booked_at - timedelta(hours=cfg.window_hours))
    # From the first money in: what went out before it was not moving these funds.
    first_in = next((j for j in range(lo, i) if h.txns[j].direction == "in"), None)
    if first_in is None:
        return None
    money_in, money_out = h.sums(first_in, i)
    if money_in < cfg.min_in_eur or money_out * 100 < money_in * cfg.out_percent:
        return None
    share = money_out * 100 / money_in
    reason = (
        f"{eur(money_in)} came in and {eur(money_out)} ({share:.0f}%) went out again "
        f"within {cfg.window_hours} hours"
    )
    return _draft(
        "rapid_movement",
        "high",
        t,
        h.txns[first_in : i + 1],
        reason,
        in_eur=str(round(money_in, 2)),
        out_eur=str(round(money_out, 2)),
        window_hours=cfg.window_hours,
    )


def dormant_account(
    t: Txn, i: int, h: AccountHistory, ctx: MonitoringContext, cfg: DormantAccountRule
) -> AlertDraft | None:
    previous = h.previous_activity(i)
    if previous is None or t.eur < cfg.min_amount_eur:
        return None
    idle = t.booked_at - previous
    if idle < timedelta(days=cfg.dormant_days):
        return None
    reason = (
        f"{sentence(t)} after {idle.days} days without any "
        f"transaction (dormant from {cfg.dormant_days} days)"
    )
    return _draft(
        "dormant_account",
        "medium",
        t,
        [t],
        reason,
        idle_days=idle.days,
        previous_activity=previous.isoformat(),
    )


def fan_in(
    t: Txn, i: int, h: AccountHistory, ctx: MonitoringContext, cfg: FanInRule
) -> AlertDraft | None:
    if t.direction != "in" or t.counterparty is None:
        return None
    window = cfg.window_days * 86_400
    senders = h.distinct_senders(window)[i]
    if senders < cfg.min_senders:
        return None
    lo = h.start_of(i, t.booked_at - timedelta(days=cfg.window_days))
    incoming = [x for x in h.txns[lo : i + 1] if x.direction == "in" and x.counterparty]
    total = sum((x.eur for x in incoming), Decimal(0))
    if total < cfg.min_total_eur:
        return None
    reason = (
        f"{senders} different senders paid {eur(total)} into the account within "
        f"{cfg.window_days} days"
    )
    return _draft(
        "fan_in",
        "medium",
        t,
        incoming,
        reason,
        senders=senders,
        total_eur=str(round(total, 2)),
        payments=len(incoming),
        window_days=cfg.window_days,
    )


def new_counterparty(
    t: Txn, i: int, h: AccountHistory, ctx: MonitoringContext, cfg: NewCounterpartyRule
) -> AlertDraft | None:
    key = t.counterparty
    if key is None or t.eur < cfg.min_amount_eur or h.first_activity is None:
        return None
    if t.booked_at - h.first_activity < timedelta(days=cfg.min_history_days):
        return None
    first = ctx.first_seen.get((t.account_id, key))
    if first is not None and first < t.booked_at:
        return None
    reason = f"{sentence(t)}, a counterparty never seen on this account"
    return _draft("new_counterparty", "medium", t, [t], reason, counterparty=key)


def watchlist_counterparty(
    t: Txn, i: int, h: AccountHistory, ctx: MonitoringContext, cfg: WatchlistCounterpartyRule
) -> AlertDraft | None:
    if not t.counterparty_name or ctx.match_name is None:
        return None
    hit = ctx.match_name(t.counterparty_name)
    if hit is None or hit.score < cfg.min_score:
        return None
    programs = f"; programs {', '.join(hit.programs)}" if hit.programs else ""
    reason = (
        f"Counterparty {t.counterparty_name!r} matches {hit.listed_name!r} on the watch list "
        f"(score {hit.score:.0f}{programs})"
    )
    return _draft(
        "watchlist_counterparty",
        "high",
        t,
        [t],
        reason,
        listed_name=hit.listed_name,
        list_entry_id=hit.list_entry_id,
        score=str(hit.score),
    )


CHECKS: dict[str, RuleCheck] = {
    "large_transaction": large_transaction,
    "structuring": structuring,
    "velocity": velocity,
    "high_risk_country": high_risk_country,
    "rapid_movement": rapid_movement,
    "dormant_account": dormant_account,
    "fan_in": fan_in,
    "new_counterparty": new_counterparty,
    "watchlist_counterparty": watchlist_counterparty,
}
