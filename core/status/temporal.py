"""The checks that ask Temporal: the server, the pollers of a task queue, a schedule."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    DescribeTaskQueueRequest,
    GetSystemInfoRequest,
)
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow, ScheduleSpec
from temporalio.service import RPCError, RPCStatusCode

from core.status.model import Outcome, ago, utc
from core.worker_presence import Presence

# A live worker keeps one long poll open per task type; the server answers an idle poll
# after about a minute and the worker polls again at once, so its poller's last access is
# never much older than that. A stopped worker stays listed by the server for minutes:
# only pollers seen this recently count. Our own workers also record their presence
# (core/worker_presence), which tells a killed one within FRESH_WITHIN (20 s).
POLLER_SEEN_WITHIN = timedelta(seconds=80)
RPC_TIMEOUT = timedelta(seconds=3)
_FAILED_RUNS = {"failed", "terminated", "timed_out", "canceled"}


async def check_temporal(
    client: Client, namespace: str, *, rpc_timeout: timedelta = RPC_TIMEOUT
) -> Outcome:
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
        timeout=RPC_TIMEOUT,
    )
    return [
        (
            poller.identity,
            utc(poller.last_access_time.ToDatetime())
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
    presence: Mapping[str, Presence] | None = None,
) -> Outcome:
    """Who polls `queue` for workflow and for activity tasks, as Temporal saw it lately.

    With `presence` (core/worker_presence: each worker's own beat, by identity), a listed
    poller counts while its worker's row is fresh and is gone as soon as the row went silent
    or stopped, however recent Temporal's last access; a poller without a row (a worker of
    another version) counts when Temporal saw it within POLLER_SEEN_WITHIN. Without
    `presence` (the database did not answer) every poller is judged by that rule."""
    now = now or datetime.now(UTC)
    known = presence or {}
    workflow_pollers, activity_pollers = await asyncio.gather(
        describe_pollers(client, namespace, queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
        describe_pollers(client, namespace, queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
    )
    rows: list[dict[str, Any]] = []
    live: dict[str, set[str]] = {"workflow": set(), "activity": set()}
    for task_type, pollers in (("workflow", workflow_pollers), ("activity", activity_pollers)):
        for identity, seen in pollers:
            row = known.get(identity)
            polling = seen is not None and now - seen <= POLLER_SEEN_WITHIN
            if row is not None and not row.fresh:
                polling = False
            if polling:
                live[task_type].add(identity)
            rows.append(
                {
                    "task_type": task_type,
                    "identity": identity,
                    "last_access": seen,
                    "worker_last_seen": row.last_seen if row is not None else None,
                    "polling": polling,
                }
            )
    # Workers that stopped or went silent lately, listed by Temporal or not any more.
    gone = sorted(
        (p for p in known.values() if not p.fresh), key=lambda p: p.gone_since, reverse=True
    )
    details: dict[str, Any] = {
        "task_queue": queue,
        "workflow_pollers": len(live["workflow"]),
        "activity_pollers": len(live["activity"]),
        "pollers": rows,
        "recently_gone": [
            {"identity": p.identity, "gone_since": p.gone_since, "how": p.how} for p in gone
        ],
    }
    if presence is None:
        details["worker_presence"] = "not read: judged by Temporal's last access only"
    workers = live["workflow"] | live["activity"]
    if not workers:
        return "down", f"no poller on queue {queue}", details
    plural = "s" if len(workers) != 1 else ""
    sentence = f"{len(workers)} worker{plural} polling queue {queue}"
    missing = [t for t in ("workflow", "activity") if not live[t]]
    if needs_both and missing:
        return "degraded", f"{sentence}, but no {missing[0]} poller", details
    return "ok", sentence, details


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
        if seconds >= 2 * size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


async def check_schedule(
    client: Client, schedule_id: str, *, rpc_timeout: timedelta = RPC_TIMEOUT
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
    next_run = utc(info.next_action_times[0]) if info.next_action_times else None
    last = info.recent_actions[-1] if info.recent_actions else None
    last_run = utc(last.started_at) if last else None
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
