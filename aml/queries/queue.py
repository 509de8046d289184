"""The AML queue per tier: open tasks with SLA countdowns, for the queue page and its JSON twin."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from aml.rule_policy import CONFIG_PREFIX
from aml.rules import TIER_LABELS, TIER_STEPS
from casework import priority as priority_rule
from casework.segregation import candidate_values, holds_candidate_role
from casework.snooze import NOT_SNOOZED_SQL
from core.db import Database, run_sql
from identity.access import can, require
from identity.actors import Actor
from models.base import utcnow
from models.cases import Case, Task, TaskStatus
from models.onboarding import Customer
from models.staff import StaffUser
from shared.errors import Invalid

TIERS = tuple(TIER_STEPS)  # l1, l2, closure_approval, mlro
KIND_TIER = {kind: tier for tier, (_, kind, _, _) in TIER_STEPS.items()}
TIER_KIND = {tier: kind for tier, (_, kind, _, _) in TIER_STEPS.items()}
TIER_ROLE = {tier: role for tier, (_, _, role, _) in TIER_STEPS.items()}
QUEUE_SCOPES = ("all", "mine", "available")
# The case's priority score (aml.engines.priority) breaks ties within a priority.
_SCORE_SQL = "coalesce((SELECT ac.priority_score FROM aml_case ac WHERE ac.case_id = t.case_id), 0)"
QUEUE_SORTS: dict[str, str] = {
    "priority": f"t.urgency DESC, {_SCORE_SQL} DESC, t.due_at, t.id",
    "priority_asc": f"t.urgency, {_SCORE_SQL}, t.due_at DESC, t.id DESC",
    "due": "t.due_at, t.id",
}
DEFAULT_SORT = "priority"
CHART_DAYS = 90
TABLE_TRANSACTIONS = 100


# ----------------------------------------------------------------------------- SLA text
# The one SLA rule (casework/priority.py); kept under these names for their importers.
countdown = priority_rule.countdown


def urgency(created_at: datetime, due_at: datetime, now: datetime) -> str:
    """overdue | due_soon | ok (casework.priority.sla_state of an open task)."""
    return priority_rule.sla_state("open", created_at, due_at, now)


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
    priority_score: int  # the case's score of its alerts and customer (0-100)
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
    sort: str = DEFAULT_SORT


def default_tiers(actor: Actor) -> list[str]:
    """The tiers the actor works; everyone else (auditors, risk managers) sees them all."""
    mine = [t for t in TIERS if TIER_ROLE[t] in actor.roles]
    return mine or list(TIERS)


def _can_claim(actor: Actor, task: Task) -> bool:
    return (
        task.status == TaskStatus.OPEN
        and holds_candidate_role(task.candidate_role, actor.roles)
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
    sort: str = DEFAULT_SORT,
) -> AmlQueuePage:
    """Open AML tasks of the chosen tiers, most urgent first (priority, then the case's
    priority score, then due); `sort`: priority | priority_asc | due."""
    await require(db, actor, "aml", "read", action="aml.queue", object_type="aml")
    if scope not in QUEUE_SCOPES:
        raise Invalid("Unknown queue scope.", fields={"scope": "all, mine or available"})
    if sort not in QUEUE_SORTS:
        raise Invalid("Unknown queue order.", fields={"sort": ", ".join(QUEUE_SORTS)})
    tiers = [t for t in (tiers or default_tiers(actor)) if t in TIERS]
    if not tiers:
        raise Invalid("Unknown tier.", fields={"tier": ", ".join(TIERS)})
    page, per_page = max(page, 1), min(max(per_page, 1), 100)
    # A snoozed case's tasks wait for its date (casework/snooze.py): out of the queue.
    where = ["t.status IN ('open', 'claimed')", "t.kind = ANY(:kinds)", NOT_SNOOZED_SQL]
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
        params["roles"] = candidate_values(actor.roles)
    if priority:
        where.append("t.urgency = :urgency")
        params["urgency"] = priority_rule.rank(priority)
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
                    f"ORDER BY {QUEUE_SORTS[sort]} LIMIT :limit OFFSET :offset",
                    params,
                )
            ).all()
        ]
        items = await queue_items(session, actor, ids)
    return AmlQueuePage(
        items=items,
        total=int(total),
        page=page,
        per_page=per_page,
        tiers=tiers,
        scope=scope,
        sort=sort,
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
    scores: dict[uuid.UUID, int] = {}
    if case_ids:
        scores = {
            r.case_id: int(r.priority_score)
            for r in (
                await run_sql(
                    session,
                    "SELECT case_id, priority_score FROM aml_case WHERE case_id = ANY(:ids)",
                    {"ids": case_ids},
                )
            ).all()
        }
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
            priority=priority_rule.task_priority(
                task.priority, task.escalation_level, case.risk_level
            ),
            priority_score=scores.get(case.id, 0),
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
                    {"p": f"{CONFIG_PREFIX}%"},
                )
            )
            .scalars()
            .all()
        )
    return sorted({*seen, *(k.removeprefix(CONFIG_PREFIX) for k in configured)})
