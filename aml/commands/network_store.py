"""The `network` judge: network typologies over the batch's neighbourhood in the money graph.

For a batch (transactions already inserted): the flows of `aml_money_flow` the batch books
are the triggers; the flows around them are loaded in a few set-based reads, hop by hop
from the triggers' accounts (three hops: enough for a cycle of six accounts seen from both
ends), each hop only as far back as the typologies needing it look; the search itself is
`aml.engines.network`. Funnel accounts (cash in, wire out) are read from the transaction
table. Nothing here reads or writes alerts: a live run and a dry run (backtest) differ only
in who stores the drafts, and a pattern's dedupe key makes it one alert however often it
is judged.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from math import ceil
from typing import Any

from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from aml.engines.judging import Judge, JudgeMemory
from aml.engines.monitoring_data import AlertDraft, Txn, eur
from aml.engines.network import (
    Flow,
    FlowGraph,
    Funnel,
    Pattern,
    digest,
    find_patterns,
    funnel,
)
from aml.network_policy import CONFIG_KEY, NetworkPolicy, Typology, rule_key, typologies
from configuration.documents import validated
from core.db import Database, fetch_tuples, run_sql
from models.base import utcnow

HOPS = 3
# Typologies whose pattern reaches beyond the trigger's own two accounts' flows.
FAR_REACHING = ("round_trip", "scatter_gather", "bipartite", "stack", "chain")

# The rows of `aml_money_flow` (migration 0025), read from the transaction table with the
# view's own rule -- a transfer counts once: the sender's out leg, else the receiver's in
# leg when the out leg is not booked here -- so each read is one indexed scan (through the
# view's UNION the planner scanned the booked_at range of the whole table).
FLOWS = (
    "SELECT t.id, t.external_id, t.account_id, t.customer_id, t.booked_at, t.amount, "
    "t.currency, t.direction, t.channel, t.counterparty_name, t.counterparty_account, "
    "t.counterparty_country, t.counterparty_account_id, a.customer_id, own.reference, "
    "own.kind, other.reference, other.kind "
    "FROM transaction t JOIN account a ON a.id = t.counterparty_account_id "
    "JOIN customer own ON own.id = t.customer_id JOIN customer other ON other.id = a.customer_id "
    "WHERE t.counterparty_account_id <> t.account_id AND (t.direction = 'out' OR NOT EXISTS ("
    "SELECT 1 FROM transaction o WHERE o.account_id = t.counterparty_account_id "
    "AND o.counterparty_account_id = t.account_id AND o.direction = 'out' "
    "AND o.amount = t.amount AND o.currency = t.currency "
    "AND o.booked_at BETWEEN t.booked_at - interval '3 days' AND t.booked_at + interval '3 days')) "
)


@dataclass
class Neighbourhood:
    """The flows loaded for a batch, and who owns the accounts they touch."""

    flows: dict[uuid.UUID, Flow] = field(default_factory=dict)
    references: dict[uuid.UUID, str] = field(default_factory=dict)
    business: set[uuid.UUID] = field(default_factory=set)

    def add(self, row: Sequence[Any]) -> Flow | None:
        """The row's flow when it is new here."""
        if row[0] in self.flows:
            return None
        txn = Txn(
            id=row[0],
            external_id=row[1],
            account_id=row[2],
            customer_id=row[3],
            booked_at=row[4],
            amount=row[5],
            currency=row[6],
            direction=row[7],
            channel=row[8],
            counterparty_name=row[9],
            counterparty_account=row[10],
            counterparty_country=row[11],
        )
        own = (row[2], row[3], row[14], row[15])
        other = (row[12], row[13], row[16], row[17])
        src, dst = (own, other) if txn.direction == "out" else (other, own)
        flow = Flow(txn, src[0], dst[0], src[1], dst[1])
        self.flows[row[0]] = flow
        for account, _, reference, kind in (src, dst):
            self.references[account] = reference
            if kind == "business":
                self.business.add(account)
        return flow


