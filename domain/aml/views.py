"""What AML staff read: the queue per tier, the AML section of a case, the filed SAR, and the
monitoring rules' configuration documents.

Reading only; every change (claim, decide, restrict, propose a rule change) goes through
the existing choke points (domain.tasks, domain.changes, the restrictions module).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import Database, run_sql
from domain.access import can, can_see_case, require
from domain.actors import Actor
from domain.aml.charts import FlowChart, flow_chart
from domain.aml.restrictions import CaseRestrictions, case_restrictions
from domain.aml.rules import REASONS_BY_KIND, TIER_LABELS, TIER_STEPS
from domain.config import list_configs
from domain.errors import Invalid
from domain.inbox import DUE_SOON
from domain.onboarding.accounts import format_iban
from models.aml import AmlAlert, AmlCase, SarReport, Transaction
from models.base import utcnow
from models.cases import Case, Decision, Task, TaskStatus
from models.config import ConfigPublic, ConfigSettingVersion
from models.onboarding import Account, Customer
from models.staff import StaffUser

CASE_TYPE_AML = "aml"
TIERS = tuple(TIER_STEPS)  # l1, l2, closure_approval, mlro
KIND_TIER = {kind: tier for tier, (_, kind, _, _) in TIER_STEPS.items()}
TIER_KIND = {tier: kind for tier, (_, kind, _, _) in TIER_STEPS.items()}
TIER_ROLE = {tier: role for tier, (_, _, role, _) in TIER_STEPS.items()}
QUEUE_SCOPES = ("all", "mine", "available")
CHART_DAYS = 90
TABLE_TRANSACTIONS = 100
RULE_PREFIX = "aml_rule_"


# ----------------------------------------------------------------------------- SLA text
def _span(seconds: int) -> str:
    if seconds < 90 * 60:
        return f"{max(seconds // 60, 1)} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h"
    days, hours = seconds // 86400, seconds % 86400 // 3600
    return f"{days} d {hours} h" if hours else f"{days} d"


def countdown(due_at: datetime, now: datetime) -> str:
    """'due in 5 h' or 'overdue by 2 h'."""
    seconds = int((due_at - now).total_seconds())
    return f"overdue by {_span(-seconds)}" if seconds < 0 else f"due in {_span(seconds)}"


def urgency(created_at: datetime, due_at: datetime, now: datetime) -> str:
    """overdue | due_soon (a quarter of the SLA or four hours left, whichever is more) | ok."""
    if due_at <= now:
        return "overdue"
    if due_at - now <= max(DUE_SOON, (due_at - created_at) / 4):
        return "due_soon"
    return "ok"


# ----------------------------------------------------------------------------- queue
class AmlQueueItem(BaseModel):
    task_id: uuid.UUID
    case_id: uuid.UUID
    case_reference: str
    customer_id: uuid.UUID | None
    customer_reference: str | None
    customer_name: str | None  # None for roles that may not read customers
    tier: str
    tier_label: str
    title: str
    status: str  # open | claimed
    priority: str
    escalation_level: int
    assignee: str | None
    assignee_id: uuid.UUID | None
    created_at: datetime
    due_at: datetime
    sla_state: str  # ok | due_soon | overdue
    sla_text: str
    alert_count: int
    rules: list[str]
    can_claim: bool


class AmlQueuePage(BaseModel):
    items: list[AmlQueueItem]
    total: int
    page: int
    per_page: int
    tiers: list[str]
    scope: str


def default_tiers(actor: Actor) -> list[str]:
    """The tiers the actor works; everyone else (auditors, risk managers) sees them all."""
    mine = [t for t in TIERS if TIER_ROLE[t] in actor.roles]
    return mine or list(TIERS)


def _can_claim(actor: Actor, task: Task) -> bool:
    return (
        task.status == TaskStatus.OPEN
        and task.candidate_role in actor.roles
        and actor.user_id not in task.excluded_actors
        and can(actor, "task", "work")
    )


async def aml_queue(
    db: Database,
    actor: Actor,
    *,
    tiers: list[str] | None = None,
    scope: str = "all",
    priority: str | None = None,
    rule: str | None = None,
    page: int = 1,
    per_page: int = 25,
) -> AmlQueuePage:
    """Open AML tasks of the chosen tiers, most urgent first."""
    await require(db, actor, "aml", "read", action="aml.queue", object_type="aml")
    if scope not in QUEUE_SCOPES:
        raise Invalid("Unknown queue scope.", fields={"scope": "all, mine or available"})
    tiers = [t for t in (tiers or default_tiers(actor)) if t in TIERS]
    if not tiers:
        raise Invalid("Unknown tier.", fields={"tier": ", ".join(TIERS)})
    page, per_page = max(page, 1), min(max(per_page, 1), 100)
    where = ["t.status IN ('open', 'claimed')", "t.kind = ANY(:kinds)"]
    params: dict[str, Any] = {
        "kinds": [TIER_KIND[t] for t in tiers],
        "me": actor.user_id,
        "limit": per_page,
        "offset": (page - 1) * per_page,
    }
    if scope == "mine":
        where.append("t.status = 'claimed' AND t.assignee_id = :me")
    elif scope == "available":
        where.append(
            "t.status = 'open' AND t.candidate_role = ANY(:roles) AND NOT (:me = ANY(t.excluded_actors))"
        )
        params["roles"] = sorted(actor.roles)
    if priority:
        where.append("t.priority = :priority")
        params["priority"] = priority
    if rule:
        where.append(
            "EXISTS (SELECT 1 FROM aml_alert a WHERE a.case_id = t.case_id AND a.rule_key = :rule)"
        )
        params["rule"] = rule
    clause = " AND ".join(where)
    async with db.session() as session:
        total = (
            await run_sql(session, f"SELECT count(*) FROM task t WHERE {clause}", params)  # noqa: S608 (fixed fragments, bound values)
        ).scalar_one()
        ids = [
            r[0]
            for r in (
                await run_sql(
                    session,
                    f"SELECT t.id FROM task t WHERE {clause} "  # noqa: S608
                    "ORDER BY t.due_at, t.id LIMIT :limit OFFSET :offset",
                    params,
                )
            ).all()
        ]
        items = await queue_items(session, actor, ids)
    return AmlQueuePage(
        items=items, total=int(total), page=page, per_page=per_page, tiers=tiers, scope=scope
    )


async def queue_items(
    session: AsyncSession, actor: Actor, ids: list[uuid.UUID]
) -> list[AmlQueueItem]:
    """Queue rows for these task ids, in the given order (AML tasks only)."""
    if not ids:
        return []
    now = utcnow()
    rows = (
        await session.exec(
            select(Task, Case, Customer, StaffUser.username)
            .join(Case, col(Case.id) == Task.case_id)
            .outerjoin(Customer, col(Customer.id) == Case.customer_id)
            .outerjoin(StaffUser, col(StaffUser.id) == Task.assignee_id)
            .where(col(Task.id).in_(ids), col(Task.kind).in_(list(KIND_TIER)))
        )
    ).all()
    case_ids = list({case.id for _, case, _, _ in rows})
    alerts: dict[uuid.UUID, tuple[int, list[str]]] = {}
    if case_ids:
        for case_id, count, rules in (
            await run_sql(
                session,
                "SELECT case_id, count(*), array_agg(DISTINCT rule_key) FROM aml_alert "
                "WHERE case_id = ANY(:ids) GROUP BY case_id",
                {"ids": case_ids},
            )
        ).all():
            alerts[case_id] = (int(count), sorted(rules))
    sees_customer = can(actor, "customer", "read")
    by_id: dict[uuid.UUID, AmlQueueItem] = {}
    for task, case, customer, assignee in rows:
        count, rules = alerts.get(case.id, (0, []))
        tier = KIND_TIER[task.kind]
        by_id[task.id] = AmlQueueItem(
            task_id=task.id,
            case_id=case.id,
            case_reference=case.reference,
            customer_id=customer.id if customer else None,
            customer_reference=customer.reference if customer else None,
            customer_name=customer.name if customer and sees_customer else None,
            tier=tier,
            tier_label=TIER_LABELS[tier],
            title=task.title,
            status=task.status,
            priority=task.priority,
            escalation_level=task.escalation_level,
            assignee=assignee,
            assignee_id=task.assignee_id,
            created_at=task.created_at,
            due_at=task.due_at,
            sla_state=urgency(task.created_at, task.due_at, now),
            sla_text=countdown(task.due_at, now),
            alert_count=count,
            rules=rules,
            can_claim=_can_claim(actor, task),
        )
    return [by_id[i] for i in ids if i in by_id]


async def queue_row(db: Database, actor: Actor, task_id: uuid.UUID) -> AmlQueueItem | None:
    """One queue row (refreshed after a claim or release), or None if not an AML task to see."""
    if not can(actor, "aml", "read"):
        return None
    async with db.session() as session:
        items = await queue_items(session, actor, [task_id])
    return items[0] if items else None


async def known_rules(db: Database) -> list[str]:
    """Rule keys to filter by: the configured rules and any that raised an alert."""
    async with db.session() as session:
        seen = (await run_sql(session, "SELECT DISTINCT rule_key FROM aml_alert")).scalars().all()
        configured = (
            (
                await run_sql(
                    session,
                    "SELECT key FROM config_setting WHERE key LIKE :p",
                    {"p": f"{RULE_PREFIX}%"},
                )
            )
            .scalars()
            .all()
        )
    return sorted({*seen, *(k.removeprefix(RULE_PREFIX) for k in configured)})


# ----------------------------------------------------------------------------- case section
@dataclass
class AlertItem:
    alert: AmlAlert
    transactions: list[Transaction]
    is_new: bool  # arrived after the current task was opened


@dataclass
class TierDecision:
    tier_label: str
    decided_by: str
    outcome: str
    reason_code: str | None
    reason_label: str | None
    rationale: str | None
    decided_at: datetime


@dataclass
class SarClock:
    detected_at: datetime
    due_at: datetime
    state: str  # running | breached | decided | stopped (closed before the MLRO)
    days_left: int | None
    decision: str | None
    decided_at: datetime | None
    on_time: bool | None
    breached_at: datetime | None


@dataclass
class PreviousCase:
    id: uuid.UUID
    reference: str
    status: str
    opened_at: datetime
    closed_at: datetime | None
    outcome: str | None


@dataclass
class AmlCaseView:
    aml: AmlCase
    tier_label: str
    clock: SarClock
    customer: Customer | None  # None when the roles may not read customers
    accounts: list[Account]
    ibans: dict[uuid.UUID, str]  # print form, by account id
    alerts: list[AlertItem]
    current_task_opened: datetime | None
    sees_transactions: bool
    window_start: date
    window_end: date
    charts: list[FlowChart] = field(default_factory=list)
    transactions: list[Transaction] = field(default_factory=list)
    transactions_total: int = 0
    alerted_transaction_ids: set[uuid.UUID] = field(default_factory=set)
    previous: list[PreviousCase] = field(default_factory=list)
    decisions: list[TierDecision] = field(default_factory=list)
    sar_reference: str | None = None
    # The restrictions panel (partials/restriction_panel.html, swapped by its own forms).
    restrictions: CaseRestrictions | None = None


def sar_clock(aml: AmlCase, now: datetime) -> SarClock:
    if aml.sar_decided_at is not None:
        state = "decided"
    elif aml.closed_at is not None:
        state = "stopped"
    elif now > aml.sar_due_at or aml.sar_breached_at is not None:
        state = "breached"
    else:
        state = "running"
    days_left = None
    if state in ("running", "breached"):
        days_left = (
            (aml.sar_due_at - now).days
            if now <= aml.sar_due_at
            else -((now - aml.sar_due_at).days + 1)
        )
    return SarClock(
        detected_at=aml.detected_at,
        due_at=aml.sar_due_at,
        state=state,
        days_left=days_left,
        decision=aml.sar_decision,
        decided_at=aml.sar_decided_at,
        on_time=(aml.sar_decided_at <= aml.sar_due_at) if aml.sar_decided_at else None,
        breached_at=aml.sar_breached_at,
    )


def reason_label(kind: str, outcome: str, code: str | None) -> str | None:
    if not code:
        return None
    return REASONS_BY_KIND.get(kind, {}).get(outcome, {}).get(code, code)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


async def aml_case_view(db: Database, actor: Actor, case: Case) -> AmlCaseView | None:
    """The AML section of a case page (the caller has checked the actor may see the case)."""
    now = utcnow()
    async with db.session() as session:
        aml = await session.get(AmlCase, case.id)
        if aml is None:
            return None
        customer = await session.get(Customer, aml.customer_id)
        accounts = list(
            (
                await session.exec(
                    select(Account)
                    .where(Account.customer_id == aml.customer_id)
                    .order_by(col(Account.opened_at))
                )
            ).all()
        )
        alert_rows = list(
            (
                await session.exec(
                    select(AmlAlert)
                    .where(AmlAlert.case_id == case.id)
                    .order_by(col(AmlAlert.detected_at).desc())
                )
            ).all()
        )
        current = (
            await session.exec(
                select(Task)
                .where(Task.case_id == case.id, col(Task.status).in_(["open", "claimed"]))
                .order_by(col(Task.created_at).desc())
            )
        ).first()
        alerted_ids = {tid for a in alert_rows for tid in a.transaction_ids}
        involved: dict[uuid.UUID, Transaction] = {}
        if alerted_ids:
            for t in (
                await session.exec(select(Transaction).where(col(Transaction.id).in_(alerted_ids)))
            ).all():
                involved[t.id] = t
        end_day = (case.closed_at or now).astimezone(UTC).date()
        start_day = end_day - timedelta(days=CHART_DAYS - 1)
        window = {
            "c": aml.customer_id,
            "start": _day_start(start_day),
            "end": _day_start(end_day + timedelta(days=1)),
        }
        sums = (
            await run_sql(
                session,
                "SELECT (booked_at AT TIME ZONE 'UTC')::date, currency, direction, sum(amount), count(*) "
                'FROM "transaction" WHERE customer_id = :c AND booked_at >= :start AND booked_at < :end '
                "GROUP BY 1, 2, 3",
                window,
            )
        ).all()
        table = list(
            (
                await session.exec(
                    select(Transaction)
                    .where(
                        Transaction.customer_id == aml.customer_id,
                        col(Transaction.booked_at) >= window["start"],
                        col(Transaction.booked_at) < window["end"],
                    )
                    .order_by(col(Transaction.booked_at).desc())
                    .limit(TABLE_TRANSACTIONS)
                )
            ).all()
        )
        previous = [
            PreviousCase(c.id, c.reference, c.status, c.opened_at, c.closed_at, c.outcome)
            for c in (
                await session.exec(
                    select(Case)
                    .where(
                        Case.case_type == CASE_TYPE_AML,
                        Case.customer_id == aml.customer_id,
                        Case.id != case.id,
                    )
                    .order_by(col(Case.opened_at).desc())
                    .limit(20)
                )
            ).all()
        ]
        decisions = [
            TierDecision(
                tier_label=TIER_LABELS.get(KIND_TIER.get(kind, ""), kind),
                decided_by=who or "?",
                outcome=d.outcome,
                reason_code=d.reason_code,
                reason_label=reason_label(kind, d.outcome, d.reason_code),
                rationale=d.comment,
                decided_at=d.decided_at,
            )
            for d, kind, who in (
                await session.exec(
                    select(Decision, Task.kind, StaffUser.display_name)
                    .join(Task, col(Task.id) == Decision.task_id)
                    .outerjoin(StaffUser, col(StaffUser.id) == Decision.actor_id)
                    .where(Decision.case_id == case.id)
                    .order_by(col(Decision.decided_at))
                )
            ).all()
        ]
        sar_reference = (
            await session.exec(select(SarReport.reference).where(SarReport.case_id == case.id))
        ).first()
        restrictions = await case_restrictions(session, case.id)
    ibans = {a.id: format_iban(a.iban) for a in accounts}
    sees_transactions = can(actor, "transaction", "read")
    opened = current.created_at if current else None
    view = AmlCaseView(
        aml=aml,
        tier_label=TIER_LABELS.get(aml.tier, aml.tier.replace("_", " ")),
        clock=sar_clock(aml, now),
        customer=customer if can(actor, "customer", "read") else None,
        accounts=accounts,
        ibans=ibans,
        alerts=[
            AlertItem(
                alert=a,
                transactions=sorted(
                    (involved[t] for t in a.transaction_ids if t in involved),
                    key=lambda t: t.booked_at,
                )
                if sees_transactions
                else [],
                is_new=opened is not None and a.detected_at > opened,
            )
            for a in alert_rows
        ],
        current_task_opened=opened,
        sees_transactions=sees_transactions,
        window_start=start_day,
        window_end=end_day,
        previous=previous,
        decisions=decisions,
        sar_reference=sar_reference,
        restrictions=restrictions,
    )
    if sees_transactions:
        view.transactions = table
        view.transactions_total = sum(int(n) for *_, n in sums)
        view.alerted_transaction_ids = alerted_ids
        view.charts = _flow_charts(sums, alert_rows, end_day)
    return view


def _flow_charts(sums: Any, alerts: list[AmlAlert], end_day: date) -> list[FlowChart]:
    """One chart per currency (amounts of different currencies are never added up)."""
    per_currency: dict[str, dict[date, list[Decimal]]] = defaultdict(dict)
    counts: dict[str, int] = defaultdict(int)
    for day, currency, direction, total, n in sums:
        slot = per_currency[currency].setdefault(day, [Decimal(0), Decimal(0)])
        slot[0 if direction == "in" else 1] += Decimal(total)
        counts[currency] += int(n)
    alert_days = {a.detected_at.astimezone(UTC).date() for a in alerts}
    busiest = sorted(counts, key=lambda c: (-counts[c], c))[:3]
    return [
        flow_chart(
            {d: (v[0], v[1]) for d, v in per_currency[c].items()},
            alert_days,
            end=end_day,
            currency=c,
            span_days=CHART_DAYS,
        )
        for c in busiest
    ] or [flow_chart({}, alert_days, end=end_day, currency="", span_days=CHART_DAYS)]


# ----------------------------------------------------------------------------- SAR
def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def sar_times(data: dict[str, Any]) -> dict[str, Any]:
    """The report's stored ISO timestamps as datetimes, for display (the data stays as filed)."""
    return {
        "filed_at": _when(data.get("filed_at")),
        "detected_at": _when(data.get("detected_at")),
        "sar_due_at": _when(data.get("sar_due_at")),
        "alerts": [_when(a.get("detected_at")) for a in data.get("alerts", [])],
        "transactions": [_when(t.get("booked_at")) for t in data.get("transactions", [])],
    }


