"""The one way a case's workflow starts.

A command opens the case (`casework.store.open_case`) and its own rows in its transaction,
then calls `start_case`: it starts the workflow the registry names for the case type, under
the case's workflow id (a business key: a second start is refused, `id_reuse_policy`), with
the search attributes every case workflow carries (ids and categories only: they are not
encrypted), and audits the opening after the start, in the same transaction. If Temporal
refuses the start, the caller's transaction rolls back and nothing is saved; the audit
chain's lock is never held across the call to Temporal.

Workflows are started by their type name (`CaseType.workflow_type`), so no command needs to
import the sandboxed workflow code. `start_process` does the same for a workflow that is
not a case's (a statement's reconciliation).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from casework.catalog import case_type as case_type_of
from casework.store import Event, record_event
from core.search_attributes import CASE_ID, CASE_STATUS, CASE_TYPE, CUSTOMER_ID, RISK_LEVEL
from shared.errors import Conflict, Unavailable

REJECT_DUPLICATE = WorkflowIDReusePolicy.REJECT_DUPLICATE


class StartableCase(Protocol):
    """What starting a case's workflow reads of the case (a Case row has it all)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def case_type(self) -> str: ...
    @property
    def stage(self) -> str: ...
    @property
    def workflow_id(self) -> str: ...
    @property
    def customer_id(self) -> uuid.UUID | None: ...
    @property
    def risk_level(self) -> str: ...


@dataclass(frozen=True)
class CaseRef:
    """A case already stored, as a starter that read only its columns holds it."""

    id: uuid.UUID
    case_type: str
    stage: str
    workflow_id: str
    customer_id: uuid.UUID | None = None
    risk_level: str = ""  # not known to the starter: left unset


def case_search_attributes(
    case: StartableCase, *, status: str | None = None, risk_level: str | None = None
) -> TypedSearchAttributes:
    """CaseId, CaseType, CaseStatus (its stage), CustomerId and RiskLevel of a case."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(CASE_ID, str(case.id)),
        SearchAttributePair(CASE_TYPE, case.case_type),
        SearchAttributePair(CASE_STATUS, str(status or case.stage)),
    ]
    if case.customer_id is not None:
        pairs.append(SearchAttributePair(CUSTOMER_ID, str(case.customer_id)))
    if level := risk_level or case.risk_level:
        pairs.append(SearchAttributePair(RISK_LEVEL, level))
    return TypedSearchAttributes(pairs)


async def start_case(
    session: AsyncSession | None,
    temporal: Client,
    case: StartableCase,
    arg: Any,
    *,
    task_queue: str,
    event: Event | None,
    summary: str,
    what: str = "the case",
    workflow: str | None = None,
    status: str | None = None,
    risk_level: str | None = None,
    id_reuse_policy: WorkflowIDReusePolicy = REJECT_DUPLICATE,
    start_signal: str | None = None,
    start_signal_args: Sequence[Any] = (),
    already_started: Conflict | None = None,
) -> WorkflowHandle[Any, Any]:
    """Start the case's workflow (or, with `start_signal`, signal it and start it if it is
    not running), then audit `event` in `session`.

    Refusals: a workflow already started under this id is `already_started` (a Conflict;
    None lets WorkflowAlreadyStartedError through to a caller for whom it means "done
    already"); an engine that does not answer is Unavailable ("nothing was saved")."""
    workflow_type = workflow or case_type_of(case.case_type).workflow_type
    if workflow_type is None:
        raise ValueError(f"case type {case.case_type!r} names no workflow type")
    try:
        handle: WorkflowHandle[Any, Any] = await temporal.start_workflow(
            workflow_type,
            arg,
            id=case.workflow_id,
            task_queue=task_queue,
            id_reuse_policy=id_reuse_policy,
            search_attributes=case_search_attributes(case, status=status, risk_level=risk_level),
            static_summary=summary,
            start_signal=start_signal,
            start_signal_args=start_signal_args,
        )
    except WorkflowAlreadyStartedError as exc:
        if already_started is None:
            raise
        raise already_started from exc
    except RPCError as exc:
        raise Unavailable(
            f"The workflow engine did not accept {what} ({exc.status.name}); nothing was saved."
        ) from exc
    if event is not None and session is not None:
        # Audited after the start: the audit chain's lock is never held across the call.
        await record_event(session, event, object_id=case.id, workflow_id=case.workflow_id)
    return handle


async def start_process(
    session: AsyncSession,
    temporal: Client,
    workflow: str,
    arg: Any,
    *,
    workflow_id: str,
    task_queue: str,
    search_attributes: TypedSearchAttributes,
    summary: str,
    event: Event,
    what: str,
) -> WorkflowHandle[Any, Any]:
    """Start a workflow that is not a case's (refusing a second run under its id), then
    audit `event`; an engine that does not answer is Unavailable ("nothing was saved")."""
    try:
        handle: WorkflowHandle[Any, Any] = await temporal.start_workflow(
            workflow,
            arg,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=REJECT_DUPLICATE,
            search_attributes=search_attributes,
            static_summary=summary,
        )
    except RPCError as exc:
        raise Unavailable(
            f"The workflow engine did not accept {what} ({exc.status.name}); "
            "nothing was saved. Try again."
        ) from exc
    await record_event(session, event, object_id=workflow_id, workflow_id=workflow_id)
    return handle
