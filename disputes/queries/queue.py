"""The disputes queue: disputes with their current scheme deadline, soonest first, for the
queue page and its JSON twin.

A dispute's current deadline is the due date of the stage it is in (the `dispute_stage` row
not yet left). It is ours (we must act) or the merchant's (they must answer); ours within the
policy's `deadline_warning_days`, or past, puts the dispute at risk.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import and_, func, or_
from sqlmodel import col, select

from aml.queries.queue import countdown
from casework import priority as priority_rule
from configuration.documents import load_typed
from core.db import Database
from disputes.policy import DisputePolicy
from disputes.rules import CASE_TYPE_DISPUTE, CATEGORIES, OUTCOMES, STAGES
from identity.access import can, require
from identity.actors import Actor
from models.aml import Transaction
from models.base import utcnow
from models.cases import OPEN_TASK_STATUSES, Case, Task
from models.disputes import Dispute, DisputeStage
from models.money import quantize
from models.onboarding import Customer
from models.staff import StaffUser
from shared.errors import Invalid

STATUSES = ("open", "closed", "all")
MAX_WITHIN_DAYS = 3650


def category_label(category: str) -> str:
    """The short name of a category ('Fraud'), without its explanation."""
    return CATEGORIES.get(category, category).split(" — ")[0]


def stage_label(stage: str) -> str:
    return STAGES.get(stage, stage.replace("_", " ").capitalize())


def at_risk(owner: str | None, due_at: datetime | None, now: datetime, warning_days: int) -> bool:
    """Our deadline is within the warning days, or already past."""
    return owner == "ours" and due_at is not None and due_at - now <= timedelta(days=warning_days)


class DisputeQueueItem(BaseModel):
    case_id: uuid.UUID
    reference: str
    status: str  # open | closed
    stage: str
    stage_label: str
    outcome: str | None
    outcome_label: str | None
    customer_id: uuid.UUID
    customer_reference: str
    customer_name: str | None  # None for roles that may not read customers
    merchant: str | None
    amount: str  # the disputed amount, in the currency's minor units
    currency: str
    category: str
    category_label: str
    scheme: str
    scheme_reason_code: str
    opened_at: datetime
    closed_at: datetime | None
    deadline_at: datetime | None  # the current stage's deadline
    deadline_owner: str | None  # ours | merchant
    deadline_label: str | None
    deadline_text: str | None  # "due in 3 d" | "overdue by 2 h"
    overdue: bool
    at_risk: bool
    priority: str
    task_title: str | None  # the open task of the dispute, if any
    task_status: str | None  # open | claimed
    assignee: str | None


class DisputeQueuePage(BaseModel):
    items: list[DisputeQueueItem]
    total: int
    page: int
    per_page: int
    status: str
    deadline_warning_days: int


def _conditions(
    *,
    status: str,
    stage: str | None,
    category: str | None,
    outcome: str | None,
    within_days: int | None,
    q: str | None,
    now: datetime,
) -> list[Any]:
    fields: dict[str, str] = {}
    if status not in STATUSES:
        fields["status"] = "open, closed or all"
    if stage and stage not in STAGES:
        fields["stage"] = f"one of: {', '.join(STAGES)}"
    if category and category not in CATEGORIES:
        fields["category"] = f"one of: {', '.join(CATEGORIES)}"
    if outcome and outcome not in OUTCOMES:
        fields["outcome"] = f"one of: {', '.join(OUTCOMES)}"
    if within_days is not None and not 0 <= within_days <= MAX_WITHIN_DAYS:
        fields["within"] = f"a number of days from 0 to {MAX_WITHIN_DAYS}"
    if fields:
        raise Invalid("The queue's filters are not valid.", fields=fields)
    conditions: list[Any] = [Case.case_type == CASE_TYPE_DISPUTE]
    if status != "all":
        conditions.append(Case.status == status)
    if stage:
        conditions.append(Case.stage == stage)
    if category:
        conditions.append(Dispute.category == category)
    if outcome:
        conditions.append(Case.outcome == outcome)
    if within_days is not None:
        conditions.append(col(DisputeStage.due_at) <= now + timedelta(days=within_days))
    if q:
        pattern = f"%{q.lower()}%"
        conditions.append(
            or_(
                func.lower(Case.reference).like(pattern),
                func.lower(Customer.name).like(pattern),
                func.lower(Customer.reference).like(pattern),
                func.lower(Transaction.counterparty_name).like(pattern),
            )
        )
    return conditions


def _joined(statement: Any) -> Any:
    """The dispute, its customer, its transaction and its current stage, joined to the case."""
    return (
        statement.join(Dispute, col(Dispute.case_id) == Case.id)
        .join(Customer, col(Customer.id) == Dispute.customer_id)
        .join(Transaction, col(Transaction.id) == Dispute.transaction_id)
        .outerjoin(
            DisputeStage,
            and_(col(DisputeStage.case_id) == Case.id, col(DisputeStage.left_at).is_(None)),
        )
    )


async def dispute_queue(
    db: Database,
    actor: Actor,
    *,
    status: str = "open",
    stage: str | None = None,
    category: str | None = None,
    outcome: str | None = None,
    within_days: int | None = None,
    q: str | None = None,
    page: int = 1,
    per_page: int = 25,
) -> DisputeQueuePage:
    """Disputes matching the filters (open ones by default), most urgent first: the priority
    of the open task (casework/priority.py), then the soonest deadline."""
    await require(db, actor, "dispute", "read", action="dispute.queue", object_type="dispute")
    now = utcnow()
    conditions = _conditions(
        status=status,
        stage=stage,
        category=category,
        outcome=outcome,
        within_days=within_days,
        q=(q or "").strip() or None,
        now=now,
    )
    page, per_page = max(page, 1), min(max(per_page, 1), 100)
    _, policy = await load_typed(db, "disputes", DisputePolicy)
    open_urgency = priority_rule.open_urgency(Case.id, Case)
    async with db.session() as session:
        total = (
            await session.exec(_joined(select(func.count(col(Case.id)))).where(*conditions))
        ).one()
        rows = (
            await session.exec(
                _joined(select(Case, Dispute, Customer, Transaction))
                .where(*conditions)
                .order_by(
                    open_urgency.desc().nulls_last(),
                    col(DisputeStage.due_at).asc().nulls_last(),
                    col(Case.opened_at).desc(),
                    col(Case.id),
                )
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
        ).all()
        case_ids = [r[0].id for r in rows]
        tasks: dict[uuid.UUID, tuple[Task, str | None]] = {}
        ranks: dict[uuid.UUID, list[int]] = {}
        stages: dict[uuid.UUID, DisputeStage] = {}
        if rows:
            for row in (
                await session.exec(
                    select(DisputeStage).where(
                        col(DisputeStage.case_id).in_(case_ids), col(DisputeStage.left_at).is_(None)
                    )
                )
            ).all():
                stages[row.case_id] = row
            for open_task, holder in (
                await session.exec(
                    select(Task, StaffUser.username)
                    .outerjoin(StaffUser, col(StaffUser.id) == Task.assignee_id)
                    .where(
                        col(Task.case_id).in_(case_ids),
                        col(Task.status).in_(OPEN_TASK_STATUSES),
                    )
                    .order_by(col(Task.created_at))
                )
            ).all():
                tasks[open_task.case_id] = (open_task, holder)  # the latest open one wins
                ranks.setdefault(open_task.case_id, []).append(open_task.urgency)
    sees_customer = can(actor, "customer", "read")
    items = []
    for case, dispute, customer, txn in rows:
        current = stages.get(case.id)
        due = current.due_at if current else None
        owner = current.deadline_owner if current else None
        task, assignee = tasks.get(case.id, (None, None))
        items.append(
            DisputeQueueItem(
                case_id=case.id,
                reference=case.reference,
                status=case.status,
                stage=case.stage,
                stage_label=stage_label(case.stage),
                outcome=case.outcome,
                outcome_label=OUTCOMES.get(case.outcome) if case.outcome else None,
                customer_id=customer.id,
                customer_reference=customer.reference,
                customer_name=customer.name if sees_customer else None,
                merchant=txn.counterparty_name,
                amount=str(quantize(dispute.amount, dispute.currency)),
                currency=dispute.currency,
                category=dispute.category,
                category_label=category_label(dispute.category),
                scheme=dispute.scheme,
                scheme_reason_code=dispute.scheme_reason_code,
                opened_at=case.opened_at,
                closed_at=case.closed_at,
                deadline_at=due,
                deadline_owner=owner if due else None,
                deadline_label=current.deadline_label if current and due else None,
                deadline_text=countdown(due, now) if due else None,
                overdue=due is not None and due <= now,
                at_risk=at_risk(owner, due, now, policy.deadline_warning_days),
                priority=priority_rule.case_priority(
                    case.priority, case.risk_level, ranks.get(case.id, [])
                ),
                task_title=task.title if task else None,
                task_status=task.status if task else None,
                assignee=assignee if task and task.status == "claimed" else None,
            )
        )
    return DisputeQueuePage(
        items=items,
        total=int(total),
        page=page,
        per_page=per_page,
        status=status,
        deadline_warning_days=policy.deadline_warning_days,
    )
