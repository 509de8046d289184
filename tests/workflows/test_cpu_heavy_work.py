"""CPU-heavy work (reading a large statement) runs in the worker's process pool, so
workflows of the same worker process keep answering while a statement is read and matched:
no workflow task of theirs misses Temporal's 2-second deadlock deadline ("Potential deadlock
detected")."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from typing import Any

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from core.db import Database
from models.reconciliation import ReconStatement
from reconciliation.commands.statements import receive_statement
from tests.helpers import new_staff
from tests.recon_data import recon_setup
from tests.workflows.conftest import Skipping
from tests.workflows.test_reconciliation import reconciled

FAILED_TASKS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}


@workflow.defn(sandboxed=False)
class PingWorkflow:
    """Answers pings (an update) until told to stop (a signal)."""

    def __init__(self) -> None:
        self.pings = 0
        self.stopped = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.stopped)
        return self.pings

    @workflow.update
    async def ping(self) -> int:
        self.pings += 1
        return self.pings

    @workflow.signal
    def stop(self) -> None:
        self.stopped = True


async def failed_tasks(handle: WorkflowHandle[Any, Any]) -> list[str]:
    history = await handle.fetch_history()
    return [
        EventType.Name(event.event_type)
        for event in history.events
        if event.event_type in FAILED_TASKS
    ]


class LoopWatch:
    """The longest the event loop went without running a 20 ms tick: in wall time, and in
    CPU time of the loop's thread (work done on the loop between two ticks; unlike wall
    time, a busy machine does not stretch it)."""

    def __init__(self) -> None:
        self.longest_wall = 0.0
        self.longest_cpu = 0.0

    async def run(self) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        while True:
            await asyncio.sleep(0.02)
            now_wall, now_cpu = time.perf_counter(), time.thread_time()
            self.longest_wall = max(self.longest_wall, now_wall - wall - 0.02)
            self.longest_cpu = max(self.longest_cpu, now_cpu - cpu)
            wall, cpu = now_wall, now_cpu


async def test_workflows_keep_answering_while_a_large_statement_is_read_and_matched(
    skipping: Skipping, db: Database
) -> None:
    finance = await new_staff(db, "finance_ops")
    # camt.053: its parser is the slowest (seconds per 20 000-entry chunk).
    setup = await recon_setup(db, "camt053", lines=45_000)
    queue = f"ping-{uuid.uuid4().hex[:8]}"
    watch = LoopWatch()
    watching = asyncio.create_task(watch.run())
    # Another worker in the same interpreter as the product's worker (the `skipping`
    # fixture's): the same event loop, the same GIL.
    async with Worker(
        skipping.client,
        task_queue=queue,
        workflows=[PingWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        ping = await skipping.client.start_workflow(
            PingWorkflow.run, id=f"ping-{uuid.uuid4()}", task_queue=queue
        )
        received = await receive_statement(
            db, skipping.client, skipping.settings, finance.actor,
            source_id=setup.source_id, filename=setup.filename, content=setup.content,
        )  # fmt: skip

        async def status() -> str:
            async with db.session() as session:
                statement = await session.get(ReconStatement, received.statement_id)
            assert statement is not None
            return statement.status

        started = time.perf_counter()
        pings = 0
        answered_during: list[str] = []  # the stage a round trip began and ended in
        while (before := await status()) not in ("matched", "refused"):
            pings += 1
            assert await ping.execute_update(PingWorkflow.ping) == pings
            if before == await status():
                answered_during.append(before)
        took = time.perf_counter() - started
        await ping.signal(PingWorkflow.stop)
        assert await ping.result() == pings
    watching.cancel()

    statement = await reconciled(skipping, db, received)
    assert statement.status == "matched"
    assert statement.lines_read == 45_000
    # Pings were answered while the file was read and while it was matched (a blocked
    # interpreter answers none until it is free again).
    assert {"parsing", "matching"} & set(answered_during), answered_during
    # No workflow task failed, on either workflow: no deadlock was detected.
    assert await failed_tasks(ping) == []
    recon = skipping.client.get_workflow_handle(received.workflow_id)
    assert await failed_tasks(recon) == []
    print(
        f"read and matched in {took:.1f} s; "
        f"pings answered: {pings}, by stage: {Counter(answered_during)}; longest event-loop "
        f"stall: {watch.longest_wall:.3f} s, {watch.longest_cpu:.3f} s of CPU"
    )
    # Reading 20 000 camt.053 entries takes the parser about a second of CPU; done on the
    # event loop (as before the CPU pool: 0.9 s here at best), it held the loop that long
    # in one go. What is left on the loop takes about 0.1 s at most.
    assert watch.longest_cpu < 0.5, "CPU-heavy work ran on the worker's event loop"