async def load_triggers(
    session: AsyncSession, new: Sequence[Txn], where: Neighbourhood
) -> list[Flow]:
    """The flows between our accounts that the batch's transactions book."""
    rows = await fetch_tuples(
        session,
        FLOWS + "AND t.id = ANY(%(ids)s)",
        {"ids": [t.id for t in new]},
    )
    return [flow for row in rows if (flow := where.add(row)) is not None]


async def load_neighbourhood(
    session: AsyncSession,
    triggers: Sequence[Flow],
    hops: Sequence[tuple[timedelta, float]],
    where: Neighbourhood,
) -> None:
    """Flows touching the triggers' accounts, then their neighbours' (one read per hop);
    hop i reaches back `hops[i][0]` before the earliest trigger and reads flows of at least
    `hops[i][1]` EUR. A business customer's account is not walked through beyond the first
    hop: payroll and takings would bring in half the book."""
    if not triggers:
        return
    first = min(f.at for f in triggers)
    last = max(f.at for f in triggers)
    seen: set[uuid.UUID] = set()
    frontier = {a for f in triggers for a in (f.src, f.dst)}
    for hop, (window, floor) in enumerate(hops):
        frontier -= seen
        if hop > 0:
            frontier -= where.business
        if not frontier or window <= timedelta(0):
            break
        seen |= frontier
        params = {"accounts": list(frontier), "lo": first - window, "hi": last, "floor": floor}
        rows = await fetch_tuples(
            session,
            FLOWS + "AND t.account_id = ANY(%(accounts)s) AND t.booked_at >= %(lo)s "
            "AND t.booked_at <= %(hi)s AND t.amount_eur >= %(floor)s UNION ALL "
            + FLOWS
            + "AND t.counterparty_account_id = ANY(%(accounts)s) "
            "AND NOT t.account_id = ANY(%(accounts)s) AND t.booked_at >= %(lo)s "
            "AND t.booked_at <= %(hi)s AND t.amount_eur >= %(floor)s",
            params,
        )
        reached: set[uuid.UUID] = set()
        for row in rows:
            flow = where.add(row)
            if flow is not None:
                reached.update((flow.src, flow.dst))
        frontier = reached


async def load_receivers_past(
    session: AsyncSession,
    triggers: Sequence[Flow],
    near: timedelta,
    far: timedelta,
    floor: float,
    where: Neighbourhood,
) -> None:
    """Money paid into the triggers' receivers from `far` to `near` before the earliest
    trigger (what the first hop did not read): a long fan-in window for one read."""
    if far <= near or not triggers:
        return
    first = min(f.at for f in triggers)
    receivers = list({f.dst for f in triggers})
    params = {"accounts": receivers, "lo": first - far, "hi": first - near, "floor": floor}
    rows = await fetch_tuples(
        session,
        FLOWS + "AND t.direction = 'out' AND t.counterparty_account_id = ANY(%(accounts)s) "
        "AND t.booked_at >= %(lo)s AND t.booked_at < %(hi)s AND t.amount_eur >= %(floor)s "
        "UNION ALL " + FLOWS + "AND t.direction = 'in' AND t.account_id = ANY(%(accounts)s) "
        "AND t.booked_at >= %(lo)s AND t.booked_at < %(hi)s AND t.amount_eur >= %(floor)s",
        params,
    )
    for row in rows:
        where.add(row)


async def load_cash_history(
    session: AsyncSession, wires: Sequence[Txn], window: timedelta
) -> dict[uuid.UUID, list[Txn]]:
    """Cash deposits of the wiring accounts in the window before their wires."""
    if not wires:
        return {}
    rows = await fetch_tuples(
        session,
        "SELECT id, external_id, account_id, customer_id, booked_at, amount, currency "
        "FROM transaction WHERE account_id = ANY(%(accounts)s) AND direction = 'in' "
        "AND channel = 'cash' AND booked_at >= %(lo)s AND booked_at <= %(hi)s",
        {
            "accounts": list({w.account_id for w in wires}),
            "lo": min(w.booked_at for w in wires) - window,
            "hi": max(w.booked_at for w in wires),
        },
    )
    out: dict[uuid.UUID, list[Txn]] = defaultdict(list)
    for r in rows:
        out[r[2]].append(Txn(r[0], r[1], r[2], r[3], r[4], r[5], r[6], "in", "cash"))
    for txns in out.values():
        txns.sort(key=lambda t: t.order)
    return out


