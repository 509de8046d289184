"""Activities of the maker-checker process: status transitions and the idempotent apply step."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlmodel import select
from temporalio import activity

from activities.faults import crash_point
from activities.outage import retry_on_outage
from activities.tasks import refuse
from core.db import Database, run_sql
from domain import audit
from domain.audit import SYSTEM, ActorRef
from domain.config import config_values
from models.base import utcnow
from models.cases import Case, CaseStatus
from models.changes import EDITABLE_FIELDS, OPEN_CHANGE_STATUSES, ChangeRequest, ChangeStatus
from models.tariffs import TARGET_MODELS
from models.workflow_io import ApplyChangeInput, ApplyChangeResult, ChangeStatusInput

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
            case.stage = inp.status
            if inp.close_case:
                change.closed_at = now
                case.status = CaseStatus.CLOSED
                case.closed_at = now
                case.outcome = inp.status
                case.outcome_reason = inp.reason
                fate = TASK_FATE.get(ChangeStatus(inp.status), "cancelled")
                await run_sql(
                    session,
                    "UPDATE task SET status = :fate, completed_at = :now "
                    "WHERE case_id = :case_id AND status IN ('open', 'claimed')",
                    {"fate": fate, "now": now, "case_id": inp.case_id},
                )
            session.add(change)
            session.add(case)
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
        """Write the approved values as the target's next version, exactly once.

        Bound to the version the maker saw: if the target moved on, nothing is written.
        """
        async with self.db.transaction() as session:
            change = await session.get(ChangeRequest, inp.change_id)
            if change is None:
                raise refuse("No such change request.", "unknown_change")
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
            if change.target_type == "config":
                try:
                    # Checked again: the schema's bounds may have moved since the proposal.
                    values = {"values": config_values(target.key, change.after)}
                except ValidationError as exc:
                    return ApplyChangeResult(
                        applied=False,
                        stale_reason=(
                            f"the values no longer pass the {target.key} rules: "
                            f"{exc.errors()[0]['msg']}"
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
            now = utcnow()
            change.status = ChangeStatus.APPLIED
            change.applied_version = new_version
            change.closed_at = now
            change.status_reason = None
            session.add(change)
            case = await session.get(Case, change.case_id)
            assert case is not None
            case.status = CaseStatus.CLOSED
            case.stage = ChangeStatus.APPLIED
            case.closed_at = now
            case.outcome = "applied"
            session.add(case)
            await session.flush()

            others = (
                await session.exec(
                    select(ChangeRequest.workflow_id).where(
                        ChangeRequest.target_type == change.target_type,
                        ChangeRequest.target_id == change.target_id,
                        ChangeRequest.id != change.id,
                        ChangeRequest.status.in_([s.value for s in OPEN_CHANGE_STATUSES]),  # type: ignore[attr-defined]
                    )
                )
            ).all()
            await audit.record(
                session,
                action="change.applied",
                actor=SYSTEM,
                object_type=change.target_type,
                object_id=change.target_id,
                workflow_id=inp.workflow_id,
                details={
                    "change_id": change.id,
                    "from_version": change.base_version,
                    "to_version": new_version,
                    "before": change.before,
                    "after": change.after,
                },
            )
            result = ApplyChangeResult(
                applied=True, new_version=new_version, superseded_workflow_ids=list(others)
            )
        # Committed but not yet reported: the resilience tests kill the worker right here.
        crash_point("apply_change")
        return result


def _decimal_or_none(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))
