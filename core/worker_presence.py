"""Worker presence: each worker process says every few seconds that it is alive.

Temporal lists a worker's poller until about a minute after its last poll, and a live
worker's long poll is that old too, so Temporal alone cannot tell a killed worker from an
idle one for a minute or more. Each worker process therefore keeps a row in
`worker_presence` (its identity as Temporal sees it, `pid@host`, and its task queue) whose
`last_seen` it renews every BEAT; a clean shutdown sets `stopped_at`. The status page counts
a poller whose row is fresh as alive and one whose row went silent or stopped as gone, at
once, whatever Temporal still lists (core/status/temporal.check_pollers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.db import Database, run_sql

log = logging.getLogger(__name__)

BEAT = timedelta(seconds=5)
# Three beats missed: the process is gone (killed, frozen, or cut off from the database).
FRESH_WITHIN = timedelta(seconds=20)
# Workers that went away are shown this long under "recently gone", and forgotten after a day.
RECENTLY_GONE = timedelta(hours=1)
FORGET_AFTER = timedelta(days=1)
_WRITE_TIMEOUT = 3.0  # seconds


def worker_identity() -> str:
    """The identity Temporal shows for this process's pollers (also the SDK's default)."""
    return f"{os.getpid()}@{socket.gethostname()}"


@dataclass(frozen=True)
class Presence:
    identity: str
    task_queue: str
    pid: int
    host: str
    started_at: datetime
    last_seen: datetime
    stopped_at: datetime | None
    silent_seconds: float  # now - last_seen, by the database's clock

    @property
    def fresh(self) -> bool:
        return self.stopped_at is None and self.silent_seconds <= FRESH_WITHIN.total_seconds()

    @property
    def gone_since(self) -> datetime:
        return self.stopped_at or self.last_seen

    @property
    def how(self) -> str:
        if self.stopped_at is not None:
            return "stopped cleanly"
        return f"silent for {int(self.silent_seconds)} s (killed or cut off)"


_UPSERT = """
INSERT INTO worker_presence (identity, task_queue, pid, host, started_at, last_seen)
VALUES (:identity, :queue, :pid, :host, now(), now())
ON CONFLICT (identity, task_queue) DO UPDATE SET
    pid = EXCLUDED.pid, host = EXCLUDED.host, last_seen = now(), stopped_at = NULL,
    started_at = CASE WHEN :starting THEN now() ELSE worker_presence.started_at END
"""


async def _write(db: Database, statement: str, params: dict[str, object]) -> None:
    async with db.transaction() as session:
        await run_sql(session, "SET LOCAL statement_timeout = '2s'")
        await run_sql(session, statement, params)


async def _beat(db: Database, identity: str, queue: str, *, starting: bool) -> None:
    params: dict[str, object] = {
        "identity": identity,
        "queue": queue,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "starting": starting,
    }
    await asyncio.wait_for(_write(db, _UPSERT, params), _WRITE_TIMEOUT)


async def _keep_beating(db: Database, identity: str, queue: str, beat: float) -> None:
    failing = False
    while True:
        await asyncio.sleep(beat)
        try:
            await _beat(db, identity, queue, starting=False)
        except Exception as exc:  # the worker keeps working; the status page shows it silent
            if not failing:
                log.warning("worker presence not recorded: %s", type(exc).__name__)
            failing = True
        else:
            if failing:
                log.info("worker presence recorded again")
            failing = False


@asynccontextmanager
async def present(
    db: Database, identity: str, task_queue: str, *, beat: timedelta = BEAT
) -> AsyncIterator[None]:
    """Record this worker as present on `task_queue` while the block runs.

    Never fails the worker: a database that does not answer is logged, and the page then
    shows the worker as silent, which is what an engineer should look at."""
    try:
        await _beat(db, identity, task_queue, starting=True)
        await asyncio.wait_for(
            _write(
                db,
                "DELETE FROM worker_presence WHERE last_seen < now() - make_interval(secs => :s)",
                {"s": FORGET_AFTER.total_seconds()},
            ),
            _WRITE_TIMEOUT,
        )
    except Exception as exc:
        log.warning("worker presence not recorded at start: %s", type(exc).__name__)
    keeper = asyncio.create_task(
        _keep_beating(db, identity, task_queue, beat.total_seconds()),
        name=f"worker-presence:{task_queue}",
    )
    try:
        yield
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        try:
            await asyncio.wait_for(
                _write(
                    db,
                    "UPDATE worker_presence SET stopped_at = now(), last_seen = now() "
                    "WHERE identity = :identity AND task_queue = :queue",
                    {"identity": identity, "queue": task_queue},
                ),
                _WRITE_TIMEOUT,
            )
        except Exception as exc:
            log.warning("worker presence not cleared at shutdown: %s", type(exc).__name__)


async def presence_on(db: Database, task_queue: str) -> dict[str, Presence]:
    """The workers that recorded themselves on `task_queue` lately, by identity."""
    async with db.session() as session:
        await run_sql(session, "SET LOCAL statement_timeout = '2s'")
        rows = (
            await run_sql(
                session,
                "SELECT identity, task_queue, pid, host, started_at, last_seen, stopped_at, "
                "extract(epoch FROM now() - last_seen)::float8 "
                "FROM worker_presence WHERE task_queue = :queue "
                "AND coalesce(stopped_at, last_seen) > now() - make_interval(secs => :s)",
                {"queue": task_queue, "s": RECENTLY_GONE.total_seconds()},
            )
        ).all()
    return {
        str(r[0]): Presence(
            identity=str(r[0]),
            task_queue=str(r[1]),
            pid=int(r[2]),
            host=str(r[3]),
            started_at=r[4],
            last_seen=r[5],
            stopped_at=r[6],
            silent_seconds=float(r[7]),
        )
        for r in rows
    }