async def sar_report(db: Database, actor: Actor, case_id: uuid.UUID) -> SarReport | None:
    """The SAR filed on the case; None when there is none or the actor may not see AML cases."""
    if not can_see_case(actor, CASE_TYPE_AML):
        return None
    async with db.session() as session:
        return (await session.exec(select(SarReport).where(SarReport.case_id == case_id))).first()


# ----------------------------------------------------------------------------- rules
@dataclass
class RuleDocument:
    doc: ConfigPublic
    rule_key: str | None  # None for the case policy document
    enabled: bool | None
    summary: list[tuple[str, str]]
    versions: int


def _short(value: Any) -> str:
    if isinstance(value, list):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, dict):
        text = ", ".join(f"{k}: {v}" for k, v in value.items())
    else:
        text = str(value)
    return text if len(text) <= 80 else text[:77] + "…"


async def rule_documents(db: Database, actor: Actor) -> list[RuleDocument]:
    """Every monitoring rule document (and the case policy) with versions and pending changes."""
    await require(db, actor, "aml", "read", action="aml.rules", object_type="aml")
    await require(db, actor, "config", "read", action="aml.rules", object_type="config")
    async with db.session() as session:
        docs = [
            d
            for d in await list_configs(session)
            if d.key.startswith(RULE_PREFIX) or d.key == "aml_case"
        ]
        counts: dict[uuid.UUID, int] = {
            setting_id: int(n)
            for setting_id, n in (
                await session.exec(
                    select(ConfigSettingVersion.setting_id, func.count()).group_by(
                        col(ConfigSettingVersion.setting_id)
                    )
                )
            ).all()
        }
    out = []
    for doc in sorted(docs, key=lambda d: (d.key == "aml_case", d.key)):
        enabled = doc.values.get("enabled")
        out.append(
            RuleDocument(
                doc=doc,
                rule_key=doc.key.removeprefix(RULE_PREFIX)
                if doc.key.startswith(RULE_PREFIX)
                else None,
                enabled=enabled if isinstance(enabled, bool) else None,
                summary=[(k, _short(v)) for k, v in doc.values.items() if k != "enabled"],
                versions=counts.get(doc.id, 0) if doc.id else 0,
            )
        )
    return out