async def account_owners(
    session: AsyncSession, accounts: set[uuid.UUID]
) -> tuple[dict[uuid.UUID, str], set[uuid.UUID]]:
    """Each account's customer reference (CUS-000123, as an alert names it), and which of
    the accounts are business customers'."""
    if not accounts:
        return {}, set()
    rows = await fetch_tuples(
        session,
        "SELECT a.id, c.reference, c.kind FROM account a JOIN customer c "
        "ON c.id = a.customer_id WHERE a.id = ANY(%(ids)s)",
        {"ids": list(accounts)},
    )
    return {row[0]: row[1] for row in rows}, {row[0] for row in rows if row[2] == "business"}


# --- words ---------------------------------------------------------------------------------


def _days(span: timedelta) -> str:
    days = max(1, ceil(span.total_seconds() / 86_400))
    return f"{days} day{'s' if days != 1 else ''}"


def _hours(span: timedelta) -> str:
    hours = max(1, ceil(span.total_seconds() / 3_600))
    return f"{hours} hour{'s' if hours != 1 else ''}"


def pattern_words(p: Pattern, refs: dict[uuid.UUID, str]) -> str:
    """What an analyst reads: "Round trip of 4 200 EUR through 4 accounts in 3 days: …"."""
    names = [refs.get(a, str(a)[:8]) for a in p.accounts]
    path = " → ".join([*names, names[0]] if p.closes else names)
    count = len(p.accounts)
    if p.typology == "round_trip":
        return (
            f"Round trip of {eur(round(p.amount_eur))} through {count} accounts "
            f"in {_days(p.span)}: {path}"
        )
    if p.typology == "chain":
        return (
            f"Layering chain: {eur(round(p.amount_eur))} passed through {count} accounts "
            f"in {_hours(p.span)}: {path}"
        )
    if p.typology == "fan_out":
        return (
            f"Fan-out: {names[0]} paid {count - 1} accounts of ours {eur(round(p.amount_eur))} "
            f"in {_days(p.span)}: {', '.join(names[1:])}"
        )
    if p.typology == "fan_in":
        return (
            f"Fan-in: {count - 1} accounts of ours paid {names[-1]} {eur(round(p.amount_eur))} "
            f"in {_days(p.span)}: {', '.join(names[:-1])}"
        )
    if p.typology == "scatter_gather":
        return (
            f"Scatter-gather: {names[0]} paid {count - 2} accounts {eur(round(p.amount_eur))}, "
            f"which all paid {names[-1]}, in {_days(p.span)}: {', '.join(names[1:-1])}"
        )
    if p.typology == "gather_scatter":
        hub = p.trigger.src
        return (
            f"Gather-scatter through {refs.get(hub, str(hub)[:8])}: "
            f"{eur(round(p.amount_eur))} gathered and paid on among {count} accounts "
            f"in {_days(p.span)}: {', '.join(names)}"
        )
    title = "Bipartite flow" if p.typology == "bipartite" else "Stacked flow"
    return (
        f"{title}: {eur(round(p.amount_eur))} among {count} accounts in layers, "
        f"in {_days(p.span)}: {', '.join(names)}"
    )


