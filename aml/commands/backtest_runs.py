"""A rule change's backtest as a stored run: queued with the change, run by a workflow.

`queue_backtest` writes the `aml_backtest` row and starts `RuleBacktestWorkflow` inside the
proposing transaction (if Temporal refuses, nothing is saved; the activity waits until the
row is committed). `execute_backtest` (the activity's body) runs `run_backtest`, writing its
progress as it goes and its result when done. The change approval refuses an approval while
its backtest is queued or running (ChangeApprovalWorkflow's decide validator, told by the
backtest workflow when it ends), and the apply step writes nothing while the stored run is
unfinished (`backtest_unfinished`), whatever signal lifted the hold.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.common import TypedSearchAttributes

from aml.commands.backtest import DEFAULT_DAYS, BacktestResult, run_backtest
from audit.trail import ActorRef
from casework.starting import start_process
from casework.store import Event
from core.db import Database, run_sql
from models.aml_backtest_io import RuleBacktestInput
from models.aml_backtests import UNFINISHED, AmlBacktest
from models.base import utcnow
from models.workflow_io import Origin

WORKFLOW_TYPE = "RuleBacktestWorkflow"
PROGRESS_EVERY = 5_000  # transactions between progress writes


async def backtest_unfinished(session: AsyncSession, change_id: uuid.UUID) -> bool:
    """Whether the change has a backtest still queued or running: the apply step's check of
    the stored run, behind the workflow's hold (which a signal lifts)."""
    found = await run_sql(
        session,
        "SELECT 1 FROM aml_backtest WHERE change_id = :c AND status = ANY(:s)",
        {"c": change_id, "s": list(UNFINISHED)},
    )
    return found.first() is not None


def backtest_workflow_id(backtest_id: uuid.UUID) -> str:
    return f"backtest-{backtest_id}"


async def queue_backtest(
    session: AsyncSession,
    temporal: Client,
    task_queue: str,
    *,
    key: str,
    proposed: dict[str, Any] | None,
    actor: ActorRef,
    origin: Origin | None = None,
    change_id: uuid.UUID | None = None,
    change_workflow_id: str | None = None,
    days: int = DEFAULT_DAYS,
) -> AmlBacktest:
    """Store a queued backtest and start its workflow, in the caller's transaction."""
    now = utcnow()
    backtest = AmlBacktest(
        change_id=change_id,
        rule_key=key,
        proposed=proposed,
        days=days,
        period_from=now - timedelta(days=days),
        period_to=now,
        requested_by=actor.name,
    )
    backtest.workflow_id = backtest_workflow_id(backtest.id)
    session.add(backtest)
    await session.flush()
    await start_process(
        session,
        temporal,
        WORKFLOW_TYPE,
        RuleBacktestInput(backtest_id=backtest.id, change_workflow_id=change_workflow_id),
        workflow_id=backtest.workflow_id,
        task_queue=task_queue,
        search_attributes=TypedSearchAttributes.empty,
        summary=f"backtest of {key}",
        what="the backtest",
        event=Event(
            "aml.backtest_queued",
            actor=actor,
            origin=origin,
            object_type="aml_backtest",
            object_id=backtest.id,
            details={"rule_key": key, "days": days, "change_id": change_id},
        ),
    )
    return backtest


@dataclass
class BacktestRun:
    """What `execute_backtest` found: None when the row is not visible (not committed yet)."""

    status: str | None


async def execute_backtest(
    db: Database, backtest_id: uuid.UUID, heartbeat: Callable[[int, int], None]
) -> BacktestRun:
    """Run a stored backtest (again, if a retry), writing progress and the result."""
    async with db.transaction() as session:
        backtest = await session.get(AmlBacktest, backtest_id, with_for_update=True)
        if backtest is None:
            return BacktestRun(None)
        if backtest.status not in UNFINISHED:
            return BacktestRun(backtest.status)
        backtest.status = "running"
        backtest.started_at = utcnow()
        backtest.judged = 0
        key, proposed, days, until = (
            backtest.rule_key,
            backtest.proposed,
            backtest.days,
            backtest.period_to,
        )
    written = 0

    async def progress(judged: int, total: int) -> None:
        nonlocal written
        heartbeat(judged, total)
        if judged and judged != total and judged - written < PROGRESS_EVERY:
            return
        written = judged
        async with db.transaction() as session:
            await run_sql(
                session,
                "UPDATE aml_backtest SET judged = :judged, total = :total WHERE id = :id",
                {"judged": judged, "total": total, "id": backtest_id},
            )

    result: BacktestResult = await run_backtest(
        db, key, proposed, days=days, until=until, progress=progress
    )
    await _finish(db, backtest_id, "done", result=result.to_json())
    return BacktestRun("done")


async def fail_backtest(db: Database, backtest_id: uuid.UUID, error: str) -> None:
    """A backtest that cannot run is reported as failed (the approval is no longer held)."""
    await _finish(db, backtest_id, "failed", error=error[:500])


async def _finish(
    db: Database,
    backtest_id: uuid.UUID,
    status: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    async with db.transaction() as session:
        backtest = await session.get(AmlBacktest, backtest_id, with_for_update=True)
        if backtest is None or (status == "failed" and backtest.status not in UNFINISHED):
            return  # never committed, or already finished
        backtest.status = status
        backtest.result = result
        backtest.error = error
        backtest.finished_at = utcnow()
        if result is not None:
            backtest.judged = backtest.total = int(result["transactions"])
