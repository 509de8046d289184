"""A worker process for tests that kill one: polls a task queue and records its presence
the way `run_worker` does (core/worker_presence.present), then waits to be killed.

    python -m tests.presence_worker <temporal address> <task queue>

The app role's database URL comes from PRESENCE_DATABASE_URL (not on the command line).
Prints "ready <identity>" once it polls. No CPU pool or schedules: only what is killed.
"""

from __future__ import annotations

import asyncio
import os
import sys

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from core.db import Database
from core.worker_presence import present, worker_identity


@activity.defn
async def nothing() -> None:
    """The queue's one activity (a worker needs something to poll for)."""


async def main(address: str, queue: str) -> None:
    client = await Client.connect(address)
    db = Database(os.environ["PRESENCE_DATABASE_URL"], pool_size=1, application_name="killme")
    identity = worker_identity()
    async with (
        Worker(client, task_queue=queue, activities=[nothing], identity=identity),
        present(db, identity, queue),
    ):
        print(f"ready {identity}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