def network_details(p: Pattern, refs: dict[uuid.UUID, str]) -> dict[str, Any]:
    customers: dict[uuid.UUID, uuid.UUID] = {}
    for f in p.flows:
        customers[f.src] = f.src_customer
        customers[f.dst] = f.dst_customer
    return {
        "typology": p.typology,
        "accounts": [str(a) for a in p.accounts],
        "customers": [str(customers.get(a, "")) for a in p.accounts],
        "references": [refs.get(a, "") for a in p.accounts],
        "closes": p.closes,
        "edges": [
            {
                "from": str(f.src),
                "to": str(f.dst),
                "amount": f"{f.txn.amount:.2f}",
                "currency": f.txn.currency,
                "amount_eur": str(round(f.txn.eur, 2)),
                "booked_at": f.at.isoformat(),
                "transaction_id": str(f.txn.id),
            }
            for f in p.flows
        ],
    }


# --- the judge -----------------------------------------------------------------------------


class NetworkJudge:
    """The network typologies (`aml_network`) at one configuration snapshot."""

    family = "network"

    def __init__(
        self, policy: BaseModel, version: int, approved_at: datetime | None = None
    ) -> None:
        self.version = version
        self.approved_at = approved_at
        self.typologies = [t for t in typologies(policy) if t.enabled]

    def rule_keys(self) -> list[str]:
        return [t.rule for t in self.typologies]

    def shadow(self, t: Typology) -> bool:
        if t.mode != "shadow":
            return False
        if t.shadow_days == 0 or self.approved_at is None:
            return True
        return utcnow() < self.approved_at + timedelta(days=t.shadow_days)

    def _hops(self) -> list[tuple[timedelta, float]]:
        """How far back each hop reaches and the smallest amount it reads: the first for
        every typology, the others for those reaching beyond the trigger's accounts."""
        hops = []
        for hop in range(HOPS):
            needed = [
                t
                for t in self.typologies
                if t.name not in ("funnel", "fan_in") and (hop == 0 or t.name in FAR_REACHING)
            ]
            window = max((t.window_seconds for t in needed), default=0)
            floor = min((t.min_amount_eur for t in needed), default=0.0)
            hops.append((timedelta(seconds=window), floor))
        return hops

    def _long_reach(self) -> tuple[timedelta, timedelta, float] | None:
        """Fan-in looks back months: only into the triggers' receivers, from where the
        first hop stops (`_hops` leaves fan-in out) to the fan-in window, at its floor."""
        fan_in = next((t for t in self.typologies if t.name == "fan_in"), None)
        if fan_in is None:
            return None
        others = [t.window_seconds for t in self.typologies if t.name not in ("fan_in", "funnel")]
        return (
            timedelta(seconds=max(others, default=0)),
            timedelta(seconds=fan_in.window_seconds),
            fan_in.min_amount_eur,
        )

    async def judge(
        self, session: AsyncSession, new: Sequence[Txn], memory: JudgeMemory | None
    ) -> list[AlertDraft]:
        if not new or not self.typologies:
            return []
        by_id = {t.id: t for t in new}
        graph_types = [t for t in self.typologies if t.name != "funnel"]
        drafts: list[AlertDraft] = []
        patterns: list[Pattern] = []
        where = Neighbourhood()
        refs = where.references
        if graph_types:
            # A payment under every typology's floor completes no pattern: its accounts
            # need no neighbourhood (most transfers between friends are small).
            floor = min(t.min_amount_eur for t in graph_types)
            triggers = [f for f in await load_triggers(session, new, where) if f.eur >= floor]
            if triggers:
                await load_neighbourhood(session, triggers, self._hops(), where)
                reach = self._long_reach()
                if reach is not None:
                    await load_receivers_past(session, triggers, *reach, where)
                graph = FlowGraph(where.flows.values(), where.business)
                patterns = find_patterns(graph, triggers, graph_types)
        funnel_type = next((t for t in self.typologies if t.name == "funnel"), None)
        funnels: list[Funnel] = []
        if funnel_type is not None:
            wires = [
                t
                for t in new
                if t.direction == "out"
                and t.channel not in ("cash", "card")
                and float(t.eur) >= funnel_type.min_amount_eur
            ]
            history = await load_cash_history(
                session, wires, timedelta(seconds=funnel_type.window_seconds)
            )
            for wire in sorted(wires, key=lambda t: t.order):
                found = funnel(history.get(wire.account_id, []), wire, funnel_type)
                if found is not None:
                    funnels.append(found)
        wiring = {f.wire.account_id for f in funnels} - set(refs)
        if wiring:
            refs.update((await account_owners(session, wiring))[0])
        kinds = {t.name: t for t in self.typologies}
        for p in patterns:
            t = kinds[p.typology]
            trigger = by_id.get(p.trigger.txn.id, p.trigger.txn)
            others = [f.txn for f in p.flows if f.txn.id != trigger.id]
            drafts.append(
                AlertDraft(
                    rule=t.rule,
                    version=self.version,
                    severity=t.severity,
                    trigger=trigger,
                    transactions=[*sorted(others, key=lambda x: x.order), trigger],
                    reason=pattern_words(p, refs),
                    details={
                        "network": network_details(p, refs),
                        "triggered_at": trigger.booked_at.isoformat(),
                    },
                    shadow=self.shadow(t),
                    score=t.score,
                    key=f"{t.rule}:{p.key}",
                )
            )
        if funnel_type is not None:
            for f in funnels:
                drafts.append(self._funnel_draft(funnel_type, f, refs))
        return drafts

    def _funnel_draft(self, t: Typology, f: Funnel, refs: dict[uuid.UUID, str]) -> AlertDraft:
        wire = f.wire
        cash = sum((d.eur for d in f.deposits), Decimal(0))
        who = refs.get(wire.account_id, "")
        span = wire.booked_at - f.deposits[0].booked_at
        reason = (
            f"Funnel account: {len(f.deposits)} cash deposits of {eur(round(cash))} "
            f"into {who} in {_hours(span)}, then {eur(round(wire.eur))} wired out "
            f"({wire.channel}) to {wire.counterparty_name or wire.counterparty_account or '—'}"
        )
        return AlertDraft(
            rule=t.rule,
            version=self.version,
            severity=t.severity,
            trigger=wire,
            transactions=[*f.deposits, wire],
            reason=reason,
            details={
                "network": {
                    "typology": "funnel",
                    "accounts": [str(wire.account_id)],
                    "customers": [str(wire.customer_id)],
                    "references": [who],
                    "closes": False,
                    "edges": [],
                },
                "cash_deposits": len(f.deposits),
                "cash_eur": str(round(cash, 2)),
                "triggered_at": wire.booked_at.isoformat(),
            },
            shadow=self.shadow(t),
            score=t.score,
            key=f"{t.rule}:{digest(wire.account_id, wire.id)}",
        )


