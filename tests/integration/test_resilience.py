"""Resilience on real processes (design promises 3, 4 and 5).

3. A worker killed mid-activity, after its DB commit and before it reported (and, separately,
   before its commit): the process completes and the side effect happened exactly once.
4. The Temporal server restarted while a process waits on a person and on a timer: nothing
   is lost; the decision is processed and the timer fires afterwards.
5. PostgreSQL restarted mid-request and mid-activity: the web answers 503 with a readable
   body, activities retry, and no decision is half-applied.

The processes a test kills or restarts are its own (worker subprocesses on a fresh task
queue, a Temporal dev server, a PostgreSQL cluster), on free ports and temporary
directories, and are stopped in `finally`; the session's shared servers are never touched.
The worker-kill tests wait for the activity's 30 s start-to-close timeout before Temporal
retries: that is the product's real timeout, deliberately not shortened for the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.outage import DATABASE_UNAVAILABLE
from app import create_app
from audit import trail as audit
from casework.tasks import claim_task, decide_task
from changes.commands.requests import propose_change
from core import embedded
from core.db import Database, DatabaseUrls, libpq_url, run_sql
from core.settings import Settings
from core.temporal import connect
from models.base import utcnow
from models.changes import ChangeCreate
from models.workflow_io import ChangeState, DecisionResult
from tests.conftest import create_database
from tests.helpers import (
    Plan,
    Staff,
    api_headers,
    eventually,
    new_plan,
    new_staff,
    web_login,
)
from web.errors import DB_DOWN
from worker import build_worker
from workflows.change_approval import ChangeApprovalWorkflow

ROOT = Path(__file__).resolve().parents[2]
TRACE_MARKERS = ("Traceback", 'File "', "sqlalchemy.exc", "psycopg.OperationalError")


# ----------------------------------------------------------------------------- helpers
def fresh_queue(kind: str) -> str:
    return f"resilience-{kind}-{uuid.uuid4().hex[:8]}"


def proposal(plan: Plan, fixed: str, effective_at: datetime | None = None) -> ChangeCreate:
    return ChangeCreate(
        target_type="fee",
        target_id=plan.fee_id,
        changes={"fixed_amount": fixed},
        reason="Resilience test: the new fee must land exactly once.",
        effective_at=effective_at,
    )


@dataclass
class FeeOutcome:
    change_status: str
    applied_version: int | None
    current_version: int
    versions_for_change: int
    applied_events: int
    decisions: int


async def fee_outcome(db: Database, change_id: uuid.UUID) -> FeeOutcome:
    """Everything the apply step touches, read straight from the tables."""
    async with db.session() as session:
        row = (
            await run_sql(
                session,
                "SELECT cr.status, cr.applied_version, f.current_version, "
                "(SELECT count(*) FROM fee_version v WHERE v.change_id = cr.id), "
                "(SELECT count(*) FROM audit_event a WHERE a.action = 'change.applied' "
                " AND a.workflow_id = cr.workflow_id AND a.details->>'change_id' = :cid), "
                "(SELECT count(*) FROM decision d WHERE d.case_id = cr.case_id) "
                "FROM change_request cr JOIN fee f ON f.id = cr.target_id WHERE cr.id = :id",
                {"id": change_id, "cid": str(change_id)},
            )
        ).one()
    return FeeOutcome(row[0], row[1], row[2], row[3], row[4], row[5])


async def chain_verifies(db: Database) -> None:
    async with db.session() as session:
        result = await audit.verify(session)
    assert result.ok, f"audit chain broken at {result.first_bad}: {result.reason}"


async def wait_task_id(db: Database, workflow_id: str, *, within: float = 60.0) -> uuid.UUID:
    """The approval task the workflow opens (it needs a polling worker, so allow start-up)."""

    async def probe() -> uuid.UUID | None:
        async with db.session() as session:
            return (
                await run_sql(
                    session,
                    "SELECT id FROM task WHERE workflow_id = :wf AND task_key = 'approve'",
                    {"wf": workflow_id},
                )
            ).scalar_one_or_none()

    return await eventually(probe, within=within, what=f"the approval task of {workflow_id}")


async def wait_status(
    db: Database, change_id: uuid.UUID, status: str, *, within: float
) -> FeeOutcome:
    async def probe() -> FeeOutcome | None:
        outcome = await fee_outcome(db, change_id)
        return outcome if outcome.change_status == status else None

    return await eventually(probe, within=within, what=f"change {change_id} to be {status}")


async def pending_activities(handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    described = await handle.describe()
    return {p.activity_type.name: p for p in described.raw_description.pending_activities}


async def apply_attempts(handle: WorkflowHandle[Any, Any]) -> list[int]:
    """The attempt number of every apply_change execution the history recorded."""
    history = await handle.fetch_history()
    scheduled = {
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "apply_change"
    }
    return [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]


class WorkerProcess:
    """`backoffice worker` as a real OS process, on its own task queue."""

    def __init__(self, log_file: Path, env: dict[str, str]):
        self.log_file = log_file
        self._out = log_file.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "core.cli", "worker"],
            cwd=ROOT,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")[-3000:]

    async def exited(self, *, within: float) -> int:
        async def probe() -> bool:
            return self.proc.poll() is not None

        await eventually(probe, within=within, what=f"worker {self.proc.pid} to exit")
        return self.proc.returncode

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()


def worker_env(
    db_urls: DatabaseUrls, target: str, queue: str, tmp: Path, *, faults: str = ""
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=db_urls.app,
        DATABASE_ADMIN_URL=db_urls.admin,
        TEMPORAL_ADDRESS=target,
        TASK_QUEUE=queue,
        ENVIRONMENT="test",
        DATA_DIR=str(tmp / "data"),
        BACKOFFICE_FAULTS=faults,
        BACKOFFICE_FAULT_DIR=str(tmp),
        LOG_LEVEL="INFO",
    )
    return env


@contextlib.asynccontextmanager
async def workers() -> AsyncIterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    try:
        yield started
    finally:
        for worker in started:
            worker.stop()


async def approve_in_background(
    db: Database, client: Client, checker: Staff, task_id: uuid.UUID
) -> asyncio.Task[DecisionResult]:
    await claim_task(db, checker.actor, task_id)
    return asyncio.create_task(
        decide_task(
            db,
            client,
            checker.actor,
            task_id,
            outcome="approve",
            reason=None,
            comment="Approved during a resilience test.",
        )
    )


async def cancel(task: asyncio.Task[Any] | None) -> None:
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


# ----------------------------------------------------------------------------- promise 3
@pytest.mark.slow
async def test_worker_killed_after_commit_before_report_applies_the_change_once(
    db: Database,
    db_urls: DatabaseUrls,
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    tmp_path: Path,
) -> None:
    """`backoffice worker` dies (exit 137) right after apply_change commits, before it reports:
    a second worker's retry finds the committed version and applies nothing twice."""
    client = temporal_env.client
    target = client.service_client.config.target_host
    queue = fresh_queue("commit")
    config = settings.model_copy(update={"task_queue": queue})
    plan = await new_plan(db, fixed="2.00")
    maker = await new_staff(db, "product_manager")
    checker = await new_staff(db, "ops_manager")
    decision: asyncio.Task[DecisionResult] | None = None

    async with workers() as running:
        first = WorkerProcess(
            tmp_path / "worker-1.log",
            worker_env(db_urls, target, queue, tmp_path, faults="crash_after_commit:apply_change"),
        )
        running.append(first)
        try:
            created = await propose_change(db, client, config, maker.actor, proposal(plan, "2.75"))
            handle = client.get_workflow_handle_for(ChangeApprovalWorkflow.run, created.workflow_id)
            task_id = await wait_task_id(db, created.workflow_id)
            decision = await approve_in_background(db, client, checker, task_id)

            # The first worker commits apply_change and dies before reporting it.
            code = await first.exited(within=90)
            assert code == 137, f"worker exited with {code}:\n{first.log()}"
            assert (tmp_path / "fault-apply_change").exists()
            crashed = await fee_outcome(db, created.id)
            assert crashed.versions_for_change == 1, "the crash came after the commit"
            assert (crashed.current_version, crashed.applied_events) == (2, 1)
            assert crashed.change_status == "applied"
            pending = await pending_activities(handle)
            assert "apply_change" in pending, "Temporal never heard that apply_change finished"
            assert (
                pending["apply_change"].state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            )

            # A healthy worker picks the activity up once its 30 s start-to-close expires.
            second = WorkerProcess(
                tmp_path / "worker-2.log", worker_env(db_urls, target, queue, tmp_path)
            )
            running.append(second)
            answered = await asyncio.wait_for(decision, timeout=120)
            assert answered.outcome == "approve"
            state: ChangeState = await asyncio.wait_for(handle.result(), timeout=120)
        except BaseException:
            for worker in running:
                print(f"--- {worker.log_file.name}\n{worker.log()}")
            raise
        finally:
            await cancel(decision)

    assert state.status == "applied"
    outcome = await fee_outcome(db, created.id)
    assert outcome.change_status == "applied"
    assert outcome.applied_version == 2
    assert outcome.versions_for_change == 1, "the retry must not write a second version"
    assert outcome.current_version == 2, "current_version went up by exactly one"
    assert outcome.applied_events == 1, "exactly one change.applied audit event"
    assert outcome.decisions == 1
    attempts = await apply_attempts(handle)
    assert len(attempts) == 1 and attempts[0] >= 2, (
        f"apply_change was retried by Temporal after the crash, not re-scheduled: {attempts}"
    )
    await chain_verifies(db)


