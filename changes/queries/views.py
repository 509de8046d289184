"""Reading change requests as a given staff member may see them."""

from __future__ import annotations

import uuid

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from aml.commands.restrictions import TARGET_TYPE as RESTRICTION
from aml.commands.restrictions import in_fact_order, load_restriction, restriction_label
from casework import priority as priority_rule
from casework.need_to_know import NeedToKnow
from changes.rules import CASE_TYPE_CHANGE, ROLE_GRANT
from configuration.documents import in_schema_order
from configuration.tariffs import load_target, target_label
from core.db import Database
from identity.access import can_see_case
from identity.actors import Actor
from models.cases import Case, Decision, Task
from models.changes import (
    ApprovalPublic,
    ChangePublic,
    ChangeRequest,
)
from models.staff import StaffUser
from models.tariffs import TariffPlan
from reconciliation.queries import source_changes


async def get_change(db: Database, actor: Actor, change_id: uuid.UUID) -> ChangePublic | None:
    """The change as `actor` may see it, or None (missing and not-visible look the same)."""
    if not can_see_case(actor, CASE_TYPE_CHANGE):
        return None
    async with db.session() as session:
        change = await session.get(ChangeRequest, change_id)
        if change is None or not NeedToKnow.of(actor).sees_change_target(change.target_type):
            return None
        return await _public(session, change)


async def get_change_of_case(db: Database, actor: Actor, case_id: uuid.UUID) -> ChangePublic | None:
    """The change request a case is about (its workflow id may be a resumed run's)."""
    async with db.session() as session:
        change_id = (
            await session.exec(select(ChangeRequest.id).where(ChangeRequest.case_id == case_id))
        ).first()
    return await get_change(db, actor, change_id) if change_id else None


async def change_target_label(
    session: AsyncSession, change: ChangeRequest
) -> tuple[str, str | None]:
    """How the change's target is named, and the document key when it is a configuration."""
    if change.target_type == RESTRICTION:
        found = await load_restriction(session, change.target_id)
        return (restriction_label(*found) if found else str(change.target_id)), None
    if change.target_type == ROLE_GRANT:
        person = await session.get(StaffUser, change.target_id)
        label = f"{person.display_name} ({person.username})" if person else str(change.target_id)
        return label, None
    if change.target_type == source_changes.TARGET_TYPE:
        new = change.base_version == 0
        return source_changes.source_label(change.after if new else change.before, new=new), None
    loaded = await load_target(session, change.target_type, change.target_id)
    label = target_label(loaded[0], loaded[2]) if loaded else str(change.target_id)
    config_key = loaded[0].key if loaded and change.target_type == "config" else None
    return label, config_key


async def _public(session: AsyncSession, change: ChangeRequest) -> ChangePublic:
    case = await session.get(Case, change.case_id)
    maker = await session.get(StaffUser, change.maker_id)
    plan = await session.get(TariffPlan, change.plan_id) if change.plan_id else None
    label, config_key = await change_target_label(session, change)
    before, after = change.before, change.after
    if config_key:
        before, after = in_schema_order(config_key, before), in_schema_order(config_key, after)
    elif change.target_type == RESTRICTION:
        before, after = in_fact_order(before), in_fact_order(after)
    elif change.target_type == source_changes.TARGET_TYPE:
        # One readable row per field (lists comma-separated, each CSV column a row).
        before, after = source_changes.diff_views(before, after)
    rows = (
        await session.exec(
            select(Task, Decision)
            .outerjoin(Decision, col(Decision.task_id) == Task.id)
            .where(Task.case_id == change.case_id)
            .order_by(col(Task.created_at), col(Task.task_key))
        )
    ).all()
    user_ids = {t.assignee_id for t, _ in rows if t.assignee_id} | {
        d.actor_id for _, d in rows if d is not None
    }
    names: dict[uuid.UUID, str] = {}
    if user_ids:
        for uid, uname in (
            await session.exec(
                select(StaffUser.id, StaffUser.username).where(col(StaffUser.id).in_(user_ids))
            )
        ).all():
            names[uid] = uname
    approvals = [
        ApprovalPublic(
            task_id=t.id,
            task_key=t.task_key,
            candidate_role=t.candidate_role,
            status=t.status,
            assignee=names.get(t.assignee_id) if t.assignee_id else None,
            outcome=d.outcome if d else None,
            decided_by=names.get(d.actor_id) if d else None,
            decided_at=d.decided_at if d else None,
            reason_code=d.reason_code if d else None,
            comment=d.comment if d else None,
        )
        for t, d in rows
    ]
    return ChangePublic(
        id=change.id,
        reference=case.reference if case else "",
        status=change.status,
        status_reason=change.status_reason,
        workflow_id=change.workflow_id,
        case_id=change.case_id,
        target_type=change.target_type,
        target_id=change.target_id,
        target_label=label,
        config_key=config_key,
        plan_code=plan.code if plan else "",
        base_version=change.base_version,
        before=before,
        after=after,
        reason=change.reason,
        effective_at=change.effective_at,
        tier=change.tier,
        maker=maker.username if maker else "?",
        created_at=change.created_at,
        expires_at=change.expires_at,
        closed_at=change.closed_at,
        applied_version=change.applied_version,
        approvals=approvals,
        priority=priority_rule.case_priority(
            case.priority if case else None,
            case.risk_level if case else None,
            [t.urgency for t, _ in rows if t.status in ("open", "claimed")],
        ),
    )


async def list_changes(
    db: Database,
    actor: Actor,
    *,
    status: str | None = None,
    target_id: uuid.UUID | None = None,
    maker_id: uuid.UUID | None = None,
    page: int = 1,
    per_page: int = 25,
) -> tuple[list[ChangePublic], int]:
    if not can_see_case(actor, CASE_TYPE_CHANGE):
        return [], 0
    conditions = [
        condition
        for condition in (
            (ChangeRequest.status == status) if status else None,
            (ChangeRequest.target_id == target_id) if target_id else None,
            (ChangeRequest.maker_id == maker_id) if maker_id else None,
            # A restriction's lift: for readers of restriction details only (need-to-know).
            None
            if NeedToKnow.of(actor).sees_change_target(RESTRICTION)
            else (ChangeRequest.target_type != RESTRICTION),
        )
        if condition is not None
    ]
    # Changes awaiting a decision first, most urgent first (casework/priority.py); then the
    # rest, newest first.
    open_urgency = priority_rule.open_urgency(ChangeRequest.case_id, ChangeRequest)
    async with db.session() as session:
        total = (
            await session.exec(select(func.count()).select_from(ChangeRequest).where(*conditions))
        ).one()
        changes = (
            await session.exec(
                select(ChangeRequest)
                .where(*conditions)
                .order_by(
                    open_urgency.desc().nulls_last(),
                    col(ChangeRequest.created_at).desc(),
                    col(ChangeRequest.id),
                )
                .offset((max(page, 1) - 1) * per_page)
                .limit(per_page)
            )
        ).all()
        return [await _public(session, c) for c in changes], int(total)
