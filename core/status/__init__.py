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

from temporalio.client import Client

from core.db import Database
from core.schedules import PROCESS_WATCH_SCHEDULE_ID, RESCREEN_SCHEDULE_ID
from core.settings import Settings
from core.status.database import check_audit_checkpoint, check_outbox, check_postgresql
from core.status.model import KINDS, Component, Outcome, State, ago, worst
from core.status.temporal import (
    POLLER_SEEN_WITHIN,
    check_pollers,
    check_schedule,
    check_temporal,
    describe_spec,
)
from core.worker_presence import Presence, presence_on

__all__ = [
    "CHECK_TIMEOUT",
    "KINDS",
    "POLLER_SEEN_WITHIN",
    "Component",
    "Outcome",
    "State",
    "Targets",
    "ago",
    "check_audit_checkpoint",
    "check_outbox",
    "check_pollers",
    "check_postgresql",
    "check_schedule",
    "check_temporal",
    "collect",
    "describe_spec",
    "product_targets",
    "worst",
]

CHECK_TIMEOUT = 3.0  # seconds, per component (a busy 2-core machine answers well within)


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
            _temporal_check(temporal, settings.temporal_namespace, rpc_timeout),
        ),
    ]
    for queue in targets.task_queues:
        checks.append(
            (
                f"workers:{queue}",
                "workers",
                f"Worker pollers · {queue}",
                _queue_check(
                    temporal, db, settings.temporal_namespace, queue, queue == main_queue, within
                ),
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
    temporal: Callable[[], Awaitable[Client]],
    db: Database,
    namespace: str,
    queue: str,
    main: bool,
    within: float,
) -> Callable[[], Awaitable[Outcome]]:
    async def check() -> Outcome:
        # Half the check's time at most: a slow database leaves time to ask Temporal.
        client, presence = await asyncio.gather(
            temporal(), _presence_or_none(db, queue, within / 2)
        )
        return await check_pollers(client, namespace, queue, needs_both=main, presence=presence)

    return check


async def _presence_or_none(db: Database, queue: str, within: float) -> dict[str, Presence] | None:
    """Our workers' own records on `queue`; None when the database does not answer (the
    PostgreSQL row says so; the pollers are then judged by Temporal alone)."""
    try:
        return await asyncio.wait_for(presence_on(db, queue), within)
    except Exception:
        return None


def _schedule_check(
    temporal: Callable[[], Awaitable[Client]], schedule_id: str, rpc_timeout: timedelta
) -> Callable[[], Awaitable[Outcome]]:
    async def check() -> Outcome:
        return await check_schedule(await temporal(), schedule_id, rpc_timeout=rpc_timeout)

    return check


def _temporal_check(
    temporal: Callable[[], Awaitable[Client]], namespace: str, rpc_timeout: timedelta
) -> Callable[[], Awaitable[Outcome]]:
    async def check() -> Outcome:
        return await check_temporal(await temporal(), namespace, rpc_timeout=rpc_timeout)

    return check