@pytest.mark.slow
async def test_worker_killed_before_commit_leaves_nothing_and_the_retry_applies_once(
    db: Database,
    admin_db: Database,
    db_urls: DatabaseUrls,
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    tmp_path: Path,
) -> None:
    """apply_change is stopped mid-transaction (its INSERT waits on a lock the test holds),
    the worker is SIGKILLed there; its uncommitted writes vanish and the retry applies once."""
    client = temporal_env.client
    target = client.service_client.config.target_host
    queue = fresh_queue("precommit")
    config = settings.model_copy(update={"task_queue": queue})
    plan = await new_plan(db, fixed="3.00")
    maker = await new_staff(db, "product_manager")
    checker = await new_staff(db, "ops_manager")
    decision: asyncio.Task[DecisionResult] | None = None
    blocker = await psycopg.AsyncConnection.connect(libpq_url(db_urls.admin))

    async def blocked_backend() -> int | None:
        async with admin_db.session() as session:
            return (
                await run_sql(
                    session,
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = 'backoffice-worker' AND wait_event_type = 'Lock' "
                    "AND query ILIKE 'INSERT INTO fee_version%'",
                )
            ).scalar_one_or_none()

    async with workers() as running:
        first = WorkerProcess(
            tmp_path / "worker-1.log", worker_env(db_urls, target, queue, tmp_path)
        )
        running.append(first)
        try:
            created = await propose_change(db, client, config, maker.actor, proposal(plan, "3.40"))
            handle = client.get_workflow_handle_for(ChangeApprovalWorkflow.run, created.workflow_id)
            task_id = await wait_task_id(db, created.workflow_id)
            # SHARE mode lets every reader through but makes the version INSERT wait.
            await blocker.execute("LOCK TABLE fee_version IN SHARE MODE")
            decision = await approve_in_background(db, client, checker, task_id)
            backend = await eventually(
                blocked_backend, what="apply_change to wait inside its transaction"
            )

            first.proc.kill()
            assert await first.exited(within=60) == -9
            await blocker.rollback()  # release: the orphaned transaction can only roll back

            async def backend_gone() -> bool:
                async with admin_db.session() as session:
                    alive = (
                        await run_sql(
                            session, "SELECT 1 FROM pg_stat_activity WHERE pid = :p", {"p": backend}
                        )
                    ).first()
                return alive is None

            await eventually(backend_gone, what="the dead worker's backend to end")
            halfway = await fee_outcome(db, created.id)
            assert halfway.versions_for_change == 0, "nothing of the killed attempt was committed"
            assert halfway.current_version == 1
            assert halfway.applied_events == 0
            assert halfway.change_status == "pending_approval"
            assert "apply_change" in await pending_activities(handle)

            second = WorkerProcess(
                tmp_path / "worker-2.log", worker_env(db_urls, target, queue, tmp_path)
            )
            running.append(second)
            state: ChangeState = await asyncio.wait_for(handle.result(), timeout=120)
            await asyncio.wait_for(decision, timeout=120)
        except BaseException:
            for worker in running:
                print(f"--- {worker.log_file.name}\n{worker.log()}")
            raise
        finally:
            await cancel(decision)
            with contextlib.suppress(psycopg.Error):
                await blocker.close()

    assert state.status == "applied"
    outcome = await fee_outcome(db, created.id)
    assert (outcome.change_status, outcome.applied_version) == ("applied", 2)
    assert outcome.versions_for_change == 1
    assert outcome.current_version == 2
    assert outcome.applied_events == 1
    assert outcome.decisions == 1
    attempts = await apply_attempts(handle)
    assert len(attempts) == 1 and attempts[0] >= 2, attempts
    await chain_verifies(db)


