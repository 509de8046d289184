"""Rules written without code (`aml.rule_language`), compiled to one SQL statement each.

Each rule's statement judges a whole batch at once: the batch's transactions are the
triggers, every aggregate is a correlated subquery over `transaction` (by account or
customer and booked time, on the indexes (account_id, booked_at) / (customer_id,
booked_at)), a peer median is computed once per segment and day of the batch, and the
rule's condition is the statement's WHERE clause, so only the triggers that fire come
back, with the figures their reason needs. The SQL is assembled from the checked tree
only: function names and filters map to fixed fragments, numbers are bound parameters.

A rule is judged at the transactions it counts (one of its terms' filters matches: a rule
on money in is not judged again when money goes out, so a condition that becomes true only
as old transactions leave the window waits for the next counted one). When the judged
transaction itself does not matter (no `amount(...)`, no `counterparty="same"`), only the
latest counted transaction of each account (or customer) in the batch is judged: the
windows end there, and the rule's cool-down makes one alert of a pattern that many
transactions feed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from aml.engines.judging import JudgeMemory
from aml.engines.monitoring_data import AlertDraft, Txn, eur
from aml.expression_policy import ExpressionRule, render_why, rule_key
from aml.rule_language import (
    OP_WORDS,
    Aggregate,
    Amount,
    Arith,
    Baseline,
    Compare,
    Condition,
    Filters,
    Logic,
    Not,
    Number,
    PeerMedian,
    Rule,
    Term,
    Value,
    parse_rule,
    term_words,
)
from core.db import run_sql
from onboarding.engines.reference_data import (
    HIGH_RISK_COUNTRIES,
    MEDIUM_RISK_COUNTRIES,
    PROHIBITED_COUNTRIES,
)

HIGH = sorted({*HIGH_RISK_COUNTRIES, *PROHIBITED_COUNTRIES})
MEDIUM_OR_WORSE = sorted({*HIGH, *MEDIUM_RISK_COUNTRIES})

TIMES = "\u00d7"
_AGGREGATE_SQL = {
    "count": "count(*)",
    "sum": "coalesce(sum(t.amount_eur), 0)",
    "distinct_counterparties": "count(DISTINCT t.counterparty_key)",
    "distinct_countries": "count(DISTINCT t.counterparty_country)",
    "distinct_channels": "count(DISTINCT t.channel)",
}

_FILTERED_SQL = {
    "count": "count(*) FILTER (WHERE {f})",
    "sum": "coalesce(sum(t.amount_eur) FILTER (WHERE {f}), 0)",
    "distinct_counterparties": "count(DISTINCT t.counterparty_key) FILTER (WHERE {f})",
    "distinct_countries": "count(DISTINCT t.counterparty_country) FILTER (WHERE {f})",
    "distinct_channels": "count(DISTINCT t.channel) FILTER (WHERE {f})",
}


class _Sql:
    """One statement being assembled: fragments from the tree, numbers as parameters."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {"high": HIGH, "medium": MEDIUM_OR_WORSE}
        self.scans: dict[str, list[str]] = {"account": [], "customer": []}
        self.reach: dict[str, int] = {}

    def bind(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def filters(self, f: Filters, row: str) -> list[str]:
        out = []
        if f.direction != "any":
            out.append(f"{row}.direction = {self.bind(f.direction)}")
        if f.channel:
            out.append(f"{row}.channel = {self.bind(f.channel)}")
        if f.country_risk:
            out.append(f"{row}.counterparty_country = ANY(:{f.country_risk})")
        if f.min_amount is not None:
            out.append(f"{row}.amount_eur >= {self.bind(f.min_amount)}")
        if f.max_amount is not None:
            out.append(f"{row}.amount_eur <= {self.bind(f.max_amount)}")
        return out

    def piece(self, a: Aggregate, lo: int, hi: int) -> str:
        """`a` over (trigger - lo, trigger - hi] as one column of its scope's single scan."""
        conditions = [f"t.booked_at > g.booked_at - interval '{int(lo)} seconds'"]
        if hi:
            conditions.append(f"t.booked_at <= g.booked_at - interval '{int(hi)} seconds'")
        conditions += self.filters(a.filters, "t")
        if a.filters.same_counterparty:
            conditions.append("t.counterparty_key = g.counterparty_key")
        column = f"a{len(self.scans[a.per])}"
        self.scans[a.per].append(
            _FILTERED_SQL[a.func].format(f=" AND ".join(conditions)) + f" AS {column}"
        )
        self.reach[a.per] = max(self.reach.get(a.per, 0), int(lo))
        return f"s_{a.per}.{column}"

    def scans_sql(self) -> str:
        """One LATERAL pass per scope over the widest window its aggregates need."""
        out = []
        for per, items in self.scans.items():
            if not items:
                continue
            scope = (
                "t.account_id = g.account_id"
                if per == "account"
                else ("t.customer_id = g.customer_id")
            )
            out.append(
                f"CROSS JOIN LATERAL (SELECT {', '.join(items)} FROM transaction t "  # noqa: S608 (fixed fragments, bound values)
                f"WHERE {scope} AND t.booked_at > g.booked_at - interval '{self.reach[per]} seconds' "
                f"AND t.booked_at <= g.booked_at) s_{per}"
            )
        return " ".join(out)

    def term(self, term: Term, peers: dict[PeerMedian, str]) -> str:
        if isinstance(term, Aggregate):
            return self.piece(term, term.seconds, 0)
        if isinstance(term, Amount):
            conditions = self.filters(term.filters, "g") or ["true"]
            return f"(CASE WHEN {' AND '.join(conditions)} THEN g.amount_eur ELSE 0 END)"
        if isinstance(term, Baseline):
            period = term.days * 86_400
            total = self.piece(term.of, term.of.seconds + period, term.of.seconds)
            return f"({total} * {self.bind(Decimal(term.of.seconds) / Decimal(period))})"
        return f"{peers[term]}.v"

    def peer(self, p: PeerMedian) -> str:
        """The statement of one peer median per (segment, day) in `:segments` / `:days`."""
        a = p.of
        group = "t.account_id" if a.per == "account" else "t.customer_id"
        where = [
            "pc.segment = d.segment",
            f"t.booked_at > d.day - interval '{int(a.seconds)} seconds'",
            "t.booked_at <= d.day",
            *self.filters(a.filters, "t"),
        ]
        return (
            "SELECT d.segment, d.day, "  # noqa: S608 (fixed fragments, bound values)
            "CAST(percentile_cont(0.5) WITHIN GROUP (ORDER BY x.v) AS numeric) AS v "
            "FROM unnest(CAST(:segments AS text[]), CAST(:days AS timestamptz[])) AS d(segment, day) "
            f"CROSS JOIN LATERAL (SELECT {_AGGREGATE_SQL[a.func]} AS v FROM transaction t "
            f"JOIN customer pc ON pc.id = t.customer_id WHERE {' AND '.join(where)} "
            f"GROUP BY {group}) x GROUP BY d.segment, d.day"
        )

    def value(self, v: Value, columns: dict[Term, str]) -> str:
        if isinstance(v, Number):
            return f"CAST({self.bind(v.value)} AS numeric)"
        if isinstance(v, Arith):
            left, right = self.value(v.left, columns), self.value(v.right, columns)
            if v.op == "/":
                return f"({left} / NULLIF({right}, 0))"
            return f"({left} {v.op} {right})"
        return columns[v]

    def condition(self, c: Condition, columns: dict[Term, str]) -> str:
        if isinstance(c, Logic):
            return "(" + f" {c.op.upper()} ".join(self.condition(p, columns) for p in c.parts) + ")"
        if isinstance(c, Not):
            return f"(NOT coalesce({self.condition(c.part, columns)}, false))"
        return f"({self.value(c.left, columns)} {c.op} {self.value(c.right, columns)})"


@dataclass(frozen=True)
class CompiledRule:
    slug: str
    version: int
    config: ExpressionRule
    rule: Rule
    sql: str
    params: dict[str, Any]
    approved_at: datetime | None  # when the version took effect (None: a proposal)
    # Each peer median's own statement, computed per (segment, day) and cached a while.
    peers: tuple[tuple[PeerMedian, str, str], ...] = ()  # (term, CTE name, statement)

    @property
    def key(self) -> str:
        return rule_key(self.slug)

    def shadow(self, now: datetime) -> bool:
        """Whether drafts are recorded only: in shadow until approved_at + shadow_days."""
        if self.config.mode != "shadow":
            return False
        if self.config.shadow_days == 0 or self.approved_at is None:
            return True
        return now < self.approved_at + timedelta(days=self.config.shadow_days)


def compile_rule(
    slug: str, version: int, config: ExpressionRule, approved_at: datetime | None
) -> CompiledRule:
    """One rule's statement over the triggers `:ids`; returns (id, segment, v0, v1, …).

    The peer medians come in as arrays (`:<peer>_segment`, `:<peer>_day`, `:<peer>_value`),
    computed beforehand by their own statements.
    """
    rule = parse_rule(config.expression)
    sql = _Sql()
    peers = {t: f"peer{i}" for i, t in enumerate(rule.terms) if isinstance(t, PeerMedian)}
    columns = {t: f"v{i}" for i, t in enumerate(rule.terms)}
    ctes = [
        "g AS (SELECT tx.id, tx.account_id, tx.customer_id, tx.booked_at, tx.amount_eur, "
        "tx.direction, tx.channel, tx.counterparty_country, tx.counterparty_key, c.segment "
        "FROM transaction tx JOIN customer c ON c.id = tx.customer_id WHERE tx.id = ANY(:ids))"
    ]
    ctes += [
        f"{name} AS (SELECT * FROM unnest(CAST(:{name}_segment AS text[]), "  # noqa: S608 (fixed fragments)
        f"CAST(:{name}_day AS timestamptz[]), CAST(:{name}_value AS numeric[])) "
        "AS p(segment, day, v))"
        for name in peers.values()
    ]
    selected = ", ".join(f"{sql.term(t, peers)} AS {columns[t]}" for t in rule.terms)
    joins = " ".join(
        f"LEFT JOIN {name} ON {name}.segment = g.segment "
        f"AND {name}.day = date_trunc('day', g.booked_at)"
        for name in peers.values()
    )
    where = sql.condition(rule.condition, columns)
    statement = (
        f"WITH {', '.join(ctes)}, v AS MATERIALIZED (SELECT g.id, g.segment, {selected} "  # noqa: S608 (fixed fragments, bound values)
        f"FROM g {sql.scans_sql()} {joins}) "
        f"SELECT id, segment, {', '.join(columns.values())} FROM v WHERE coalesce({where}, false)"
    )
    peer_statements = tuple((p, name, sql.peer(p)) for p, name in peers.items())
    return CompiledRule(
        slug, version, config, rule, statement, sql.params, approved_at, peer_statements
    )


# Peer medians per (term, segment, day): the window ends at the start of the day, so the
# figure holds all day; kept PEER_TTL seconds, so a batch every second costs one scan.
PEER_TTL = 600.0
_PEER_CACHE: dict[tuple[str, str, datetime], tuple[Decimal | None, float]] = {}


async def _peer_values(
    session: AsyncSession, compiled: CompiledRule, ids: list[uuid.UUID]
) -> dict[str, Any]:
    """The peer-median parameters of the rule's statement for these triggers."""
    if not compiled.peers:
        return {}
    pairs = [
        (str(r[0]), r[1])
        for r in (
            await run_sql(
                session,
                "SELECT DISTINCT c.segment, date_trunc('day', tx.booked_at) FROM transaction tx "
                "JOIN customer c ON c.id = tx.customer_id WHERE tx.id = ANY(:ids)",
                {"ids": ids},
            )
        ).all()
    ]
    clock = time.monotonic()
    if len(_PEER_CACHE) > 50_000:
        _PEER_CACHE.clear()
    params: dict[str, Any] = {}
    for term, name, statement in compiled.peers:
        label = repr(term)
        missing = [
            pair
            for pair in pairs
            if (hit := _PEER_CACHE.get((label, *pair))) is None or hit[1] < clock
        ]
        if missing:
            found = {
                (str(r[0]), r[1]): r[2]
                for r in (
                    await run_sql(
                        session,
                        statement,
                        {
                            **compiled.params,
                            "segments": [p[0] for p in missing],
                            "days": [p[1] for p in missing],
                        },
                    )
                ).all()
            }
            for pair in missing:
                _PEER_CACHE[(label, *pair)] = (found.get(pair), clock + PEER_TTL)
        params[f"{name}_segment"] = [p[0] for p in pairs]
        params[f"{name}_day"] = [p[1] for p in pairs]
        params[f"{name}_value"] = [_PEER_CACHE[(label, *p)][0] for p in pairs]
    return params


# ----------------------------------------------------------------------------- reasons
def _in_eur(term: Term | None) -> bool:
    if isinstance(term, Amount):
        return True
    if isinstance(term, Baseline | PeerMedian):
        return term.of.func == "sum"
    return isinstance(term, Aggregate) and term.func == "sum"


def _fmt(value: Decimal | None, money: bool) -> str:
    if value is None:
        return "no figure"
    if money:
        return eur(value)
    if value == value.to_integral_value():
        return f"{value:,.0f}".replace(",", " ")
    return f"{value:.1f}"


def _compute(v: Value, values: dict[Term, Decimal | None]) -> Decimal | None:
    if isinstance(v, Number):
        return v.value
    if isinstance(v, Arith):
        left, right = _compute(v.left, values), _compute(v.right, values)
        if left is None or right is None or (v.op == "/" and right == 0):
            return None
        return {"+": left + right, "-": left - right, "*": left * right}.get(v.op) or (left / right)
    return values.get(v)


def _relative(v: Value) -> tuple[Decimal, Baseline | PeerMedian] | None:
    """`3 * peer_median(x)` (either way round) as (3, the relative term)."""
    if isinstance(v, Baseline | PeerMedian):
        return Decimal(1), v
    if isinstance(v, Arith) and v.op == "*":
        for k, t in ((v.left, v.right), (v.right, v.left)):
            if isinstance(k, Number) and isinstance(t, Baseline | PeerMedian):
                return k.value, t
    return None


def _compare_words(c: Compare, values: dict[Term, Decimal | None], segment: str) -> str:
    left = c.left if not isinstance(c.left, Number | Arith) else None
    money = _in_eur(left)
    lval = _compute(c.left, values)
    head = f"{_fmt(lval, money)} {term_words(left)}" if left else _fmt(lval, False)
    relative = _relative(c.right)
    if relative is not None:
        factor, term = relative
        base = values.get(term)
        whose = (
            f"the {segment} segment's median" if isinstance(term, PeerMedian) else "the own average"
        )
        ratio = f"{(lval / base):.1f} {TIMES} " if lval is not None and base else ""
        return (
            f"{head}, {ratio}{whose} of {_fmt(base, money)} "
            f"(rule: {OP_WORDS[c.op]} {_fmt(factor, False)} {TIMES})"
        )
    right = _compute(c.right, values)
    return f"{head} (rule: {OP_WORDS[c.op]} {_fmt(right, money)})"


def reason_words(rule: Rule, values: dict[Term, Decimal | None], segment: str) -> str:
    """The figures behind a firing rule, comparison by comparison, in words."""

    def walk(c: Condition) -> list[str]:
        if isinstance(c, Logic):
            return [w for p in c.parts for w in walk(p)]
        if isinstance(c, Not):
            return walk(c.part)
        return [_compare_words(c, values, segment)]

    return "; ".join(walk(rule.condition))


# ----------------------------------------------------------------------------- the judge
def _counted(t: Txn, f: Filters) -> bool:
    """Whether an aggregate with these filters counts transaction `t`."""
    if f.direction != "any" and t.direction != f.direction:
        return False
    if f.channel and t.channel != f.channel:
        return False
    if f.country_risk:
        codes = HIGH if f.country_risk == "high" else MEDIUM_OR_WORSE
        if (t.counterparty_country or "").upper() not in codes:
            return False
    if f.min_amount is not None and t.eur < f.min_amount:
        return False
    return f.max_amount is None or t.eur <= f.max_amount


def _filters(term: Term) -> Filters:
    return term.filters if isinstance(term, Aggregate | Amount) else term.of.filters


def _triggers(rule: Rule, new: Sequence[Txn]) -> list[Txn]:
    """The transactions the rule is judged at: those one of its terms counts (a rule on money
    in is not judged again when money goes out), and of those only the latest per account
    (or customer) unless the judged transaction itself matters."""
    filters = [_filters(t) for t in rule.terms]
    counted = [t for t in new if any(_counted(t, f) for f in filters)]
    if rule.per_transaction:
        return counted
    by_customer = all(
        (t.per if isinstance(t, Aggregate) else t.of.per) == "customer"
        for t in rule.terms
        if not isinstance(t, Amount)
    )
    latest: dict[uuid.UUID, Txn] = {}
    for t in counted:
        scope = t.customer_id if by_customer else t.account_id
        if scope not in latest or t.order > latest[scope].order:
            latest[scope] = t
    return list(latest.values())


@dataclass
class ExpressionJudge:
    """Every rule written without code, enabled (live or shadow), at one snapshot."""

    rules: list[CompiledRule]
    customers: dict[uuid.UUID, str] = field(default_factory=dict)  # reference, for {customer}
    family: str = "expression"

    def rule_keys(self) -> list[str]:
        return [r.key for r in self.rules]

    async def judge(
        self, session: AsyncSession, new: Sequence[Txn], memory: JudgeMemory | None
    ) -> list[AlertDraft]:
        if not new or not self.rules:
            return []
        last = (
            memory.last_fired if memory is not None else await _last_fired(session, new, self.rules)
        )
        now = datetime.now(tz=new[0].booked_at.tzinfo)
        drafts: list[AlertDraft] = []
        for compiled in self.rules:
            triggers = {t.id: t for t in _triggers(compiled.rule, new)}
            if not triggers:
                continue
            ids = list(triggers)
            peers = await _peer_values(session, compiled, ids)
            rows = (
                await run_sql(session, compiled.sql, {**compiled.params, **peers, "ids": ids})
            ).all()
            fired = sorted(
                ((triggers[row[0]], row) for row in rows), key=lambda pair: pair[0].order
            )
            shadow = compiled.shadow(now)
            for txn, row in fired:
                mark = (txn.account_id, compiled.key)
                previous = last.get(mark)
                if previous is not None and txn.booked_at < previous + timedelta(
                    days=compiled.config.cooldown_days
                ):
                    continue
                last[mark] = txn.booked_at
                drafts.append(self._draft(compiled, txn, row, shadow))
        return drafts

    def _draft(self, compiled: CompiledRule, txn: Txn, row: Any, shadow: bool) -> AlertDraft:
        segment = str(row[1] or "unknown")
        values: dict[Term, Decimal | None] = {
            term: (Decimal(str(v)) if v is not None else None)
            for term, v in zip(compiled.rule.terms, row[2:], strict=True)
        }
        words = reason_words(compiled.rule, values, segment)
        config = compiled.config
        reason = render_why(
            config.why,
            {
                "values": words,
                "title": config.title,
                "segment": segment,
                "customer": self.customers.get(txn.customer_id, "the customer"),
            },
        )
        reason = f"{config.title}: {reason}" if "{title}" not in config.why else reason
        return AlertDraft(
            rule=compiled.key,
            version=compiled.version,
            severity=config.severity,
            trigger=txn,
            transactions=[txn],
            reason=reason[:1000],
            details={
                "triggered_at": txn.booked_at.isoformat(),
                "expression": compiled.rule.source,
                "segment": segment,
                "figures": {
                    term_words(t): (str(v) if v is not None else None) for t, v in values.items()
                },
                "mode": "shadow" if shadow else "live",
            },
            shadow=shadow,
            score=config.score,
        )


async def _last_fired(
    session: AsyncSession, new: Sequence[Txn], rules: Sequence[CompiledRule]
) -> dict[tuple[uuid.UUID, str], datetime]:
    rows = (
        await run_sql(
            session,
            "SELECT account_id, rule_key, max(CAST(details->>'triggered_at' AS timestamptz)) "
            "FROM aml_alert WHERE account_id = ANY(:accounts) AND rule_key = ANY(:rules) "
            "GROUP BY 1, 2",
            {"accounts": list({t.account_id for t in new}), "rules": [r.key for r in rules]},
        )
    ).all()
    return {(row[0], row[1]): row[2] for row in rows if row[2] is not None}
