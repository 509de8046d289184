"""Creating or re-mapping a statement source is a maker-checker change.

Which account a bank's file books against decides whose money a statement reconciles, so a
finance_ops member proposes (web form, `POST`/`PUT /api/v1/reconciliation/sources`) and a
different finance_ops member or an ops_manager approves, on the shared change machinery
(`changes.commands.requests`, `ChangeApprovalWorkflow`): target type `recon_source`, bound to the
source's version when proposed (0 for a new one), applied by `apply_source_change`.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from audit.trail import SYSTEM
from changes.commands.requests import NewChange, _open_change
from changes.rules import ChangePlan
from core.db import Database
from core.settings import Settings
from identity.access import record_refusal, require
from identity.actors import Actor
from models.cases import Case
from models.changes import OPEN_CHANGE_STATUSES, ChangeCreated, ChangeRequest
from models.reconciliation import ReconSource
from models.workflow_io import ApplyChangeResult
from reconciliation.commands.sources import (
    SOURCE_FIELDS,
    SourceForm,
    _public,
    check_source,
    name_clash,
    write_source,
)
from reconciliation.queries.source_changes import TARGET_TYPE, source_label, source_version
from shared.errors import DomainError, Invalid, NotFound

PROPOSE_ACTION = "change.propose"


def _values_of(source: ReconSource) -> dict[str, Any]:
    public = _public(source, 0, None).model_dump(mode="json")
    return {field: public.get(field) for field in SOURCE_FIELDS}


async def propose_source_change(
    db: Database,
    temporal: Client,
    settings: Settings,
    actor: Actor,
    form: SourceForm,
    *,
    source_id: uuid.UUID | None = None,
) -> ChangeCreated:
    """Propose a new source (no id) or new values for one; nothing is written until a
    different finance_ops member or an ops_manager approves. Refusals name each field."""
    await require(
        db,
        actor,
        "reconciliation",
        "manage_sources",
        action=PROPOSE_ACTION,
        object_type=TARGET_TYPE,
        object_id=source_id,
    )
    values, errors = check_source(form)
    reason = " ".join(form.reason.split())
    try:
        async with db.transaction() as session:
            source = None
            if source_id is not None:
                source = await session.get(ReconSource, source_id, with_for_update=True)
                if source is None:
                    raise NotFound(f"No statement source with id {source_id}.")
            target_id = source_id or uuid.uuid4()
            if values["name"] and "name" not in errors:
                if await name_clash(session, values["name"], source_id):
                    errors["name"] = f"There is already a source named {values['name']}."
                else:
                    pending = await _pending_with_name(session, values["name"], target_id)
                    if pending:
                        errors["name"] = f"{pending} already proposes a source named this."
            if errors:
                raise Invalid("The source change was not proposed; see each field.", fields=errors)
            before = _values_of(source) if source is not None else dict.fromkeys(SOURCE_FIELDS)
            after = {field: values.get(field) for field in SOURCE_FIELDS}
            changed = [f for f in SOURCE_FIELDS if before.get(f) != after.get(f)]
            if not changed:
                raise Invalid(
                    "The proposal changes nothing: every value equals the current one.",
                    fields={"form": "nothing would change"},
                )
            label = source_label(after if source is None else before, new=source is None)
            plan = ChangePlan(
                before=before,
                after=after,
                changed=changed,
                tier="standard",
                tier_reason=None,
                approvers="one finance operations member or operations manager (not you)",
            )
            return await _open_change(
                session,
                temporal,
                settings,
                actor,
                NewChange(
                    target_type=TARGET_TYPE,
                    target_id=target_id,
                    base_version=source.current_version if source is not None else 0,
                    plan=plan,
                    label=label,
                    title=f"{label}: {', '.join(c for c in changed if c != 'account')}",
                    reason=reason,
                ),
            )
    except DomainError as error:
        await record_refusal(
            db,
            actor,
            error,
            action=PROPOSE_ACTION,
            object_type=TARGET_TYPE,
            object_id=source_id,
            details={"fields": sorted(error.fields)} if error.fields else None,
        )
        raise


async def _pending_with_name(session: AsyncSession, name: str, target_id: uuid.UUID) -> str | None:
    """The reference of another open change that would give a source this name."""
    row = (
        await session.exec(
            select(Case.reference)
            .join(ChangeRequest, col(ChangeRequest.case_id) == Case.id)
            .where(
                ChangeRequest.target_type == TARGET_TYPE,
                ChangeRequest.target_id != target_id,
                col(ChangeRequest.status).in_([s.value for s in OPEN_CHANGE_STATUSES]),
                func.lower(ChangeRequest.after["name"].astext) == name.lower(),
            )
        )
    ).first()
    return row


async def apply_source_change(
    session: AsyncSession, change: ChangeRequest, workflow_id: str
) -> ApplyChangeResult:
    """Write the approved values as the source's next version, in the caller's transaction
    (which closes the change as applied). Not applied when the source moved on since the
    proposal or another source took the name meanwhile."""
    if change.applied_version is not None:  # an earlier attempt committed it
        return ApplyChangeResult(applied=True, new_version=change.applied_version)
    current = await source_version(session, change.target_id, lock=True)
    new_version = change.base_version + 1
    if current != change.base_version:
        return ApplyChangeResult(
            applied=False,
            stale_reason=(
                f"the source is now version {current}, not version {change.base_version} "
                "that was approved"
            ),
        )
    name = str(change.after.get("name") or "")
    if await name_clash(session, name, change.target_id):
        return ApplyChangeResult(
            applied=False, stale_reason=f"another source is named {name} by now"
        )
    await write_source(
        session,
        values=dict(change.after),
        source_id=change.target_id,
        version=new_version,
        actor=SYSTEM,
        created_by=change.maker_id,
        workflow_id=workflow_id,
        change_id=change.id,
    )
    return ApplyChangeResult(applied=True, new_version=new_version)
