"""What the rule engine reads and writes: rule versions, a batch's context, alerts.

Every read is one set-based query for the whole batch (`= ANY` / `unnest` over its
accounts), so a batch of 10 000 transactions costs the same handful of round trips as one.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from aml.engines.judging import JudgeMemory
from aml.engines.monitoring_data import (
    WINDOWED_RULES,
    AccountHistory,
    AlertDraft,
    Baseline,
    MonitoringContext,
    NameHit,
    NameMatcher,
    Rule,
    Txn,
    counterparty_key,
    to_eur,
)
from aml.rule_policy import RULE_SCHEMAS, config_key
from audit.trail import jsonable
from configuration.documents import validated
from core.db import Database, fetch_tuples, run_sql
from models.aml import AmlAlert
from models.base import utcnow
from screening.commands.service import current_index
from screening.engines.matcher import ScreeningIndex
from screening.policy import ScreeningConfig

# An account's history over the windows: every transaction since `lo_all` (the hour
# windows: velocity, rapid movement) and only money in since `lo_in` (the day windows:
# structuring and fan-in count deposits and senders) - card spend is most of the rows.
# The columns are in `Txn`'s field order: each row becomes `Txn(*row)`.
HISTORY_SQL = (
    "SELECT t.id, t.external_id, t.account_id, t.customer_id, t.booked_at, t.amount, "
    "t.currency, t.direction, t.channel, t.counterparty_name, t.counterparty_account, "
    "t.counterparty_country "
    "FROM unnest(%(acc)s::uuid[], %(lo_in)s::timestamptz[], %(lo_all)s::timestamptz[], "
    "%(hi)s::timestamptz[]) AS r(account_id, lo_in, lo_all, hi) "
    "JOIN transaction t ON t.account_id = r.account_id "
    "AND t.booked_at >= r.lo_in AND t.booked_at <= r.hi "
    "WHERE t.booked_at >= r.lo_all OR t.direction = 'in'"
)


def txn_from_row(row: Any) -> Txn:
    return Txn(
        id=row.id,
        external_id=row.external_id,
        account_id=row.account_id,
        customer_id=row.customer_id,
        booked_at=row.booked_at,
        amount=row.amount,
        currency=row.currency,
        direction=row.direction,
        channel=row.channel,
        counterparty_name=row.counterparty_name,
        counterparty_account=row.counterparty_account,
        counterparty_country=row.counterparty_country,
    )


async def load_rules(
    db: Database, *, overrides: Mapping[str, dict[str, Any] | None] | None = None
) -> list[Rule]:
    """Every rule's current configuration version, in one query; a key in `overrides`
    reads as its proposed values instead (a backtest), at the next version number."""
    keys = {config_key(rule): rule for rule in RULE_SCHEMAS}
    async with db.session() as session:
        rows = (
            await run_sql(
                session,
                "SELECT s.key, v.version, v.values FROM config_setting s "
                "JOIN config_setting_version v ON v.setting_id = s.id "
                "AND v.version = s.current_version WHERE s.key = ANY(:keys)",
                {"keys": list(keys)},
            )
        ).all()
    found = {row.key: row for row in rows}
    rules: list[Rule] = []
    for key, rule in keys.items():
        row = found.get(key)
        if overrides and key in overrides:
            proposed = overrides[key]
            if proposed is None:
                continue
            config = validated(key, proposed)
            assert isinstance(config, RULE_SCHEMAS[rule])
            rules.append(Rule(rule, (row.version if row else 0) + 1, config))
            continue
        if row is None:  # not installed: the defaults, as version 0
            rules.append(Rule(rule, 0, RULE_SCHEMAS[rule]()))
            continue
        config = validated(key, row.values)
        assert isinstance(config, RULE_SCHEMAS[rule])
        rules.append(Rule(rule, row.version, config))
    return rules


def _enabled(rules: Sequence[Rule], name: str) -> Any:
    return next((r.config for r in rules if r.name == name and r.config.enabled), None)


def lookback(rules: Sequence[Rule]) -> tuple[timedelta, timedelta]:
    """How far back the windowed rules look: (every transaction, money in only)."""
    hours, days = timedelta(0), timedelta(0)
    for name in WINDOWED_RULES:
        config = _enabled(rules, name)
        if config is None:
            continue
        if hasattr(config, "window_days"):
            days = max(days, timedelta(days=config.window_days))
        else:
            hours = max(hours, timedelta(hours=config.window_hours))
    return hours, max(hours, days)


# --- watch-list names --------------------------------------------------------------------
# Counterparty names repeat (employers, landlords, shops): each is matched once per list
# version and threshold in this process, not once per transaction.
_name_cache: dict[tuple[str, int], dict[str, NameHit | None]] = {}
NAME_CACHE_SIZE = 50_000


async def name_matcher(db: Database, rules: Sequence[Rule]) -> NameMatcher | None:
    """The watch-list matcher for counterparty names (None if the rule is off or no list)."""
    config = _enabled(rules, "watchlist_counterparty")
    if config is None:
        return None
    index = await current_index(db)
    return None if index is None else matcher_for(index, config.min_score)


def matcher_for(index: ScreeningIndex, min_score: int) -> NameMatcher:
    """Best hit of a name on the list at `min_score` or above, remembered per name."""
    screening = ScreeningConfig(hit_threshold=min_score)
    for stale in [k for k in _name_cache if k[0] != index.version]:
        del _name_cache[stale]
    cache = _name_cache.setdefault((index.version, min_score), {})

    def match(name: str) -> NameHit | None:
        key = " ".join(name.split()).casefold()
        if key in cache:
            return cache[key]
        hits = index.match(name, config=screening)
        best = (
            NameHit(hits[0].score, hits[0].listed_name, hits[0].ent_num, hits[0].programs)
            if hits
            else None
        )
        if len(cache) >= NAME_CACHE_SIZE:
            cache.clear()
        cache[key] = best
        return best

    return match


# --- a batch's context ---------------------------------------------------------------------


async def load_context(
    session: AsyncSession,
    new: Sequence[Txn],
    rules: Sequence[Rule],
    memory: JudgeMemory | None = None,
) -> MonitoringContext:
    """History, activity bounds, baselines, known counterparties and cool-downs of the
    accounts the new transactions touch (which are already in the table). A dry run's
    cool-downs come from its memory, not from the alerts stored."""
    span: dict[uuid.UUID, tuple[datetime, datetime]] = {}
    for t in new:
        lo, hi = span.get(t.account_id, (t.booked_at, t.booked_at))
        span[t.account_id] = (min(lo, t.booked_at), max(hi, t.booked_at))
    every, incoming = lookback(rules)
    accounts = list(span)
    complete_from = [span[a][0] - every for a in accounts]
    rows = await fetch_tuples(
        session,
        HISTORY_SQL,
        {
            "acc": accounts,
            "lo_in": [span[a][0] - incoming for a in accounts],
            "lo_all": complete_from,
            "hi": [span[a][1] for a in accounts],
        },
    )
    by_account: dict[uuid.UUID, list[Txn]] = defaultdict(list)
    for row in rows:
        by_account[row[2]].append(Txn(*row))
    bounds = (
        await run_sql(
            session,
            "SELECT r.account_id, "
            "(SELECT max(t.booked_at) FROM transaction t WHERE t.account_id = r.account_id "
            "AND t.booked_at < r.lo) AS last_before, "
            "(SELECT min(t.booked_at) FROM transaction t WHERE t.account_id = r.account_id) "
            "AS first_activity "
            "FROM unnest(CAST(:acc AS uuid[]), CAST(:lo AS timestamptz[])) AS r(account_id, lo)",
            {"acc": accounts, "lo": complete_from},
        )
    ).all()
    baselines = await _baselines(session, span, rules)
    histories = {
        b.account_id: AccountHistory(
            by_account[b.account_id],
            last_before=b.last_before,
            first_activity=b.first_activity,
            baseline=baselines.get(b.account_id),
        )
        for b in bounds
    }
    return MonitoringContext(
        accounts=histories,
        first_seen=await _first_seen(session, new, rules),
        last_fired=(
            dict(memory.last_fired)
            if memory is not None
            else await _last_fired(session, new, rules)
        ),
    )


async def _baselines(
    session: AsyncSession, span: dict[uuid.UUID, tuple[datetime, datetime]], rules: Sequence[Rule]
) -> dict[uuid.UUID, Baseline]:
    """Turnover over the baseline period before each account's earliest new transaction.

    One baseline per account per batch: a batch spanning days shares its first day's
    baseline (a 90-day average barely moves in that time).
    """
    config = _enabled(rules, "velocity")
    if config is None or not span:
        return {}
    accounts = list(span)
    ends = [span[a][0] - timedelta(hours=config.window_hours) for a in accounts]
    starts = [end - timedelta(days=config.baseline_days) for end in ends]
    rows = (
        await run_sql(
            session,
            "SELECT r.account_id, t.currency, sum(t.amount) AS total "
            "FROM unnest(CAST(:acc AS uuid[]), CAST(:lo AS timestamptz[]), "
            "CAST(:hi AS timestamptz[])) AS r(account_id, lo, hi) "
            "JOIN transaction t ON t.account_id = r.account_id "
            "AND t.booked_at >= r.lo AND t.booked_at < r.hi GROUP BY 1, 2",
            {"acc": accounts, "lo": starts, "hi": ends},
        )
    ).all()
    totals: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    for row in rows:
        totals[row.account_id] += to_eur(row.total, row.currency)
    return {
        a: Baseline(total_eur=totals[a], start=start, end=end)
        for a, start, end in zip(accounts, starts, ends, strict=True)
    }


async def _first_seen(
    session: AsyncSession, new: Sequence[Txn], rules: Sequence[Rule]
) -> dict[tuple[uuid.UUID, str], datetime]:
    """When each account first dealt with the counterparties of its large new transactions."""
    config = _enabled(rules, "new_counterparty")
    if config is None:
        return {}
    wanted = {
        (t.account_id, key)
        for t in new
        if t.eur >= config.min_amount_eur and (key := t.counterparty) is not None
    }
    if not wanted:
        return {}
    # Grouped by the stored spelling; spellings of one counterparty merge below.
    rows = (
        await run_sql(
            session,
            "SELECT account_id, counterparty_account, counterparty_name, min(booked_at) AS first "
            "FROM transaction WHERE account_id = ANY(:acc) "
            "AND (counterparty_account IS NOT NULL OR counterparty_name IS NOT NULL) "
            "GROUP BY 1, 2, 3",
            {"acc": list({a for a, _ in wanted})},
        )
    ).all()
    first: dict[tuple[uuid.UUID, str], datetime] = {}
    for row in rows:
        key = counterparty_key(row.counterparty_account, row.counterparty_name)
        if key is None or (row.account_id, key) not in wanted:
            continue
        seen = first.get((row.account_id, key))
        first[(row.account_id, key)] = row.first if seen is None else min(seen, row.first)
    return first


async def _last_fired(
    session: AsyncSession, new: Sequence[Txn], rules: Sequence[Rule]
) -> dict[tuple[uuid.UUID, str], datetime]:
    windowed = [name for name in WINDOWED_RULES if _enabled(rules, name) is not None]
    if not windowed:
        return {}
    rows = (
        await run_sql(
            session,
            "SELECT account_id, rule_key, "
            "max(CAST(details->>'triggered_at' AS timestamptz)) AS fired "
            "FROM aml_alert WHERE customer_id = ANY(:customers) AND rule_key = ANY(:rules) "
            "GROUP BY 1, 2",
            {"customers": list({t.customer_id for t in new}), "rules": windowed},
        )
    ).all()
    return {(row.account_id, row.rule_key): row.fired for row in rows if row.fired}


# --- alerts ------------------------------------------------------------------------------


ALERT_CHUNK = 1_000  # rows per INSERT: 13 parameters each, well under PostgreSQL's 65 535


async def insert_alerts(session: AsyncSession, drafts: Sequence[AlertDraft]) -> list[AmlAlert]:
    """The drafts as alert rows; one already raised (same dedupe key) is not raised again."""
    table = AmlAlert.metadata.tables["aml_alert"]
    connection = await session.connection()
    now = utcnow()
    alerts: list[AmlAlert] = []
    for start in range(0, len(drafts), ALERT_CHUNK):
        values = [
            {
                "id": uuid.uuid4(),
                "dedupe_key": d.dedupe_key,
                "customer_id": d.trigger.customer_id,
                "account_id": d.trigger.account_id,
                "rule_key": d.rule,
                "rule_version": d.version,
                "severity": d.severity,
                "transaction_ids": d.transaction_ids,
                "reason": d.reason[:1000],  # the column's limit, whatever the family
                # A rule's score (network, expression rules) is kept with the alert: the
                # case's priority reads it (aml.engines.priority).
                "details": jsonable(
                    d.details if d.score is None else {"score": d.score, **d.details}
                ),
                "detected_at": now,
                "case_id": None,
                "shadow": d.shadow,
            }
            for d in drafts[start : start + ALERT_CHUNK]
        ]
        statement = (
            pg_insert(table)
            .values(values)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(table.c.id)
        )
        ids: list[uuid.UUID] = list((await connection.execute(statement)).scalars())
        if ids:
            found = await session.exec(select(AmlAlert).where(col(AmlAlert.id).in_(ids)))
            alerts.extend(found.all())
    return alerts
