"""What an engineer checks first: each component's state, a sentence, and its details.

PostgreSQL, Temporal, the worker pollers of each task queue, the product's schedules, the
last audit checkpoint and the customer outbox. Every check has its own short timeout and
reports a failure as its own `down` row (the error's class only: no message, no address,
no stack trace), so one component that hangs or fails never breaks the others.
Used by `/status`, `/api/v1/status` (engineers, admins) and `/readyz` (names and states).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import text
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    DescribeTaskQueueRequest,
    GetSystemInfoRequest,
)
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow, ScheduleSpec
from temporalio.service import RPCError, RPCStatusCode

from core.db import Database
from core.settings import Settings
from workflows.process_watch import PROCESS_WATCH_SCHEDULE_ID
from workflows.rescreening import RESCREEN_SCHEDULE_ID

State = Literal["ok", "degraded", "down"]
KINDS = ("postgresql", "temporal", "workers", "schedules", "audit_checkpoint", "outbox")
_RANK: dict[str, int] = {"ok": 0, "degraded": 1, "down": 2}

CHECK_TIMEOUT = 3.0  # seconds, per component (a busy 2-core machine answers well within)
# A live worker keeps one long poll open per task type; the server answers an idle poll
# after about a minute and the worker polls again at once, so its poller's last access is
# never much older than that. A stopped worker stays listed by the server for minutes:
# only pollers seen this recently count.
POLLER_SEEN_WITHIN = timedelta(seconds=80)
SLOW_QUERY = timedelta(milliseconds=500)
OUTBOX_MAX_WAIT = timedelta(hours=1)
_FAILED_RUNS = {"failed", "terminated", "timed_out", "canceled"}


class Component(BaseModel):
    key: str  # unique on the page: "postgresql", "workers:backoffice", "schedule:process-watch"
    kind: str  # one of KINDS; /readyz reports the worst state per kind
    name: str
    state: State
    sentence: str
    details: dict[str, Any]
    checked_ms: int


@dataclass(frozen=True)
class Targets:
    """What to look at: the task queues the product's workers poll and its schedules."""

    task_queues: tuple[str, ...]
    schedule_ids: tuple[str, ...]


def product_targets(settings: Settings) -> Targets:
    """Our task queue, and any other `*task_queue` setting (a queue for CPU-heavy work)."""
    queues = [settings.task_queue]
    for name, value in settings.model_dump().items():
        if name.endswith("task_queue") and isinstance(value, str) and value and value not in queues:
            queues.append(value)
    return Targets(tuple(queues), (RESCREEN_SCHEDULE_ID, PROCESS_WATCH_SCHEDULE_ID))


def worst(states: list[str]) -> State:
    top = max(states, key=lambda s: _RANK[s], default="ok")
    return "down" if top == "down" else "degraded" if top == "degraded" else "ok"


def ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = int((now - moment).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 90:
        span = f"{seconds} s"
    elif seconds < 90 * 60:
        span = f"{seconds // 60} min"
    elif seconds < 48 * 3600:
        span = f"{seconds // 3600} h"
    else:
        span = f"{seconds // 86400} d"
    return f"in {span}" if future else f"{span} ago"


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# A check returns (state, sentence, details); `_run` times it and turns failures into rows.
Outcome = tuple[State, str, dict[str, Any]]


async def _run(
    key: str, kind: str, name: str, check: Callable[[], Awaitable[Outcome]], within: float
) -> Component:
    started = time.perf_counter()
    try:
        state, sentence, details = await asyncio.wait_for(check(), within)
    except TimeoutError:
        state, sentence, details = "down", f"no answer within {within:g} s", {"error": "Timeout"}
    except Exception as exc:  # a status page reports failures, it does not raise them
        error = type(exc).__name__
        state, sentence, details = "down", f"check failed: {error}", {"error": error}
    elapsed = int((time.perf_counter() - started) * 1000)
    return Component(
        key=key,
        kind=kind,
        name=name,
        state=state,
        sentence=sentence,
        details=details,
        checked_ms=elapsed,
    )


async def collect(
    settings: Settings,
    db: Database,
    temporal: Callable[[], Awaitable[Client]],
    *,
    targets: Targets | None = None,
    within: float = CHECK_TIMEOUT,
) -> list[Component]:
    """Every component, checked concurrently, in page order."""
    targets = targets or product_targets(settings)
    now = datetime.now(UTC)
    main_queue = settings.task_queue
    rpc_timeout = timedelta(seconds=within)
    checks: list[tuple[str, str, str, Callable[[], Awaitable[Outcome]]]] = [
        ("postgresql", "postgresql", "PostgreSQL", lambda: check_postgresql(db)),
        (
            "temporal",
            "temporal",
            "Temporal",
            lambda: check_temporal(temporal, settings.temporal_namespace, rpc_timeout),
        ),
    ]
    for queue in targets.task_queues:
        checks.append(
            (
                f"workers:{queue}",
                "workers",
                f"Worker pollers · {queue}",
                _queue_check(temporal, settings.temporal_namespace, queue, queue == main_queue),
            )
        )
    for schedule_id in targets.schedule_ids:
        checks.append(
            (
                f"schedule:{schedule_id}",
                "schedules",
                f"Schedule · {schedule_id}",
                _schedule_check(temporal, schedule_id, rpc_timeout),
            )
        )
    max_age = timedelta(hours=settings.audit_checkpoint_max_age_hours)
    checks += [
        (
            "audit_checkpoint",
            "audit_checkpoint",
            "Audit checkpoint",
            lambda: check_audit_checkpoint(db, now, max_age),
        ),
        (
            "outbox",
            "outbox",
            "Customer outbox",
            lambda: check_outbox(db, now, smtp=bool(settings.smtp_host)),
        ),
    ]
    return list(
        await asyncio.gather(
            *(_run(key, kind, name, check, within) for key, kind, name, check in checks)
        )
    )


def _queue_check(
    temporal: Callable[[], Awaitable[Client]], namespace: str, queue: str, main: bool
) -> Callable[[], Awaitable[Outcome]]:
    async def check() -> Outcome:
        return await check_pollers(await temporal(), namespace, queue, needs_both=main)

    return check


def _schedule_check(
    temporal: Callable[[], Awaitable[Client]], schedule_id: str, rpc_timeout: timedelta
) -> Callable[[], Awaitable[Outcome]]:
    async def check() -> Outcome:
        return await check_schedule(await temporal(), schedule_id, rpc_timeout=rpc_timeout)

    return check


# ----------------------------------------------------------------------------- PostgreSQL


async def check_postgresql(db: Database) -> Outcome:
    async with db.session() as session:
        connection = await session.connection()
        await connection.execute(text("SET LOCAL statement_timeout = '2s'"))
        started = time.perf_counter()
        await connection.execute(text("SELECT 1"))
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        row = (
            await connection.execute(
                text(
                    "SELECT current_setting('server_version'), "
                    "(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()), "
                    "current_setting('max_connections')::int"
                )
            )
        ).one()
    version, in_use, max_connections = str(row[0]), int(row[1]), int(row[2])
    details = {
        "server_version": version,
        "latency_ms": latency_ms,
        "connections_in_use": in_use,
        "max_connections": max_connections,
    }
    sentence = (
        f"answers in {latency_ms:g} ms; {in_use} of {max_connections} connections in use "
        f"for this database"
    )
    if latency_ms > SLOW_QUERY.total_seconds() * 1000 or in_use >= 0.8 * max_connections:
        return "degraded", sentence, details
    return "ok", sentence, details


# ----------------------------------------------------------------------------- Temporal


async def check_temporal(
    temporal: Callable[[], Awaitable[Client]], namespace: str, rpc_timeout: timedelta
) -> Outcome:
    client = await temporal()
    await client.service_client.check_health(timeout=rpc_timeout)
    info = await client.workflow_service.get_system_info(
        GetSystemInfoRequest(), timeout=rpc_timeout
    )
    details: dict[str, Any] = {
        "namespace": namespace,
        "server_version": info.server_version or "not reported",
    }
    try:
        described = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace), timeout=rpc_timeout
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return "down", f"reachable, but namespace {namespace} does not exist", details
        raise
    retention = described.config.workflow_execution_retention_ttl.ToTimedelta()
    details["retention_days"] = round(retention.total_seconds() / 86400, 1)
    version = f" (server {info.server_version})" if info.server_version else ""
    return "ok", f"reachable{version}; namespace {namespace}", details


