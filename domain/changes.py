"""Maker-checker changes to fees and limits: propose, withdraw, read.

Propose writes the change, its case and the audit event in one transaction and starts
`ChangeApprovalWorkflow` (id `change-<id>`) before that transaction commits: if Temporal
refuses, nothing is saved; the workflow waits (retrying) until the rows are visible.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from core.db import Database, run_sql
from core.settings import Settings
from domain import audit
from domain.access import can_see_case, not_found, record_refusal, require
from domain.actors import Actor
from domain.errors import Conflict, DomainError, Forbidden, Invalid, Unavailable
from domain.tariffs import fee_values, limit_values, load_target, target_label
from models.base import utcnow
from models.cases import Case, Decision, Task
from models.changes import (
    EDITABLE_FIELDS,
    ApprovalPublic,
    ChangeCreate,
    ChangeCreated,
    ChangePublic,
    ChangeRequest,
    ChangeStatus,
)
from models.money import MoneyError, parse_amount, parse_percent
from models.staff import StaffUser
from models.tariffs import TariffPlan
from models.workflow_io import ChangeApprovalInput, TaskSpec, WithdrawInput
from workflows.change_approval import ChangeApprovalWorkflow
from workflows.common import CASE_ID, CASE_STATUS, CASE_TYPE, RISK_LEVEL, task_id_for

CASE_TYPE_CHANGE = "change_request"


@dataclass(frozen=True)
class ChangePlan:
    """A validated proposal: what the target looks like now and after, and who must approve."""

    before: dict[str, str | None]
    after: dict[str, str | None]
    changed: list[str]
    tier: str
    tier_reason: str | None


def _validate_values(
    target_type: str, currency: str, before: dict[str, str | None], changes: dict[str, Any]
) -> tuple[dict[str, str | None], dict[str, str]]:
    errors: dict[str, str] = {}
    after = dict(before)
    allowed = EDITABLE_FIELDS[target_type]
    for field, raw in changes.items():
        key = f"changes.{field}"
        if field not in allowed:
            errors[key] = f"not a field of a {target_type}; editable: {', '.join(allowed)}"
            continue
        optional = field in ("min_amount", "max_amount")
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if optional:
                after[field] = None
            else:
                errors[key] = "required"
            continue
        try:
            if field == "percent":
                after[field] = format(parse_percent(raw), "f")
            else:
                after[field] = format(parse_amount(raw, currency), "f")
        except MoneyError as exc:
            errors[key] = str(exc)
    if target_type == "fee" and not errors:
        lo, hi = after.get("min_amount"), after.get("max_amount")
        if lo is not None and hi is not None and Decimal(lo) > Decimal(hi):
            errors["changes.min_amount"] = f"minimum {lo} is above the maximum {hi}"
    return after, errors


def plan_change(
    target_type: str,
    currency: str,
    before: dict[str, str | None],
    changes: dict[str, Any],
    *,
    elevated_ratio: Decimal,
) -> ChangePlan:
    after, errors = _validate_values(target_type, currency, before, changes)
    if errors:
        raise Invalid("The proposed change is not valid.", fields=errors)
    changed = [f for f in EDITABLE_FIELDS[target_type] if after.get(f) != before.get(f)]
    if not changed:
        raise Invalid(
            "The proposal changes nothing: every value equals the current one.",
            fields={"changes": "nothing would change"},
        )
    tier, why = "standard", None
    if target_type == "limit":
        old, new = Decimal(before["amount"] or "0"), Decimal(after["amount"] or "0")
        if new > old * (1 + elevated_ratio):
            pct = "∞" if old == 0 else f"{((new - old) / old * 100):.0f}"
            tier = "elevated"
            why = (
                f"raises the limit by {pct}% (more than {elevated_ratio * 100:.0f}%): "
                "two approvers, one a risk manager"
            )
    return ChangePlan(before=before, after=after, changed=changed, tier=tier, tier_reason=why)


def approval_specs(
    workflow_id: str, reference: str, label: str, tier: str, maker_id: uuid.UUID, sla_seconds: int
) -> list[TaskSpec]:
    specs = [
        TaskSpec(
            task_id=task_id_for(workflow_id, "approve"),
            task_key="approve",
            kind="change_approval",
            title=f"Approve {reference}: {label}",
            candidate_role="ops_manager",
            allowed_outcomes=["approve", "reject"],
            reason_required_for=["reject"],
            excluded_actors=[maker_id],
            sla_seconds=sla_seconds,
        )
    ]
    if tier == "elevated":
        specs.append(
            TaskSpec(
                task_id=task_id_for(workflow_id, "risk_approve"),
                task_key="risk_approve",
                kind="change_risk_approval",
                title=f"Risk approval {reference}: {label}",
                candidate_role="risk_manager",
                allowed_outcomes=["approve", "reject"],
                reason_required_for=["reject"],
                excluded_actors=[maker_id],
                sla_seconds=sla_seconds,
                priority="high",
            )
        )
    return specs


async def preview_change(
    db: Database, settings: Settings, data: ChangeCreate
) -> tuple[ChangePlan, str]:
    """Validate a proposal and show the before/after diff without saving anything."""
    async with db.session() as session:
        loaded = await load_target(session, data.target_type, data.target_id)
        if loaded is None:
            raise Invalid("Unknown target.", fields={"target_id": "no such fee or limit"})
        target, version, plan = loaded
        before = (
            fee_values(version, target.currency)
            if data.target_type == "fee"
            else limit_values(version, target.currency)
        )
    change_plan = plan_change(
        data.target_type,
        target.currency,
        before,
        data.changes,
        elevated_ratio=Decimal(settings.limit_raise_elevated_ratio),
    )
    return change_plan, target_label(target, plan)


async def propose_change(
    db: Database, temporal: Client, settings: Settings, actor: Actor, data: ChangeCreate
) -> ChangeCreated:
    await require(
        db,
        actor,
        "change",
        "propose",
        action="change.propose",
        object_type=data.target_type,
        object_id=data.target_id,
    )
    now = utcnow()
    if data.effective_at is not None and data.effective_at <= now:
        raise Invalid(
            "The effective date is in the past.",
            fields={"effective_at": "must be in the future (leave empty to apply on approval)"},
        )
    change_id = uuid.uuid4()
    workflow_id = f"change-{change_id}"
    async with db.transaction() as session:
        loaded = await load_target(session, data.target_type, data.target_id, lock=True)
        if loaded is None:
            raise Invalid(
                "Unknown target.", fields={"target_id": f"no {data.target_type} with this id"}
            )
        target, version, plan = loaded
        before = (
            fee_values(version, target.currency)
            if data.target_type == "fee"
            else limit_values(version, target.currency)
        )
        change_plan = plan_change(
            data.target_type,
            target.currency,
            before,
            data.changes,
            elevated_ratio=Decimal(settings.limit_raise_elevated_ratio),
        )
        number = (await run_sql(session, "SELECT nextval('case_reference_seq')")).scalar_one()
        reference = f"CHG-{number}"
        label = target_label(target, plan)
        expires_at = now + timedelta(hours=settings.change_expiry_hours)
        case = Case(
            id=uuid.uuid4(),
            reference=reference,
            case_type=CASE_TYPE_CHANGE,
            title=f"{label}: {', '.join(change_plan.changed)}",
            stage=ChangeStatus.PENDING_APPROVAL,
            priority="high" if change_plan.tier == "elevated" else "normal",
            risk_level="high" if change_plan.tier == "elevated" else "low",
            subject_type=data.target_type,
            subject_id=str(data.target_id),
            workflow_id=workflow_id,
            opened_by=actor.user_id,
            opened_at=now,
        )
        session.add(case)
        await session.flush()
        change = ChangeRequest(
            id=change_id,
            target_type=data.target_type,
            target_id=data.target_id,
            plan_id=plan.id,
            base_version=target.current_version,
            before=change_plan.before,
            after=change_plan.after,
            reason=data.reason,
            effective_at=data.effective_at,
            tier=change_plan.tier,
            status_reason=change_plan.tier_reason,
            maker_id=actor.user_id,
            case_id=case.id,
            workflow_id=workflow_id,
            created_at=now,
            expires_at=expires_at,
        )
        session.add(change)
        await session.flush()
        await audit.record(
            session,
            action="change.proposed",
            actor=actor.ref,
            object_type="change",
            object_id=change_id,
            origin=actor.origin,
            workflow_id=workflow_id,
            details={
                "reference": reference,
                "target_type": data.target_type,
                "target_id": data.target_id,
                "base_version": target.current_version,
                "before": change_plan.before,
                "after": change_plan.after,
                "tier": change_plan.tier,
                "effective_at": data.effective_at,
            },
        )
        workflow_input = ChangeApprovalInput(
            change_id=change_id,
            case_id=case.id,
            reference=reference,
            target_type=data.target_type,
            target_id=data.target_id,
            base_version=target.current_version,
            maker_id=actor.user_id,
            editor_ids=[actor.user_id],
            tier=change_plan.tier,
            approvals=approval_specs(
                workflow_id,
                reference,
                label,
                change_plan.tier,
                actor.user_id,
                settings.change_approval_sla_hours * 3600,
            ),
            expiry_seconds=settings.change_expiry_hours * 3600,
            effective_at=data.effective_at,
        )
        try:
            await temporal.start_workflow(
                ChangeApprovalWorkflow.run,
                workflow_input,
                id=workflow_id,
                task_queue=settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(CASE_ID, str(case.id)),
                        SearchAttributePair(CASE_TYPE, CASE_TYPE_CHANGE),
                        SearchAttributePair(CASE_STATUS, ChangeStatus.PENDING_APPROVAL.value),
                        SearchAttributePair(RISK_LEVEL, case.risk_level),
                    ]
                ),
                static_summary=f"{reference} {data.target_type} change",
            )
        except RPCError as exc:
            raise Unavailable(
                f"The workflow engine did not accept the change ({exc.status.name}); nothing was saved."
            ) from exc
    return ChangeCreated(
        id=change_id,
        reference=reference,
        status=ChangeStatus.PENDING_APPROVAL,
        workflow_id=workflow_id,
        case_id=case.id,
        tier=change_plan.tier,
    )


async def withdraw_change(
    db: Database, temporal: Client, actor: Actor, change_id: uuid.UUID, reason: str
) -> ChangePublic:
    await require(
        db,
        actor,
        "change",
        "withdraw",
        action="change.withdraw",
        object_type="change",
        object_id=change_id,
    )
    reason = (reason or "").strip()
    async with db.session() as session:
        change = await session.get(ChangeRequest, change_id)
    if change is None or not can_see_case(actor, CASE_TYPE_CHANGE):
        raise await not_found(
            db, actor, "change", change_id, action="change.withdraw", audit_it=True
        )
    try:
        if len(reason) < 5:
            raise Invalid("Say why you withdraw it.", fields={"reason": "at least 5 characters"})
        if change.maker_id != actor.user_id:
            raise Forbidden("Only the maker of a change can withdraw it.", code="not_maker")
        if change.status != ChangeStatus.PENDING_APPROVAL:
            raise Conflict(
                f"This change is {change.status.replace('_', ' ')}; only a change awaiting "
                "approval can be withdrawn.",
                code="not_withdrawable",
            )
        handle = temporal.get_workflow_handle(change.workflow_id)
        await handle.execute_update(
            ChangeApprovalWorkflow.withdraw,
            WithdrawInput(
                actor_id=actor.user_id,
                actor_name=actor.username,
                reason=reason,
                origin=actor.origin,
            ),
            id=f"withdraw-{change_id}",
        )
    except WorkflowUpdateFailedError as exc:
        error = refusal_from_update(exc)
        await record_refusal(
            db, actor, error, action="change.withdraw", object_type="change", object_id=change_id
        )
        raise error from exc
    except RPCError as exc:
        error = Conflict("This change's workflow has already finished.", code="case_closed")
        await record_refusal(
            db, actor, error, action="change.withdraw", object_type="change", object_id=change_id
        )
        raise error from exc
    except DomainError as error:
        await record_refusal(
            db, actor, error, action="change.withdraw", object_type="change", object_id=change_id
        )
        raise
    result = await get_change(db, actor, change_id)
    assert result is not None
    return result


FORBIDDEN_CODES = {
    "maker_cannot_decide",
    "editor_cannot_decide",
    "decided_other_step",
    "excluded",
    "missing_role",
    "not_maker",
    "permission_denied",
}
INVALID_CODES = {"outcome_not_allowed", "reason_required"}


def refusal_from_update(exc: WorkflowUpdateFailedError) -> DomainError:
    """Turn a workflow's refusal (validator or handler) into the matching domain error."""
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        code = cause.type or "refused"
        if code in FORBIDDEN_CODES:
            return Forbidden(cause.message, code=code)
        if code in INVALID_CODES:
            return Invalid(cause.message, code=code)
        if code == "decision_failed":
            return Unavailable(cause.message, code=code)
        return Conflict(cause.message, code=code)
    return Unavailable("The workflow did not answer; nothing was changed. Try again.")


