"""The status page (/status, /api/v1/status) and /readyz per component, against the real
PostgreSQL, Temporal dev server and worker of the session."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from temporalio import activity
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from app import create_app
from audit import trail as audit
from core import status
from core.db import Database, DatabaseUrls, run_sql
from core.schedules import ensure_schedule, process_watch_schedule
from core.settings import Settings
from core.worker_presence import present
from disputes.commands.messages import queue_customer_message
from tests.aml_data import new_customer
from tests.conftest import create_database
from tests.helpers import (
    api_headers,
    environment_without_services,
    eventually,
    local_temporal,
    new_staff,
    web_login,
)

REPO = Path(__file__).resolve().parents[2]
KIND_NAMES = {
    "postgresql": "PostgreSQL",
    "temporal": "Temporal",
    "audit_checkpoint": "Audit checkpoint",
    "outbox": "Customer outbox",
}


def _client(http: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=http._transport, base_url="http://testserver")


def _by_key(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["key"]: c for c in report["components"]}


async def test_engineer_sees_every_component_and_the_worker_polling_our_queue(
    http: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    engineer = await new_staff(db, "engineer")
    headers = await api_headers(http, engineer.username)
    queue_key = f"workers:{settings.task_queue}"

    async def polled() -> dict[str, Any] | None:
        response = await http.get("/api/v1/status", headers=headers)
        assert response.status_code == 200, response.text
        found = _by_key(response.json())
        return found if found[queue_key]["state"] == "ok" else None

    components = await eventually(polled, what="the session's worker polling its queue")
    assert components is not None
    assert {"postgresql", "temporal", queue_key} <= components.keys()
    assert {"schedule:rescreen-customers", "schedule:process-watch"} <= components.keys()
    assert {"audit_checkpoint", "outbox"} <= components.keys()
    workers = components[queue_key]
    assert workers["sentence"].endswith(f"polling queue {settings.task_queue}")
    polling = [p for p in workers["details"]["pollers"] if p["polling"]]
    assert {p["task_type"] for p in polling} == {"workflow", "activity"}
    assert all(p["identity"] and p["last_access"] for p in polling)
    postgres = components["postgresql"]
    assert postgres["state"] == "ok", postgres
    assert postgres["details"]["server_version"]
    assert postgres["details"]["connections_in_use"] >= 1
    temporal = components["temporal"]
    assert temporal["state"] == "ok", temporal
    assert temporal["details"]["namespace"] == settings.temporal_namespace
    assert temporal["details"]["server_version"]
    for component in components.values():
        assert component["state"] in {"ok", "degraded", "down"}
        assert component["sentence"]

    async with _client(http) as web:
        await web_login(web, engineer.username)
        page = await web.get("/status")
        assert page.status_code == 200
        assert '/status">Status</a>' in page.text  # the nav link, for those allowed
        for name in KIND_NAMES.values():
            assert f"<strong>{name}</strong>" in page.text
        assert f"Worker pollers · {settings.task_queue}" in page.text
        assert "Schedule · rescreen-customers" in page.text
        assert "Schedule · process-watch" in page.text
        assert workers["details"]["pollers"][0]["identity"] in page.text
        assert "<script>" not in page.text and "style=" not in page.text  # strict CSP
        # The refresh asks for the components block only.
        block = await web.get(
            "/status", headers={"HX-Request": "true", "HX-Target": "status-components"}
        )
        assert block.status_code == 200
        assert 'id="status-components"' in block.text and "<html" not in block.text
        assert "HX-Request" in block.headers.get("vary", "")


async def test_admin_may_read_the_status_page(http: httpx.AsyncClient, db: Database) -> None:
    admin = await new_staff(db, "admin")
    async with _client(http) as web:
        await web_login(web, admin.username)
        assert (await web.get("/status")).status_code == 200


async def test_an_analyst_is_refused_with_a_reason_and_the_refusal_is_audited(
    http: httpx.AsyncClient, db: Database
) -> None:
    analyst = await new_staff(db, "aml_analyst")
    async with _client(http) as web:
        await web_login(web, analyst.username)
        page = await web.get("/status")
        assert page.status_code == 403
        assert "do not allow you" in page.text
        assert '/status">Status</a>' not in page.text
    refused = await http.get("/api/v1/status", headers=await api_headers(http, analyst.username))
    assert refused.status_code == 403
    assert refused.json()["error"] == "permission_denied"
    assert "do not allow you" in refused.json()["message"]
    async with db.session() as session:
        denied: int = (
            await (await session.connection()).execute(
                text(
                    "SELECT count(*) FROM audit_event WHERE actor = :who "
                    "AND action = 'status.read' AND outcome = 'denied'"
                ),
                {"who": analyst.username},
            )
        ).scalar_one()
    assert denied == 2


async def test_anonymous_is_sent_to_sign_in_and_the_api_answers_401(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/status")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login?next=")
    assert (await http.get("/api/v1/status")).status_code == 401


@pytest.fixture
async def unpolled_app(
    settings: Settings, db: Database, temporal_env: WorkflowEnvironment
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """The web app of a deployment whose task queue no worker polls."""
    queue = f"unpolled-{uuid.uuid4().hex[:8]}"
    application = create_app(
        settings.model_copy(update={"task_queue": queue}), db=db, temporal=temporal_env.client
    )
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("203.0.113.8", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, queue


async def test_a_queue_without_a_worker_reads_no_poller_on_queue(
    unpolled_app: tuple[httpx.AsyncClient, str], db: Database
) -> None:
    http, queue = unpolled_app
    engineer = await new_staff(db, "engineer")
    response = await http.get("/api/v1/status", headers=await api_headers(http, engineer.username))
    assert response.status_code == 200
    workers = _by_key(response.json())[f"workers:{queue}"]
    assert workers["state"] == "down"
    assert workers["sentence"] == f"no poller on queue {queue}"
    assert response.json()["state"] == "down"
    async with _client(http) as web:
        await web_login(web, engineer.username)
        page = await web.get("/status")
    assert f"no poller on queue {queue}" in page.text
    ready = await http.get("/readyz")
    assert ready.status_code == 200  # a web process serves without a worker
    assert ready.json()["components"]["workers"] == "unavailable"


async def test_a_stopped_worker_is_no_longer_counted(
    temporal_env: WorkflowEnvironment, db: Database, settings: Settings
) -> None:
    """Temporal keeps listing a stopped worker's poller; only recent pollers count."""
    from worker import build_worker

    client = temporal_env.client
    queue = f"stopping-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, db, queue):

        async def polling() -> status.Outcome | None:
            outcome = await status.check_pollers(client, settings.temporal_namespace, queue)
            return outcome if outcome[0] == "ok" else None

        outcome = await eventually(polling, what="the worker's pollers")
        assert outcome is not None
        state, sentence, details = outcome
        assert sentence == f"1 worker polling queue {queue}"
    # An hour later (as the check sees it), the listed poller is too old to count.
    later = status.POLLER_SEEN_WITHIN + timedelta(seconds=1)
    real_now = datetime.now(UTC)
    state, sentence, details = await status.check_pollers(
        client, settings.temporal_namespace, queue, now=real_now + later
    )
    assert (state, sentence) == ("down", f"no poller on queue {queue}")
    assert details["pollers"] and not any(p["polling"] for p in details["pollers"])