async def load_network_policy(
    db: Database, overrides: dict[str, Any] | None = None
) -> tuple[BaseModel, int, datetime | None]:
    """The document in force (or as proposed), its version and when it was approved."""
    async with db.session() as session:
        row = (
            await run_sql(
                session,
                "SELECT v.version, v.values, v.created_at FROM config_setting s "
                "JOIN config_setting_version v ON v.setting_id = s.id "
                "AND v.version = s.current_version WHERE s.key = :key",
                {"key": CONFIG_KEY},
            )
        ).first()
    version = row.version if row else 0
    if overrides is not None and CONFIG_KEY in overrides:
        proposed = overrides[CONFIG_KEY]
        if proposed is None:
            return NetworkPolicy(**_all_off()), version + 1, None
        return validated(CONFIG_KEY, proposed), version + 1, utcnow()
    if row is None:
        return NetworkPolicy(), 0, None
    return validated(CONFIG_KEY, row.values), version, row.created_at


def _all_off() -> dict[str, Any]:
    return {f"{t.name}_enabled": False for t in typologies(NetworkPolicy())}


async def network_judges(db: Database, overrides: Any) -> list[Judge]:
    policy, version, approved_at = await load_network_policy(db, dict(overrides))
    return [NetworkJudge(policy, version, approved_at)]


__all__ = ["NetworkJudge", "network_judges", "rule_key"]
