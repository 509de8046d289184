"""Maker-checker changes to fees, limits, configuration documents and account restrictions:
propose, withdraw, read.

Propose writes the change, its case and the audit event in one transaction and starts
`ChangeApprovalWorkflow` (id `change-<id>`) before that transaction commits: if Temporal
refuses, nothing is saved; the workflow waits (retrying) until the rows are visible.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from aml.commands.backtest import is_rule_document
from aml.commands.backtest_runs import queue_backtest
from aml.commands.casework import CASE_TYPE_AML
from aml.commands.restrictions import (
    ACTIVE_VERSION,
    load_restriction,
    restriction_facts,
    restriction_label,
)
from aml.commands.restrictions import TARGET_TYPE as RESTRICTION
from casework import store
from casework.refusals import refusal_from_update
from casework.starting import start_case
from changes.queries.open_changes import open_changes
from changes.queries.views import get_change
from changes.rules import (
    CASE_TYPE_CHANGE,
    ROLE_CONFLICT_TIER,
    ROLE_GRANT,
    ChangePlan,
    approval_specs,
    plan_change,
    plan_config_change,
    plan_restriction_lift,
)
from configuration.documents import config_values
from configuration.tariffs import current_values, load_target, target_label
from core.db import Database
from core.settings import Settings
from identity.access import can_see_case, not_found, record_refusal, require
from identity.actors import Actor
from models.base import utcnow
from models.changes import (
    ChangeCreate,
    ChangeCreated,
    ChangePublic,
    ChangeRequest,
    ChangeStatus,
)
from models.tariffs import TariffPlan
from models.workflow_io import ChangeApprovalInput, WithdrawInput
from shared.errors import Conflict, DomainError, Forbidden, Invalid, NotFound

# Configuration documents are compliance's, not product's: a separate maker permission.
PROPOSE_PERMISSION = {"config": "propose_config"}


async def _plan_against_current(
    session: AsyncSession, settings: Settings, data: ChangeCreate, *, lock: bool
) -> tuple[Any, TariffPlan | None, ChangePlan]:
    """The target, its plan (None for config), and the proposal checked against current values."""
    loaded = await load_target(session, data.target_type, data.target_id, lock=lock)
    if loaded is None:
        raise Invalid(
            "Unknown target.", fields={"target_id": f"no {data.target_type} with this id"}
        )
    target, version, plan = loaded
    if data.target_type == "config":
        before = config_values(target.key, version.values)
        return target, None, plan_config_change(target.key, before, data.changes)
    change_plan = plan_change(
        data.target_type,
        target.currency,
        current_values(data.target_type, version, target.currency),
        data.changes,
        elevated_ratio=Decimal(settings.limit_raise_elevated_ratio),
    )
    return target, plan, change_plan


async def preview_change(
    db: Database, settings: Settings, data: ChangeCreate
) -> tuple[ChangePlan, str]:
    """Validate a proposal and show the before/after diff without saving anything."""
    async with db.session() as session:
        target, plan, change_plan = await _plan_against_current(session, settings, data, lock=False)
    return change_plan, target_label(target, plan)


async def propose_change(
    db: Database, temporal: Client, settings: Settings, actor: Actor, data: ChangeCreate
) -> ChangeCreated:
    await require(
        db,
        actor,
        "change",
        PROPOSE_PERMISSION.get(data.target_type, "propose"),
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
    async with db.transaction() as session:
        target, plan, change_plan = await _plan_against_current(session, settings, data, lock=True)
        label = target_label(target, plan)
        return await _open_change(
            session,
            temporal,
            settings,
            actor,
            NewChange(
                target_type=data.target_type,
                target_id=data.target_id,
                base_version=target.current_version,
                plan=change_plan,
                label=label,
                title=f"{label}: {', '.join(change_plan.changed)}",
                reason=data.reason,
                effective_at=data.effective_at,
                plan_id=plan.id if plan else None,
                config_key=getattr(target, "key", None) if data.target_type == "config" else None,
            ),
        )


async def propose_restriction_lift(
    db: Database,
    temporal: Client,
    settings: Settings,
    actor: Actor,
    restriction_id: uuid.UUID,
    reason: str,
) -> ChangeCreated:
    """Propose lifting an account restriction; an MLRO who is not the maker must approve it.

    Bound to the restriction as it is now (active, version 1): if it is lifted by other
    means before approval, the approval is void. One lift at a time: a second proposal
    while one awaits approval is refused, naming the first.
    """
    action = "change.propose"
    await require(
        db,
        actor,
        "change",
        "propose_restriction_lift",
        action=action,
        object_type=RESTRICTION,
        object_id=restriction_id,
    )
    reason = (reason or "").strip()
    try:
        async with db.transaction() as session:
            loaded = await load_restriction(session, restriction_id, lock=True)
            if loaded is None or not can_see_case(actor, CASE_TYPE_AML):
                raise NotFound(f"No restriction with id {restriction_id} that you can see.")
            restriction, account, aml_case = loaded
            if len(reason) < 10 or len(reason) > 2000:
                raise Invalid(
                    "The lift was not proposed.",
                    fields={
                        "reason": "say why the restriction can be lifted (10 to 2000 characters)"
                    },
                )
            change_plan = plan_restriction_lift(restriction_facts(restriction, account, aml_case))
            pending = await open_changes(session, [restriction_id])
            if pending:
                _, reference, maker = pending[0]
                raise Conflict(
                    f"{reference} (proposed by {maker}) already asks to lift this restriction "
                    "and awaits approval.",
                    code="lift_pending",
                )
            label = restriction_label(restriction, account, aml_case)
            return await _open_change(
                session,
                temporal,
                settings,
                actor,
                NewChange(
                    target_type=RESTRICTION,
                    target_id=restriction_id,
                    base_version=ACTIVE_VERSION,
                    plan=change_plan,
                    label=label,
                    title=f"Lift: {label}",
                    reason=reason,
                    customer_id=account.customer_id,
                ),
            )
    except DomainError as error:
        await record_refusal(
            db, actor, error, action=action, object_type=RESTRICTION, object_id=restriction_id
        )
        raise


@dataclass(frozen=True)
class NewChange:
    """A validated proposal, ready to be saved and handed to its approval workflow."""

    target_type: str
    target_id: uuid.UUID
    base_version: int
    plan: ChangePlan
    label: str
    title: str
    reason: str
    effective_at: datetime | None = None
    plan_id: uuid.UUID | None = None  # the tariff plan of a fee or limit
    customer_id: uuid.UUID | None = None  # the customer it concerns, for customer 360
    config_key: str | None = None  # the configuration document (target type config)
    grant_ends_at: datetime | None = None  # when the roles a role change adds end


# Tiers that need a second, more senior approver: a large limit raise, conflicting roles.
RAISED_TIERS = ("elevated", ROLE_CONFLICT_TIER)
ESCALATION_ROLE = {"config": "risk_manager", RESTRICTION: "mlro", ROLE_GRANT: "admin"}


async def _open_change(
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    actor: Actor,
    new: NewChange,
) -> ChangeCreated:
    """Write the change, its case and the audit event, and start its workflow.

    Inside the caller's transaction: if Temporal refuses the start, nothing is saved.
    """
    now = utcnow()
    change_id = uuid.uuid4()
    workflow_id = f"change-{change_id}"
    change_plan = new.plan
    expires_at = now + timedelta(hours=settings.change_expiry_hours)
    case = await store.open_case(
        session,
        case_type=CASE_TYPE_CHANGE,
        title=new.title,
        stage=ChangeStatus.PENDING_APPROVAL,
        priority="high" if change_plan.tier in RAISED_TIERS else "normal",
        risk_level="high" if change_plan.tier in RAISED_TIERS else "low",
        subject_type=new.target_type,
        subject_id=str(new.target_id),
        workflow_id=workflow_id,
        opened_by=actor.user_id,
        opened_at=now,
        customer_id=new.customer_id,
    )
    reference = case.reference
    change = ChangeRequest(
        id=change_id,
        target_type=new.target_type,
        target_id=new.target_id,
        plan_id=new.plan_id,
        base_version=new.base_version,
        before=change_plan.before,
        after=change_plan.after,
        reason=new.reason,
        effective_at=new.effective_at,
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
    workflow_input = ChangeApprovalInput(
        change_id=change_id,
        case_id=case.id,
        reference=reference,
        target_type=new.target_type,
        target_id=new.target_id,
        base_version=new.base_version,
        maker_id=actor.user_id,
        editor_ids=[actor.user_id],
        tier=change_plan.tier,
        approvals=approval_specs(
            workflow_id,
            reference,
            new.label,
            change_plan.tier,
            actor.user_id,
            settings.change_approval_sla_hours * 3600,
            target_type=new.target_type,
            config_key=new.config_key,
            grantee_id=new.target_id if new.target_type == ROLE_GRANT else None,
        ),
        expiry_seconds=settings.change_expiry_hours * 3600,
        effective_at=new.effective_at,
        escalation_role=ESCALATION_ROLE.get(new.target_type, "ops_manager"),
        grant_ends_at=new.grant_ends_at,
        backtest=is_rule_document(new.config_key),
    )
    await start_case(
        session,
        temporal,
        case,
        workflow_input,
        task_queue=settings.task_queue,
        summary=f"{reference} {new.target_type} change",
        what="the change",
        event=store.Event(
            "change.proposed",
            actor=actor.ref,
            origin=actor.origin,
            object_type="change",
            object_id=change_id,
            details={
                "reference": reference,
                "target_type": new.target_type,
                "target_id": new.target_id,
                "base_version": new.base_version,
                "before": change_plan.before,
                "after": change_plan.after,
                "tier": change_plan.tier,
                "effective_at": new.effective_at,
            },
        ),
    )
    if workflow_input.backtest:
        # An AML rule change: replayed over history before anyone can approve it.
        await queue_backtest(
            session,
            temporal,
            settings.task_queue,
            key=str(new.config_key),
            proposed=change_plan.after,
            actor=actor.ref,
            origin=actor.origin,
            change_id=change_id,
            change_workflow_id=workflow_id,
        )
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
        raise await not_found(db, actor, "change", change_id, action="change.withdraw")
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
            "withdraw",  # ChangeApprovalWorkflow.withdraw
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