def _fixed(client: Client) -> Callable[[], Awaitable[Client]]:
    async def temporal() -> Client:
        return client

    return temporal


async def _queue_status(
    settings: Settings, db: Database, client: Client, queue: str
) -> dict[str, Any]:
    """The status page's row for `queue`, as `collect` builds it (presence included)."""
    targets = status.Targets((queue,), ())
    components = await status.collect(settings, db, _fixed(client), targets=targets)
    return _by_key({"components": [c.model_dump() for c in components]})[f"workers:{queue}"]


@pytest.fixture
async def own_temporal() -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal dev server of the test's own: a real worker process brings the schedules
    in line with its settings when it starts, which must not touch the session's."""
    async with local_temporal() as env:
        yield env


async def test_a_killed_worker_reads_no_poller_on_its_queue_within_seconds(
    own_temporal: WorkflowEnvironment,
    db: Database,
    db_urls: DatabaseUrls,
    settings: Settings,
    tmp_path: Path,
) -> None:
    """kill -9 of the real worker process (`python -m worker`): Temporal keeps listing its
    pollers with a recent last access, but the worker stopped recording its presence, so
    its queue reads "no poller on queue …" within ~20 s."""
    client = own_temporal.client
    queue = f"killed-{uuid.uuid4().hex[:8]}"
    env = environment_without_services() | {
        "ENVIRONMENT": "test",
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": db_urls.app,
        "DATABASE_ADMIN_URL": db_urls.admin,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TASK_QUEUE": queue,
        "CPU_WORKERS": "1",
    }
    log_file = tmp_path / "worker.log"
    with log_file.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "worker", env=env, cwd=REPO, stdout=log, stderr=log
        )
    identity = f"{process.pid}@{socket.gethostname()}"  # as Temporal and the presence say
    loop = asyncio.get_running_loop()
    try:

        async def polling() -> dict[str, Any] | None:
            assert process.returncode is None, log_file.read_text()[-2000:]
            row = await _queue_status(settings, db, client, queue)
            recorded = all(p["worker_last_seen"] for p in row["details"]["pollers"])
            return row if row["state"] == "ok" and recorded else None

        before = await eventually(polling, what="the worker process polling its queue")
        assert before is not None
        assert before["sentence"] == f"1 worker polling queue {queue}"
        assert {(p["task_type"], p["identity"]) for p in before["details"]["pollers"]} == {
            ("workflow", identity),
            ("activity", identity),
        }

        os.kill(process.pid, signal.SIGKILL)
        await process.wait()
        killed_at = loop.time()

        async def gone() -> dict[str, Any] | None:
            row = await _queue_status(settings, db, client, queue)
            return row if row["state"] == "down" else None

        try:
            after = await eventually(gone, within=60, what="the killed worker shown as gone")
        except AssertionError as exc:
            row = await _queue_status(settings, db, client, queue)
            raise AssertionError(f"{exc}: {row}\n{log_file.read_text()[-3000:]}") from None
        detected_in = loop.time() - killed_at
        print(f"killed worker shown as gone {detected_in:.1f} s after kill -9")
        assert after is not None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert after["sentence"] == f"no poller on queue {queue}"
    assert {p["identity"] for p in after["details"]["pollers"]} == {identity}  # still listed
    assert not any(p["polling"] for p in after["details"]["pollers"])
    (lost,) = after["details"]["recently_gone"]
    assert lost["identity"] == identity and "killed or cut off" in lost["how"]
    assert detected_in < status.POLLER_SEEN_WITHIN.total_seconds(), detected_in
    # By Temporal's last access alone, it would still be polling now.
    state, sentence, _ = await status.check_pollers(client, settings.temporal_namespace, queue)
    assert (state, sentence) == ("ok", f"1 worker polling queue {queue}")