async def describe_pollers(
    client: Client, namespace: str, queue: str, task_type: TaskQueueType.ValueType
) -> list[tuple[str, datetime | None]]:
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=namespace,
            task_queue=TaskQueue(name=queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=task_type,
        ),
        timeout=timedelta(seconds=CHECK_TIMEOUT),
    )
    return [
        (
            poller.identity,
            _utc(poller.last_access_time.ToDatetime())
            if poller.HasField("last_access_time")
            else None,
        )
        for poller in response.pollers
    ]


async def check_pollers(
    client: Client,
    namespace: str,
    queue: str,
    *,
    needs_both: bool = True,
    now: datetime | None = None,
) -> Outcome:
    """Who polls `queue` for workflow and for activity tasks, as Temporal saw it lately."""
    now = now or datetime.now(UTC)
    workflow_pollers, activity_pollers = await asyncio.gather(
        describe_pollers(client, namespace, queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
        describe_pollers(client, namespace, queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
    )
    rows: list[dict[str, Any]] = []
    live: dict[str, set[str]] = {"workflow": set(), "activity": set()}
    for task_type, pollers in (("workflow", workflow_pollers), ("activity", activity_pollers)):
        for identity, seen in pollers:
            polling = seen is not None and now - seen <= POLLER_SEEN_WITHIN
            if polling:
                live[task_type].add(identity)
            rows.append(
                {
                    "task_type": task_type,
                    "identity": identity,
                    "last_access": seen,
                    "last_seen": ago(seen, now),
                    "polling": polling,
                }
            )
    details: dict[str, Any] = {
        "task_queue": queue,
        "workflow_pollers": len(live["workflow"]),
        "activity_pollers": len(live["activity"]),
        "pollers": rows,
    }
    workers = live["workflow"] | live["activity"]
    if not workers:
        return "down", f"no poller on queue {queue}", details
    plural = "s" if len(workers) != 1 else ""
    sentence = f"{len(workers)} worker{plural} polling queue {queue}"
    missing = [t for t in ("workflow", "activity") if not live[t]]
    if needs_both and missing:
        return "degraded", f"{sentence}, but no {missing[0]} poller", details
    return "ok", sentence, details


# ----------------------------------------------------------------------------- Schedules


def describe_spec(spec: ScheduleSpec) -> str:
    parts = []
    for interval in spec.intervals:
        parts.append(f"every {_span(interval.every)}")
    parts += [f"cron {c}" for c in spec.cron_expressions]
    if spec.calendars:
        parts.append(f"{len(spec.calendars)} calendar rule(s)")
    return ", ".join(parts) or "no times"


def _span(every: timedelta) -> str:
    seconds = int(every.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


async def check_schedule(
    client: Client, schedule_id: str, *, rpc_timeout: timedelta = timedelta(seconds=CHECK_TIMEOUT)
) -> Outcome:
    now = datetime.now(UTC)
    try:
        described = await client.get_schedule_handle(schedule_id).describe(rpc_timeout=rpc_timeout)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return (
                "down",
                f"schedule {schedule_id} does not exist (a worker creates it when it starts)",
                {"schedule_id": schedule_id},
            )
        raise
    info, state = described.info, described.schedule.state
    next_run = _utc(info.next_action_times[0]) if info.next_action_times else None
    last = info.recent_actions[-1] if info.recent_actions else None
    last_run = _utc(last.started_at) if last else None
    result = "none yet"
    if last is not None and isinstance(last.action, ScheduleActionExecutionStartWorkflow):
        result = await _run_result(client, last.action.workflow_id, rpc_timeout)
    details: dict[str, Any] = {
        "schedule_id": schedule_id,
        "spec": describe_spec(described.schedule.spec),
        "paused": state.paused,
        "note": state.note or None,
        "next_run": next_run,
        "last_run": last_run,
        "last_result": result,
        "runs": info.num_actions,
        "skipped_overlapping": info.num_actions_skipped_overlap,
    }
    spec = details["spec"]
    if state.paused:
        why = f": {state.note}" if state.note else ""
        return "degraded", f"{spec}; paused{why}", details
    sentence = f"{spec}; next run {ago(next_run, now)}; last run {ago(last_run, now)}"
    if last is not None:
        sentence += f" ({result})"
    if result in _FAILED_RUNS:
        return "degraded", sentence, details
    return "ok", sentence, details


async def _run_result(client: Client, workflow_id: str, rpc_timeout: timedelta) -> str:
    try:
        described = await client.get_workflow_handle(workflow_id).describe(rpc_timeout=rpc_timeout)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return "no longer kept"
        raise
    return described.status.name.lower() if described.status else "unknown"


# ----------------------------------------------------------------------------- Audit, outbox


async def check_audit_checkpoint(db: Database, now: datetime, max_age: timedelta) -> Outcome:
    async with db.session() as session:
        connection = await session.connection()
        await connection.execute(text("SET LOCAL statement_timeout = '2s'"))
        checkpoint = (
            await connection.execute(
                text(
                    "SELECT event_id, event_count, created_at FROM audit_checkpoint "
                    "ORDER BY id DESC LIMIT 1"
                )
            )
        ).first()
        head = (await connection.execute(text("SELECT max(id) FROM audit_event"))).scalar()
        since = 0
        if checkpoint is not None:
            since = int(
                (
                    await connection.execute(
                        text("SELECT count(*) FROM audit_event WHERE id > :id"),
                        {"id": checkpoint[0]},
                    )
                ).scalar_one()
            )
    details: dict[str, Any] = {
        "head_event_id": head,
        "max_age_hours": int(max_age.total_seconds() // 3600),
    }
    if checkpoint is None:
        return (
            "degraded",
            "no checkpoint yet: run `backoffice audit verify` to record one",
            details,
        )
    event_id, event_count, created_at = checkpoint[0], checkpoint[1], _utc(checkpoint[2])
    assert created_at is not None
    details |= {
        "checkpoint_event_id": event_id,
        "checkpoint_event_count": event_count,
        "written_at": created_at,
        "age_seconds": int((now - created_at).total_seconds()),
        "events_since": since,
    }
    sentence = (
        f"event {event_id} ({event_count} events) checkpointed {ago(created_at, now)}; "
        f"{since} event{'s' if since != 1 else ''} since"
    )
    if now - created_at > max_age:
        limit = details["max_age_hours"]
        return "degraded", f"{sentence}; older than {limit} h", details
    return "ok", sentence, details


async def check_outbox(db: Database, now: datetime, *, smtp: bool) -> Outcome:
    """Customer messages waiting for e-mail delivery (queued, or failed and retried)."""
    async with db.session() as session:
        connection = await session.connection()
        await connection.execute(text("SET LOCAL statement_timeout = '2s'"))
        row = (
            await connection.execute(
                text(
                    "SELECT count(*) FILTER (WHERE status IN ('queued', 'failed')), "
                    "count(*) FILTER (WHERE status = 'failed'), "
                    "min(created_at) FILTER (WHERE status IN ('queued', 'failed')), "
                    "count(*) FILTER (WHERE status = 'no_address') "
                    "FROM customer_message WHERE status IN ('queued', 'failed', 'no_address')"
                )
            )
        ).one()
    unsent, failed, oldest, no_address = int(row[0]), int(row[1]), _utc(row[2]), int(row[3])
    oldest_age = int((now - oldest).total_seconds()) if oldest else None
    details: dict[str, Any] = {
        "unsent": unsent,
        "failed": failed,
        "oldest_unsent": oldest,
        "oldest_age_seconds": oldest_age,
        "no_address": no_address,
        "smtp_configured": smtp,
    }
    if not unsent:
        return "ok", "nothing waiting", details
    sentence = f"{unsent} message{'s' if unsent != 1 else ''} waiting, oldest {ago(oldest, now)}"
    if failed:
        sentence += f"; {failed} failed (retried)"
    if not smtp:
        sentence += "; SMTP is not configured, so they wait"
    too_old = oldest is not None and now - oldest > OUTBOX_MAX_WAIT
    return ("degraded" if failed or too_old else "ok"), sentence, details