async def get_change(db: Database, actor: Actor, change_id: uuid.UUID) -> ChangePublic | None:
    """The change as `actor` may see it, or None (missing and not-visible look the same)."""
    if not can_see_case(actor, CASE_TYPE_CHANGE):
        return None
    async with db.session() as session:
        change = await session.get(ChangeRequest, change_id)
        if change is None:
            return None
        return await _public(session, change)


async def _public(session: AsyncSession, change: ChangeRequest) -> ChangePublic:
    case = await session.get(Case, change.case_id)
    maker = await session.get(StaffUser, change.maker_id)
    plan = await session.get(TariffPlan, change.plan_id)
    loaded = await load_target(session, change.target_type, change.target_id)
    label = target_label(loaded[0], loaded[2]) if loaded else str(change.target_id)
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
        plan_code=plan.code if plan else "",
        base_version=change.base_version,
        before=change.before,
        after=change.after,
        reason=change.reason,
        effective_at=change.effective_at,
        tier=change.tier,
        maker=maker.username if maker else "?",
        created_at=change.created_at,
        expires_at=change.expires_at,
        closed_at=change.closed_at,
        applied_version=change.applied_version,
        approvals=approvals,
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
    query = select(ChangeRequest)
    count_query = select(func.count()).select_from(ChangeRequest)
    for q_filter in (
        (ChangeRequest.status == status) if status else None,
        (ChangeRequest.target_id == target_id) if target_id else None,
        (ChangeRequest.maker_id == maker_id) if maker_id else None,
    ):
        if q_filter is not None:
            query = query.where(q_filter)
            count_query = count_query.where(q_filter)
    async with db.session() as session:
        total = (await session.exec(count_query)).one()
        changes = (
            await session.exec(
                query.order_by(col(ChangeRequest.created_at).desc())
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
        ).all()
        return [await _public(session, c) for c in changes], int(total)