async def test_a_cleanly_stopped_worker_is_gone_at_once_and_listed_as_stopped(
    unpolled_app: tuple[httpx.AsyncClient, str],
    temporal_env: WorkflowEnvironment,
    db: Database,
) -> None:
    http, queue = unpolled_app
    engineer = await new_staff(db, "engineer")
    headers = await api_headers(http, engineer.username)
    identity = f"{os.getpid()}-{uuid.uuid4().hex[:6]}@clean-stop"

    async def queue_row() -> dict[str, Any]:
        response = await http.get("/api/v1/status", headers=headers)
        assert response.status_code == 200, response.text
        return _by_key(response.json())[f"workers:{queue}"]

    async with (  # as run_worker: present before the first poll, until the worker stopped
        present(db, identity, queue),
        Worker(temporal_env.client, task_queue=queue, activities=[_nothing], identity=identity),
    ):

        async def polling() -> dict[str, Any] | None:
            row = await queue_row()
            return row if row["sentence"].startswith("1 worker polling") else None

        before = await eventually(polling, what="the worker polling")
        assert before is not None
        assert [p["identity"] for p in before["details"]["pollers"]] == [identity]
        assert before["details"]["pollers"][0]["worker_last_seen"]
        assert before["details"]["recently_gone"] == []
    # Asked once, right away: no waiting for Temporal to forget the poller.
    after = await queue_row()
    assert (after["state"], after["sentence"]) == ("down", f"no poller on queue {queue}")
    (stopped,) = after["details"]["recently_gone"]
    assert (stopped["identity"], stopped["how"]) == (identity, "stopped cleanly")
    async with _client(http) as web:
        await web_login(web, engineer.username)
        page = await web.get("/status")
    assert f"no poller on queue {queue}" in page.text
    assert "recently gone" in page.text and "stopped cleanly" in page.text
    assert identity in page.text