# ----------------------------------------------------------------------------- promise 4
@pytest.mark.slow
async def test_temporal_restart_loses_neither_the_waiting_person_nor_the_timer(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """Our own dev server (SQLite file) is stopped while change A waits for its checker and
    approved change B waits for its effective date; the same client and worker ride out the
    restart, B's overdue timer fires, A's decision is processed."""
    port = embedded.free_port()
    db_file = tmp_path / "temporal.db"
    address = f"127.0.0.1:{port}"
    queue = fresh_queue("temporal")
    config = settings.model_copy(update={"task_queue": queue, "temporal_address": address})

    def start() -> subprocess.Popen[bytes]:
        return embedded.start_temporal(
            port=port, ui_port=None, db_file=db_file, log_file=tmp_path / "temporal.log"
        )

    server = await asyncio.to_thread(start)
    try:
        client = await connect(address)
        plan_a = await new_plan(db, fixed="1.00")
        plan_b = await new_plan(db, fixed="1.50")
        maker = await new_staff(db, "product_manager")
        checker = await new_staff(db, "ops_manager")

        # One client and one worker live through the restart, as a deployed worker would.
        async with build_worker(client, db, queue):
            # A: waits on a person.
            a = await propose_change(db, client, config, maker.actor, proposal(plan_a, "1.10"))
            task_a = await wait_task_id(db, a.workflow_id)
            handle_a = client.get_workflow_handle_for(ChangeApprovalWorkflow.run, a.workflow_id)
            run_a = (await handle_a.describe()).run_id
            # B: approved, waits on its effective-date timer. Far enough ahead that B is
            # proposed, approved and scheduled before it, even on a loaded machine.
            effective_at = utcnow() + timedelta(seconds=30)
            b = await propose_change(
                db, client, config, maker.actor, proposal(plan_b, "1.60", effective_at)
            )
            handle_b = client.get_workflow_handle_for(ChangeApprovalWorkflow.run, b.workflow_id)
            task_b = await wait_task_id(db, b.workflow_id)
            await claim_task(db, checker.actor, task_b)
            decided = await decide_task(
                db, client, checker.actor, task_b, outcome="approve", reason=None, comment=None
            )
            assert decided.case_status == "scheduled"
            await wait_status(db, b.id, "scheduled", within=60)

            await asyncio.to_thread(embedded.stop_process, server)
            assert utcnow() < effective_at, "the server went down before the timer was due"
            # Let the effective time pass while the server is down (a precondition: this
            # waits on the wall clock because the dev server's timer runs on the wall clock).
            await asyncio.sleep((effective_at - utcnow()).total_seconds() + 1)
            down = await fee_outcome(db, b.id)
            assert (down.change_status, down.current_version) == ("scheduled", 1)

            server = await asyncio.to_thread(start)

            # B: the overdue timer fires after the restart and the change is applied.
            state_b = await asyncio.wait_for(handle_b.result(), 120)
            assert state_b.status == "applied"
            applied_b = await fee_outcome(db, b.id)
            assert applied_b.change_status == "applied"
            assert applied_b.versions_for_change == 1 and applied_b.current_version == 2
            assert applied_b.applied_events == 1
            async with db.session() as session:
                created_at = (
                    await run_sql(
                        session,
                        "SELECT created_at FROM fee_version WHERE change_id = :c",
                        {"c": b.id},
                    )
                ).scalar_one()
            assert created_at >= effective_at, "never applied before its effective time"

            # A: the same run still waits on its person, whose decision now goes through.
            described = await handle_a.describe()
            assert described.run_id == run_a
            assert described.status == WorkflowExecutionStatus.RUNNING
            waiting = await handle_a.query(ChangeApprovalWorkflow.current_state)
            assert waiting.status == "pending_approval"
            assert waiting.open_tasks == [task_a]
            await claim_task(db, checker.actor, task_a)
            decided_a = await decide_task(
                db, client, checker.actor, task_a, outcome="approve", reason=None, comment=None
            )
            assert decided_a.case_status == "applied"
            state_a = await asyncio.wait_for(handle_a.result(), 120)
            assert state_a.status == "applied"
        outcome_a = await fee_outcome(db, a.id)
        assert (outcome_a.change_status, outcome_a.current_version) == ("applied", 2)
        assert outcome_a.versions_for_change == 1 and outcome_a.applied_events == 1
        assert outcome_a.decisions == 1
        await chain_verifies(db)
    finally:
        await asyncio.to_thread(embedded.stop_process, server)


# ----------------------------------------------------------------------------- promise 5
@dataclass
class OwnDatabase:
    pgdata: Path
    urls: DatabaseUrls
    db: Database
    admin: Database

    async def stop(self) -> None:
        await asyncio.to_thread(embedded.stop_postgres, self.pgdata)

    async def start(self) -> None:
        await asyncio.to_thread(embedded.start_postgres, self.pgdata)


def assert_readable_503(response: httpx.Response, *, api: bool) -> None:
    assert response.status_code == 503, response.text
    assert response.headers.get("retry-after")
    for marker in TRACE_MARKERS:
        assert marker not in response.text
    if api:
        assert response.headers["content-type"].startswith("application/json")
        assert response.json() == {"error": "database_unavailable", "message": DB_DOWN}
    else:
        assert response.headers["content-type"].startswith("text/html")
        assert "Temporarily unavailable" in response.text
        assert DB_DOWN in response.text


async def lock_waiter(own: OwnDatabase, query_prefix: str) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        async with own.admin.session() as session:
            return (
                await run_sql(
                    session,
                    "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query ILIKE :q",
                    {"q": f"{query_prefix}%"},
                )
            ).first() is not None

    return probe


async def retrying_for_outage(handle: WorkflowHandle[Any, Any], activity: str) -> bool:
    """The activity is mid-retry because of the outage, and Temporal says so readably."""
    pending = (await pending_activities(handle)).get(activity)
    if pending is None or pending.attempt < 2:
        return False
    failure = pending.last_failure
    assert failure.application_failure_info.type == DATABASE_UNAVAILABLE, failure.message
    # Failure messages go through the payload codec: Temporal itself holds no text of ours.
    assert not failure.message.startswith("Database unavailable"), failure.message
    # Read with the product's own key ring, it says what happened.
    decoded = await handle._client.data_converter.decode_failure(failure)
    assert isinstance(decoded, ApplicationError), decoded
    assert decoded.message.startswith("Database unavailable"), decoded.message
    return True


class InFlight:
    """HTTP requests left running across a restart; cancelled if the test fails early."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[httpx.Response]] = []

    def add(self, call: Awaitable[httpx.Response]) -> asyncio.Task[httpx.Response]:
        task = asyncio.ensure_future(call)
        self.tasks.append(task)
        return task

    async def cancel_all(self) -> None:
        for task in self.tasks:
            await cancel(task)


@pytest.mark.slow
async def test_postgres_restart_gives_503_and_no_half_applied_decision(
    temporal_env: WorkflowEnvironment, settings: Settings, tmp_path: Path
) -> None:
    """A PostgreSQL cluster of its own is stopped three times: with requests arriving (503s),
    with record_decision inside its transaction, and with apply_change inside its own."""
    # Outside pytest's tmp root: a concurrent pytest session resets that root to mode 0700,
    # which would stop the server's own system user from reaching the directory on restart.
    base = Path(tempfile.mkdtemp(prefix="bo-resilience-"))
    pgdata = base / "pg"
    own: OwnDatabase | None = None
    try:
        socket_dir = await asyncio.to_thread(embedded.start_postgres, pgdata)
        urls = await asyncio.to_thread(create_database, socket_dir, "bo_resilience")
        own = OwnDatabase(
            pgdata,
            urls,
            Database(urls.app, pool_size=5, application_name="resilience"),
            Database(urls.admin, pool_size=2, application_name="resilience-admin"),
        )
        await run_postgres_scenarios(own, temporal_env.client, settings, tmp_path)
    finally:
        if own is not None:
            await own.db.dispose()
            await own.admin.dispose()
        await asyncio.to_thread(embedded.stop_postgres, pgdata)
        shutil.rmtree(base, ignore_errors=True)


async def run_postgres_scenarios(
    own: OwnDatabase, client: Client, settings: Settings, tmp_path: Path
) -> None:
    queue = fresh_queue("postgres")
    config = settings.model_copy(
        update={
            "database_url": own.urls.app,
            "database_admin_url": own.urls.admin,
            "task_queue": queue,
            "data_dir": tmp_path / "data",
        }
    )
    db = own.db
    application = create_app(config, db=db, temporal=client)
    transport = httpx.ASGITransport(app=application, client=("203.0.113.9", 5555))
    plans = [await new_plan(db, fixed="5.00") for _ in range(2)]
    maker = await new_staff(db, "product_manager")
    checker = await new_staff(db, "ops_manager")

    async with (
        build_worker(client, db, queue),
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as api,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser,
    ):
        inflight = InFlight()
        try:
            checker_h = await api_headers(api, checker.username)
            csrf = await web_login(browser, checker.username)
            first = await propose_change(
                db, client, config, maker.actor, proposal(plans[0], "5.50")
            )
            second = await propose_change(
                db, client, config, maker.actor, proposal(plans[1], "5.25")
            )
            task_1 = await wait_task_id(db, first.workflow_id)
            task_2 = await wait_task_id(db, second.workflow_id)
            for task_id in (task_1, task_2):
                claimed = await api.post(f"/api/v1/tasks/{task_id}/claim", headers=checker_h)
                assert claimed.status_code == 200, claimed.text
            handle_1 = client.get_workflow_handle_for(ChangeApprovalWorkflow.run, first.workflow_id)
            handle_2 = client.get_workflow_handle_for(
                ChangeApprovalWorkflow.run, second.workflow_id
            )

            # --- The database is down: every door answers a readable 503 and nothing moves.
            await own.stop()
            try:
                assert_readable_503(await browser.get("/inbox"), api=False)
                assert_readable_503(
                    await api.get("/api/v1/tasks?scope=mine", headers=checker_h), api=True
                )
                assert_readable_503(
                    await browser.post(
                        f"/tasks/{task_1}/decision",
                        data={"outcome": "approve", "comment": "", "csrf_token": csrf},
                    ),
                    api=False,
                )
                htmx = await browser.post(
                    f"/tasks/{task_1}/decision",
                    data={"outcome": "approve", "csrf_token": csrf},
                    headers={"HX-Request": "true"},
                )
                assert htmx.status_code == 503
                assert DB_DOWN in htmx.text and "Traceback" not in htmx.text
                assert_readable_503(
                    await api.post(
                        f"/api/v1/tasks/{task_1}/decision",
                        json={"outcome": "approve", "reason": None, "comment": None},
                        headers=checker_h,
                    ),
                    api=True,
                )
            finally:
                await own.start()
            inbox = await browser.get("/inbox?scope=mine")
            assert inbox.status_code == 200, "the same session works again after the restart"
            untouched = await fee_outcome(db, first.id)
            assert (untouched.change_status, untouched.decisions, untouched.current_version) == (
                "pending_approval",
                0,
                1,
            )
            assert (await handle_1.query(ChangeApprovalWorkflow.current_state)).open_tasks == [
                task_1
            ]

            # --- Mid-request, mid-activity: record_decision is inside its transaction (waiting on
            # a row lock the test holds) when PostgreSQL stops; it fails, retries while the
            # database is down, and completes once it is back. The HTTP request spans it all.
            blocker = await psycopg.AsyncConnection.connect(libpq_url(own.urls.admin))
            try:
                await blocker.execute("SELECT 1 FROM task WHERE id = %s FOR UPDATE", (task_1,))
                request = inflight.add(
                    api.post(
                        f"/api/v1/tasks/{task_1}/decision",
                        json={"outcome": "approve", "reason": None, "comment": "through a restart"},
                        headers=checker_h,
                    )
                )
                await eventually(
                    await lock_waiter(own, "SELECT task."),
                    what="record_decision to wait on the task row",
                )
                await own.stop()
            finally:
                with contextlib.suppress(psycopg.Error):
                    await blocker.close()
            try:
                await eventually(
                    lambda: retrying_for_outage(handle_1, "record_decision"),
                    what="record_decision to fail and retry while the database is down",
                )
                assert not request.done()
            finally:
                await own.start()
            response = await asyncio.wait_for(request, timeout=120)
            assert response.status_code == 200, response.text
            assert response.json()["case_status"] == "applied"
            state_1 = await asyncio.wait_for(handle_1.result(), 120)
            assert state_1.status == "applied"
            outcome_1 = await fee_outcome(db, first.id)
            assert (outcome_1.change_status, outcome_1.decisions) == ("applied", 1)
            assert outcome_1.versions_for_change == 1 and outcome_1.current_version == 2
            assert outcome_1.applied_events == 1

            # --- Approved just before the database stops: apply_change is mid-flight (waiting on
            # the fee row), fails with the restart, retries, and applies exactly once afterwards.
            blocker = await psycopg.AsyncConnection.connect(libpq_url(own.urls.admin))
            try:
                # FOR SHARE lets the decision's freshness check through but holds the apply step.
                await blocker.execute(
                    "SELECT 1 FROM fee WHERE id = %s FOR SHARE", (plans[1].fee_id,)
                )
                request = inflight.add(
                    api.post(
                        f"/api/v1/tasks/{task_2}/decision",
                        json={"outcome": "approve", "reason": None, "comment": None},
                        headers=checker_h,
                    )
                )
                await eventually(
                    await lock_waiter(own, "SELECT fee."),
                    what="apply_change to wait on the fee row",
                )
                recorded = await fee_outcome(db, second.id)
                assert (recorded.decisions, recorded.versions_for_change) == (1, 0)
                await own.stop()
            finally:
                with contextlib.suppress(psycopg.Error):
                    await blocker.close()
            try:
                await eventually(
                    lambda: retrying_for_outage(handle_2, "apply_change"),
                    what="apply_change to fail and retry while the database is down",
                )
            finally:
                await own.start()
            response = await asyncio.wait_for(request, timeout=120)
            assert response.status_code == 200, response.text
            assert response.json()["outcome"] == "approve"
            state_2 = await asyncio.wait_for(handle_2.result(), 120)
            assert state_2.status == "applied"
            outcome_2 = await fee_outcome(db, second.id)
            assert (outcome_2.change_status, outcome_2.decisions) == ("applied", 1)
            assert outcome_2.versions_for_change == 1 and outcome_2.current_version == 2
            assert outcome_2.applied_events == 1

            async with db.session() as session:
                decided_events = (
                    await run_sql(
                        session,
                        "SELECT count(*) FROM audit_event WHERE action = 'task.decided' "
                        "AND outcome = 'success' AND object_id = ANY(:ids)",
                        {"ids": [str(task_1), str(task_2)]},
                    )
                ).scalar_one()
            assert decided_events == 2, "one decision event per task, none from failed attempts"
            await chain_verifies(db)
        finally:
            await inflight.cancel_all()
