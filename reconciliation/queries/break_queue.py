"""The breaks queue: breaks the oldest first, with their age, case, open task and any pending
write-off, filtered by status, kind, source, age bucket, statement and search.

list_breaks checks `reconciliation` / `read` first (audited when refused).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import any_, exists, func, or_, tuple_
from sqlmodel import col, select

from aml.queries.queue import countdown
from casework import priority as priority_rule
from core.db import Database
from identity.access import can_see_case, require
from identity.actors import Actor
from models.aml import Transaction
from models.base import utcnow
from models.cases import OPEN_TASK_STATUSES, Case, Task
from models.reconciliation import (
    BREAK_KINDS,
    RESOLUTIONS,
    ReconBreak,
    ReconLine,
    ReconSource,
    ReconStatement,
    ReconWriteOff,
)
from models.staff import StaffUser
from reconciliation.queries.ageing import AGE_BUCKETS, AGE_LABELS, age_bucket, age_conditions
from reconciliation.queries.amounts import amount_text
from shared.errors import Invalid

BREAK_STATUSES = ("open", "resolved", "all")


class BreakItem(BaseModel):
    id: uuid.UUID
    kind: str
    kind_label: str
    status: str  # open | resolved
    resolution: str | None
    resolution_label: str | None
    amount: str  # signed
    difference: str
    currency: str
    booked_on: date
    created_at: datetime
    age_days: int
    age_bucket: str
    age_label: str
    statement_id: uuid.UUID
    statement_reference: str
    source_id: uuid.UUID
    source_name: str
    case_id: uuid.UUID | None
    case_reference: str | None
    case_visible: bool  # the reader may open the case
    reference: str | None  # the first line's reference, or the first record's id
    counterparty: str | None
    line_nos: list[int]
    record_count: int
    candidates: int
    task_title: str | None
    task_status: str | None  # open | claimed
    task_priority: str | None
    task_due_at: datetime | None
    task_due_text: str | None
    overdue: bool
    assignee: str | None
    write_off_pending: bool


class BreakPage(BaseModel):
    items: list[BreakItem]
    total: int
    page: int
    per_page: int
    status: str


def _break_conditions(
    *,
    status: str,
    kind: str | None,
    source_id: uuid.UUID | None,
    age: str | None,
    search: str | None,
    statement_id: uuid.UUID | None,
    now: datetime,
) -> list[Any]:
    fields: dict[str, str] = {}
    if status not in BREAK_STATUSES:
        fields["status"] = "open, resolved or all"
    if kind and kind not in BREAK_KINDS:
        fields["kind"] = f"one of: {', '.join(BREAK_KINDS)}"
    if age and age not in AGE_BUCKETS:
        fields["age"] = f"one of: {', '.join(AGE_BUCKETS)}"
    if fields:
        raise Invalid("The queue's filters are not valid.", fields=fields)
    conditions: list[Any] = []
    if status != "all":
        conditions.append(col(ReconBreak.status) == status)
    if kind:
        conditions.append(col(ReconBreak.kind) == kind)
    if source_id:
        conditions.append(col(ReconBreak.source_id) == source_id)
    if statement_id:
        conditions.append(col(ReconBreak.statement_id) == statement_id)
    if age:
        conditions += age_conditions(age, now)
    if search:
        pattern = f"%{search}%"
        line_hit = exists().where(
            col(ReconLine.statement_id) == ReconBreak.statement_id,
            col(ReconLine.line_no) == any_(col(ReconBreak.line_nos)),
            or_(
                col(ReconLine.reference).ilike(pattern),
                col(ReconLine.counterparty_name).ilike(pattern),
            ),
        )
        record_hit = exists().where(
            col(Transaction.id) == any_(col(ReconBreak.record_ids)),
            or_(
                col(Transaction.external_id).ilike(pattern),
                col(Transaction.counterparty_name).ilike(pattern),
            ),
        )
        conditions.append(
            or_(
                col(Case.reference).ilike(pattern),
                col(ReconStatement.reference).ilike(pattern),
                line_hit,
                record_hit,
            )
        )
    return conditions


def _joined(statement: Any) -> Any:
    return (
        statement.join(ReconStatement, col(ReconStatement.id) == ReconBreak.statement_id)
        .join(ReconSource, col(ReconSource.id) == ReconBreak.source_id)
        .outerjoin(Case, col(Case.id) == ReconBreak.case_id)
    )


async def list_breaks(
    db: Database,
    actor: Actor,
    *,
    status: str = "open",
    kind: str | None = None,
    source_id: uuid.UUID | None = None,
    age: str | None = None,
    search: str | None = None,
    statement_id: uuid.UUID | None = None,
    page: int = 1,
    per_page: int = 25,
) -> BreakPage:
    """The breaks queue (open ones unless told otherwise), most urgent first: the priority of
    the open task of the break's case (casework/priority.py), then the oldest; with its age."""
    await require(
        db, actor, "reconciliation", "read", action="recon.breaks", object_type="recon_break"
    )
    now = utcnow()
    conditions = _break_conditions(
        status=status,
        kind=kind,
        source_id=source_id,
        age=age,
        search=(search or "").strip() or None,
        statement_id=statement_id,
        now=now,
    )
    page, per_page = max(page, 1), min(max(per_page, 1), 100)
    open_urgency = priority_rule.open_urgency(ReconBreak.case_id, ReconBreak)
    async with db.session() as session:
        total = (
            await session.exec(_joined(select(func.count(col(ReconBreak.id)))).where(*conditions))
        ).one()
        rows = (
            await session.exec(
                _joined(
                    select(ReconBreak, ReconStatement.reference, ReconSource.name, Case.reference)
                )
                .where(*conditions)
                .order_by(
                    open_urgency.desc().nulls_last(),
                    col(ReconBreak.created_at),
                    col(ReconBreak.id),
                )
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
        ).all()
        breaks = [r[0] for r in rows]
        tasks: dict[uuid.UUID, tuple[Task, str | None]] = {}
        ranks: dict[uuid.UUID, list[int]] = {}
        case_ids = [b.case_id for b in breaks if b.case_id]
        if case_ids:
            for open_task, who in (
                await session.exec(
                    select(Task, StaffUser.username)
                    .outerjoin(StaffUser, col(StaffUser.id) == Task.assignee_id)
                    .where(
                        col(Task.case_id).in_(case_ids), col(Task.status).in_(OPEN_TASK_STATUSES)
                    )
                    .order_by(col(Task.created_at))
                )
            ).all():
                tasks[open_task.case_id] = (open_task, who)  # the latest open one wins
                ranks.setdefault(open_task.case_id, []).append(open_task.urgency)
        firsts = await _first_items(session, breaks)
        pending = set()
        if breaks:
            pending = set(
                (
                    await session.exec(
                        select(ReconWriteOff.break_id).where(
                            col(ReconWriteOff.break_id).in_([b.id for b in breaks]),
                            ReconWriteOff.status == "proposed",
                        )
                    )
                ).all()
            )
    sees_cases = can_see_case(actor, "recon_exception")
    items = []
    for brk, statement_ref, source_name, case_ref in rows:
        days = max((now - brk.created_at).days, 0)
        bucket = age_bucket(days)
        found: tuple[Task | None, str | None] = (
            tasks.get(brk.case_id, (None, None)) if brk.case_id else (None, None)
        )
        task, holder = found
        reference, counterparty = firsts.get(brk.id, (None, None))
        items.append(
            BreakItem(
                id=brk.id,
                kind=brk.kind,
                kind_label=BREAK_KINDS.get(brk.kind, brk.kind),
                status=brk.status,
                resolution=brk.resolution,
                resolution_label=RESOLUTIONS.get(brk.resolution) if brk.resolution else None,
                amount=amount_text(brk.amount, brk.currency),
                difference=amount_text(brk.difference, brk.currency),
                currency=brk.currency,
                booked_on=brk.booked_on,
                created_at=brk.created_at,
                age_days=days,
                age_bucket=bucket,
                age_label=AGE_LABELS[bucket],
                statement_id=brk.statement_id,
                statement_reference=statement_ref,
                source_id=brk.source_id,
                source_name=source_name,
                case_id=brk.case_id,
                case_reference=case_ref,
                case_visible=sees_cases and brk.case_id is not None,
                reference=reference,
                counterparty=counterparty,
                line_nos=list(brk.line_nos),
                record_count=len(brk.record_ids),
                candidates=len(brk.candidate_line_nos) + len(brk.candidate_record_ids),
                task_title=task.title if task else None,
                task_status=task.status if task else None,
                task_priority=(priority_rule.name(max(ranks[task.case_id])) if task else None),
                task_due_at=task.due_at if task else None,
                task_due_text=countdown(task.due_at, now) if task else None,
                overdue=bool(task and task.due_at <= now),
                assignee=holder if task and task.status == "claimed" else None,
                write_off_pending=brk.id in pending,
            )
        )
    return BreakPage(items=items, total=int(total), page=page, per_page=per_page, status=status)


async def _first_items(
    session: Any, breaks: list[ReconBreak]
) -> dict[uuid.UUID, tuple[str | None, str | None]]:
    """Per break: (reference, counterparty) of its first line, else of its first record."""
    wanted_lines = {(b.statement_id, b.line_nos[0]): b.id for b in breaks if b.line_nos}
    wanted_records = {b.record_ids[0]: b.id for b in breaks if not b.line_nos and b.record_ids}
    found: dict[uuid.UUID, tuple[str | None, str | None]] = {}
    if wanted_lines:
        for line in (
            await session.exec(
                select(ReconLine).where(
                    tuple_(col(ReconLine.statement_id), col(ReconLine.line_no)).in_(
                        list(wanted_lines)
                    )
                )
            )
        ).all():
            found[wanted_lines[(line.statement_id, line.line_no)]] = (
                line.reference,
                line.counterparty_name,
            )
    if wanted_records:
        for txn in (
            await session.exec(
                select(Transaction).where(col(Transaction.id).in_(list(wanted_records)))
            )
        ).all():
            found[wanted_records[txn.id]] = (txn.external_id, txn.counterparty_name)
    return found