async def test_a_poller_without_presence_keeps_the_last_access_rule_and_silent_rows_are_gone(
    temporal_env: WorkflowEnvironment, db: Database, settings: Settings
) -> None:
    """A worker that records no presence (another version) counts by Temporal's last access;
    a presence row that went silent, with no poller any more, is listed as gone."""
    client = temporal_env.client
    queue = f"external-{uuid.uuid4().hex[:8]}"
    silent = f"4242-{uuid.uuid4().hex[:6]}@old-host"
    async with db.transaction() as session:
        await run_sql(
            session,
            "INSERT INTO worker_presence (identity, task_queue, pid, host, started_at, "
            "last_seen) VALUES (:i, :q, 4242, 'old-host', now() - interval '10 min', "
            "now() - interval '1 min')",
            {"i": silent, "q": queue},
        )
    external = f"{os.getpid()}-{uuid.uuid4().hex[:6]}@external"
    async with Worker(client, task_queue=queue, activities=[_nothing], identity=external):

        async def polling() -> dict[str, Any] | None:
            row = await _queue_status(settings, db, client, queue)
            return row if row["state"] == "ok" else None

        row = await eventually(polling, what="the external worker counted")
        assert row is not None
    assert row["sentence"] == f"1 worker polling queue {queue}"
    assert [(p["identity"], p["worker_last_seen"]) for p in row["details"]["pollers"]] == [
        (external, None)
    ]
    (gone,) = row["details"]["recently_gone"]
    assert gone["identity"] == silent and "killed or cut off" in gone["how"]


@activity.defn(name="status_test_nothing")
async def _nothing() -> None:
    """An activity for workers that only need to poll."""


