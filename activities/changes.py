"""Activities of the maker-checker process: status transitions and the idempotent apply step
(a new version of a fee, limit or configuration document; an account restriction lifted; a
person's roles granted and ended), and the end of a role grant at its end date."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity

from activities.faults import crash_point
from activities.outage import retry_on_outage
from activities.tasks import refuse
from aml.commands.backtest_runs import backtest_unfinished
from aml.commands.restrictions import LIFTED_VERSION
from aml.commands.restrictions import TARGET_TYPE as RESTRICTION
from audit import trail as audit
from audit.trail import SYSTEM, ActorRef
from casework import store
from changes.rules import EDITABLE_FIELDS
from configuration.documents import config_values
from core.db import Database
from identity import grants
from models.aml import AccountRestriction
from models.base import utcnow
from models.cases import Case
from models.changes import OPEN_CHANGE_STATUSES, ChangeRequest, ChangeStatus
from models.tariffs import TARGET_MODELS
from models.workflow_io import (
    ApplyChangeInput,
    ApplyChangeResult,
    ChangeStatusInput,
    ExpireGrantsInput,
)
from reconciliation.commands.source_changes import TARGET_TYPE as SOURCE
from reconciliation.commands.source_changes import apply_source_change

# What happens to a case's unfinished tasks when the change closes this way.
TASK_FATE = {ChangeStatus.EXPIRED: "expired"}


class ChangeActivities:
    def __init__(self, db: Database):
        self.db = db

    @activity.defn
    @retry_on_outage
    async def set_change_status(self, inp: ChangeStatusInput) -> bool:
        """Move a change (and its case) to a new status once; returns False if already there."""
        async with self.db.transaction() as session:
            # Lock the case first: task creation share-locks it (see open_task).
            case = (
                await session.exec(select(Case).where(Case.id == inp.case_id).with_for_update())
            ).first()
            change = (
                await session.exec(
                    select(ChangeRequest).where(ChangeRequest.id == inp.change_id).with_for_update()
                )
            ).first()
            if change is None or case is None:
                raise refuse("No such change request.", "unknown_change")
            if change.status == inp.status:
                return False
            now = utcnow()
            change.status = inp.status
            change.status_reason = inp.reason
            if inp.close_case:
                change.closed_at = now
                await store.close_case(
                    session,
                    inp.case_id,
                    outcome=inp.status,
                    reason=inp.reason,
                    now=now,
                    stage=inp.status,
                    task_fate=TASK_FATE.get(ChangeStatus(inp.status), "cancelled"),
                )
            else:
                await store.move_stage(session, inp.case_id, inp.status)
            session.add(change)
            await session.flush()
            actor = (
                ActorRef(inp.actor_id, inp.actor_name)
                if inp.actor_id and inp.actor_name
                else SYSTEM
            )
            await audit.record(
                session,
                action=f"change.{inp.status}",
                actor=actor,
                object_type="change",
                object_id=inp.change_id,
                reason=inp.reason,
                origin=inp.origin if inp.actor_id else None,
                workflow_id=inp.workflow_id,
                details={"case_id": inp.case_id, **inp.details},
            )
            return True

    @activity.defn
    @retry_on_outage
    async def apply_change(self, inp: ApplyChangeInput) -> ApplyChangeResult:
        """Apply the approved change exactly once, bound to the version the maker saw.

        A fee, limit or configuration gets its next version; a restriction is lifted. If
        the target moved on since the proposal, nothing is written.
        """
        async with self.db.transaction() as session:
            change = await session.get(ChangeRequest, inp.change_id)
            if change is None:
                raise refuse("No such change request.", "unknown_change")
            if change.target_type == RESTRICTION:
                result = await _lift_restriction(session, change, inp.workflow_id)
            elif change.target_type == SOURCE:
                result = await _apply_source(session, change, inp.workflow_id)
            elif change.target_type == grants.TARGET_TYPE:
                result = await _apply_role_change(session, change, inp.workflow_id)
            else:
                result = await _write_next_version(session, change, inp.workflow_id)
        # Committed but not yet reported: the resilience tests kill the worker right here.
        crash_point("apply_change")
        return result

    @activity.defn
    @retry_on_outage
    async def expire_role_grants(self, inp: ExpireGrantsInput) -> int:
        """End the grants a role change gave once their end date is reached (the workflow's
        durable timer); idempotent: a grant already ended (revoked, suspended) is left."""
        async with self.db.transaction() as session:
            ended = await grants.expire_grants(session, inp.change_id, workflow_id=inp.workflow_id)
        return len(ended)


async def _write_next_version(
    session: AsyncSession, change: ChangeRequest, workflow_id: str
) -> ApplyChangeResult:
    models = TARGET_MODELS[change.target_type]
    target_cls, version_cls, fk = models.target, models.version, models.version_fk

    already = (
        await session.exec(select(version_cls).where(version_cls.change_id == change.id))
    ).first()
    if already is not None:
        return ApplyChangeResult(applied=True, new_version=already.version)

    target = (
        await session.exec(
            select(target_cls).where(target_cls.id == change.target_id).with_for_update()
        )
    ).first()
    if target is None:
        raise refuse("The change's target no longer exists.", "unknown_target")
    if target.current_version != change.base_version:
        return ApplyChangeResult(
            applied=False,
            stale_reason=(
                f"the {change.target_type} is now version {target.current_version}, "
                f"not version {change.base_version} that was approved"
            ),
        )
    base = (
        await session.exec(
            select(version_cls).where(
                getattr(version_cls, fk) == target.id,
                version_cls.version == change.base_version,
            )
        )
    ).one()
    new_version = change.base_version + 1
    values: dict[str, Any]
    if change.target_type == "config" and await backtest_unfinished(session, change.id):
        return ApplyChangeResult(
            applied=False,
            stale_reason="its backtest had not finished when it was approved; propose it again",
        )
    if change.target_type == "config":
        try:
            # Checked again: the schema's bounds may have moved since the proposal.
            values = {"values": config_values(target.key, change.after)}
        except ValidationError as exc:
            return ApplyChangeResult(
                applied=False,
                stale_reason=(
                    f"the values no longer pass the {target.key} rules: {exc.errors()[0]['msg']}"
                )[:300],
            )
    else:
        values = {
            field: _decimal_or_none(change.after.get(field))
            for field in EDITABLE_FIELDS[change.target_type]
        }
    session.add(
        version_cls(
            id=uuid.uuid4(),
            **{fk: target.id},
            version=new_version,
            created_at=utcnow(),
            change_id=change.id,
            note=f"applied from {base.version} by change {change.id}",
            **values,
        )
    )
    target.current_version = new_version
    session.add(target)
    others = await _close_applied(session, change, new_version)
    await _audit_applied(session, change, workflow_id, change.target_type, new_version)
    return ApplyChangeResult(applied=True, new_version=new_version, superseded_workflow_ids=others)


async def _lift_restriction(
    session: AsyncSession, change: ChangeRequest, workflow_id: str
) -> ApplyChangeResult:
    """Lift an account restriction once; a restriction lifted meanwhile voids the change."""
    restriction = (
        await session.exec(
            select(AccountRestriction)
            .where(AccountRestriction.id == change.target_id)
            .with_for_update()
        )
    ).first()
    if restriction is None:
        raise refuse("The change's target no longer exists.", "unknown_target")
    if restriction.lift_change_id == change.id:
        return ApplyChangeResult(applied=True, new_version=LIFTED_VERSION)  # a retry
    if restriction.lifted_at is not None:
        return ApplyChangeResult(
            applied=False,
            stale_reason=(
                f"the restriction was already lifted on {restriction.lifted_at:%Y-%m-%d} "
                f"(it is version {LIFTED_VERSION}, not version {change.base_version} "
                "that was approved)"
            ),
        )
    restriction.lifted_at = utcnow()
    restriction.lift_change_id = change.id
    session.add(restriction)
    others = await _close_applied(session, change, LIFTED_VERSION)
    await audit.record(
        session,
        action="change.applied",
        actor=SYSTEM,
        object_type=RESTRICTION,
        object_id=restriction.id,
        workflow_id=workflow_id,
        details={
            "change_id": change.id,
            "account_id": restriction.account_id,
            "case_id": restriction.case_id,  # the AML case it was placed under
            "kind": restriction.kind,
            "lifted": True,
            "before": change.before,
            "after": change.after,
        },
    )
    return ApplyChangeResult(
        applied=True, new_version=LIFTED_VERSION, superseded_workflow_ids=others
    )


async def _apply_source(
    session: AsyncSession, change: ChangeRequest, workflow_id: str
) -> ApplyChangeResult:
    """Create or re-map a statement source once, as its next version."""
    result = await apply_source_change(session, change, workflow_id)
    if not result.applied or change.applied_version is not None:
        return result  # stale, or a retry of an apply that committed
    new_version = result.new_version or change.base_version + 1
    others = await _close_applied(session, change, new_version)
    await _audit_applied(session, change, workflow_id, SOURCE, new_version)
    return ApplyChangeResult(applied=True, new_version=new_version, superseded_workflow_ids=others)


async def _apply_role_change(
    session: AsyncSession, change: ChangeRequest, workflow_id: str
) -> ApplyChangeResult:
    """Grant and end a person's roles once, bound to the grants version the maker saw. The
    change is closed as applied first: the database door lets in only grants of an applied,
    approved change."""
    answer = await grants.check_role_change(session, change)
    if answer is not None:
        return ApplyChangeResult(
            applied=answer.applied,
            new_version=answer.new_version,
            stale_reason=answer.stale_reason,
        )
    others = await _close_applied(session, change, change.base_version)
    new_version = await grants.write_role_change(session, change, workflow_id)
    change.applied_version = new_version
    session.add(change)
    await _audit_applied(session, change, workflow_id, grants.TARGET_TYPE, new_version)
    return ApplyChangeResult(applied=True, new_version=new_version, superseded_workflow_ids=others)


async def _audit_applied(
    session: AsyncSession,
    change: ChangeRequest,
    workflow_id: str,
    object_type: str,
    new_version: int,
) -> None:
    """The audit event of a change applied as its target's next version."""
    await audit.record(
        session,
        action="change.applied",
        actor=SYSTEM,
        object_type=object_type,
        object_id=change.target_id,
        workflow_id=workflow_id,
        details={
            "change_id": change.id,
            "from_version": change.base_version,
            "to_version": new_version,
            "before": change.before,
            "after": change.after,
        },
    )


async def _close_applied(
    session: AsyncSession, change: ChangeRequest, new_version: int
) -> list[str]:
    """Close the change and its case as applied; the other open changes it voids."""
    now = utcnow()
    change.status = ChangeStatus.APPLIED
    change.applied_version = new_version
    change.closed_at = now
    change.status_reason = None
    session.add(change)
    await session.flush()
    await store.close_case(
        session, change.case_id, outcome="applied", reason=None, now=now, stage=ChangeStatus.APPLIED
    )
    others = (
        await session.exec(
            select(ChangeRequest.workflow_id).where(
                ChangeRequest.target_type == change.target_type,
                ChangeRequest.target_id == change.target_id,
                ChangeRequest.id != change.id,
                col(ChangeRequest.status).in_([s.value for s in OPEN_CHANGE_STATUSES]),
            )
        )
    ).all()
    return list(others)


def _decimal_or_none(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))