async def test_readyz_names_each_component_with_its_state_only(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    response = await http.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok" and body["temporal"] == "ok"
    assert set(body["components"]) == set(status.KINDS)
    assert set(body["components"].values()) <= {"ok", "degraded", "unavailable"}
    # Unauthenticated: names and states, nothing else (no queue, version, identity, count).
    assert set(body) == {"status", "database", "temporal", "components"}
    assert settings.task_queue not in response.text
    assert "version" not in response.text


async def test_one_failing_check_shows_down_by_its_error_class_only(
    settings: Settings, db: Database
) -> None:
    secret = "postgresql://backoffice:hunter2@db.internal:5432/backoffice"

    async def broken() -> Client:
        raise ConnectionError(secret)

    async def hanging() -> Client:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    # The hanging one is cut off after 1 s; the database checks have 1 s then too, which a
    # very busy machine may miss, so they are judged where Temporal fails at once.
    for temporal, error, within in ((broken, "ConnectionError", 3.0), (hanging, "Timeout", 1.0)):
        components = await status.collect(settings, db, temporal, within=within)
        by_key = {c.key: c for c in components}
        if error == "ConnectionError":
            assert by_key["postgresql"].state == "ok"
            assert by_key["outbox"].state in {"ok", "degraded"}
        for key in ("temporal", f"workers:{settings.task_queue}", "schedule:process-watch"):
            assert by_key[key].state == "down"
            assert by_key[key].details == {"error": error}
        dumped = str([c.model_dump() for c in components])
        assert "hunter2" not in dumped and "db.internal" not in dumped
        assert "Traceback" not in dumped


async def test_a_schedule_shows_its_spec_pause_and_last_run_with_its_result(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = temporal_env.client
    # Its own id and a queue nobody polls: the triggered run stays running, touches nothing.
    schedule_id = f"status-watch-{uuid.uuid4().hex[:8]}"
    quiet = settings.model_copy(update={"task_queue": f"nobody-{uuid.uuid4().hex[:8]}"})
    missing = await status.check_schedule(client, schedule_id)
    assert missing[0] == "down" and "does not exist" in missing[1]
    await ensure_schedule(client, schedule_id, process_watch_schedule(quiet, schedule_id))
    handle = client.get_schedule_handle(schedule_id)
    try:
        state, sentence, details = await status.check_schedule(client, schedule_id)
        assert state == "ok"
        assert details["spec"] == f"every {settings.process_watch_interval_minutes} min"
        assert details["last_run"] is None and details["next_run"] is not None
        assert "last run never" in sentence

        await handle.trigger()

        async def ran() -> Any:
            described = await handle.describe()
            return described.info.recent_actions

        recent = await eventually(ran, what="the triggered run")
        action = recent[-1].action
        assert isinstance(action, ScheduleActionExecutionStartWorkflow)
        state, sentence, details = await status.check_schedule(client, schedule_id)
        assert (state, details["last_result"]) == ("ok", "running")
        assert details["last_run"] is not None and "(running)" in sentence

        await client.get_workflow_handle(action.workflow_id).terminate("status test")
        state, sentence, details = await status.check_schedule(client, schedule_id)
        assert (state, details["last_result"]) == ("degraded", "terminated")

        await handle.pause(note="maintenance window")
        state, sentence, details = await status.check_schedule(client, schedule_id)
        assert state == "degraded" and details["paused"] is True
        assert sentence.endswith("paused: maintenance window")
    finally:
        await handle.delete()


@pytest.fixture(scope="module")
async def own_db(pg_socket: Path) -> AsyncIterator[Database]:
    """A database of its own: the checkpoint and outbox counts are the whole table's."""
    urls = create_database(pg_socket, f"bo_status_{uuid.uuid4().hex[:6]}")
    database = Database(urls.app, pool_size=2, application_name="tests-status")
    yield database
    await database.dispose()


async def test_the_audit_checkpoint_is_degraded_when_missing_or_old(own_db: Database) -> None:
    day = timedelta(hours=26)
    now = datetime.now(UTC)
    state, sentence, _ = await status.check_audit_checkpoint(own_db, now, day)
    assert state == "degraded" and sentence.startswith("no checkpoint yet")
    async with own_db.transaction() as session:
        await audit.record(session, action="test.status", actor=audit.SYSTEM)
    async with own_db.session() as session:
        verified = await audit.verify(session)
    async with own_db.transaction() as session:
        await audit.write_checkpoint(session, verified)
    async with own_db.transaction() as session:
        await audit.record(session, action="test.status.after", actor=audit.SYSTEM)
    state, sentence, details = await status.check_audit_checkpoint(own_db, datetime.now(UTC), day)
    assert state == "ok", sentence
    assert details["checkpoint_event_id"] == verified.head_id
    assert details["events_since"] == 1
    assert details["head_event_id"] > verified.head_id
    state, sentence, _ = await status.check_audit_checkpoint(
        own_db, datetime.now(UTC) + day + timedelta(hours=1), day
    )
    assert state == "degraded" and sentence.endswith("older than 26 h")


async def test_the_outbox_counts_waiting_and_failed_messages_and_their_age(
    own_db: Database,
) -> None:
    now = datetime.now(UTC)
    state, sentence, details = await status.check_outbox(own_db, now, smtp=True)
    assert (state, sentence, details["unsent"]) == ("ok", "nothing waiting", 0)
    customer = await new_customer(own_db)
    async with own_db.transaction() as session:
        for n in range(3):
            await queue_customer_message(
                session,
                dedupe_key=f"status-{uuid.uuid4().hex}",
                customer_id=customer.id,
                case_id=None,
                subject=f"Message {n}",
                body="Hello",
            )
        await session.exec(  # type: ignore[call-overload]  # a plain UPDATE
            text(
                "UPDATE customer_message SET status = 'failed', created_at = now() - "
                "interval '2 hours' WHERE subject = 'Message 0'"
            )
        )
    state, sentence, details = await status.check_outbox(own_db, datetime.now(UTC), smtp=False)
    assert (details["unsent"], details["failed"]) == (3, 1)
    assert details["oldest_age_seconds"] >= 2 * 3600
    assert state == "degraded"
    assert sentence == (
        "3 messages waiting, oldest 2 h ago; 1 failed (retried); "
        "SMTP is not configured, so they wait"
    )
