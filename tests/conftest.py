"""Real services for the whole suite: embedded PostgreSQL, the Temporal dev server, a worker.

One PostgreSQL server and one Temporal dev server per test session; each test makes its own
users and tariff plans (unique names), so tests do not depend on one another. Tests that
must damage shared state (the audit chain) get a database of their own.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from app import create_app
from core import embedded
from core.db import Database, DatabaseUrls
from core.schema import ensure_database, migrate
from core.settings import Settings
from core.worker_presence import present, worker_identity
from tests.codec_keys import TEST_CODEC_KEYS
from tests.helpers import TEST_MFA_KEYS, local_temporal
from worker import build_worker

APP_ROLE = "backoffice_app"

# Every Settings() and every process a test starts (the CLI) encrypts with the test key.
os.environ["TEMPORAL_CODEC_KEYS"] = TEST_CODEC_KEYS
os.environ.pop("TEMPORAL_CODEC_KEY_FILE", None)
# ... and keeps second-factor secrets with the test key (tests.helpers.enrol_factor seals them).
os.environ["MFA_KEYS"] = TEST_MFA_KEYS


class _DeadlockWatch(logging.Handler):
    """Workflow activations the SDK's deadlock detector failed ("[TMPRL1101] Potential
    deadlock detected": a workflow thread starved for 2 s, e.g. by CPU work in the same
    interpreter). Temporal retries such a task, so the test may still pass, and the SDK's
    log line would stay in pytest's captured output; this makes it fail the test instead."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        text = f"{record.getMessage()}: {error}"
        if "TMPRL1101" in text or "Potential deadlock" in text:
            self.seen.append(text)


DEADLOCKS = _DeadlockWatch()
logging.getLogger("temporalio.worker").addHandler(DEADLOCKS)


@pytest.fixture(autouse=True)
def no_workflow_deadlock() -> Iterator[None]:
    """Fails the test during which an in-process worker reported a deadlocked activation."""
    before = len(DEADLOCKS.seen)
    yield
    if len(DEADLOCKS.seen) > before:
        pytest.fail(
            "the workflow deadlock detector fired during this test: " + DEADLOCKS.seen[before]
        )


def make_urls(socket_dir: Path, database: str) -> DatabaseUrls:
    """The app role's and the superuser's URLs, with the SCRAM passwords the embedded
    cluster listening in `socket_dir` keeps next to its data directory."""
    pgdata = embedded.data_dir_of_socket(socket_dir)
    return DatabaseUrls(
        app=embedded.postgres_url(pgdata, APP_ROLE, database, socket_dir=socket_dir),
        admin=embedded.postgres_url(
            pgdata, embedded.POSTGRES_SUPERUSER, database, socket_dir=socket_dir
        ),
    )


def create_database(socket_dir: Path, name: str) -> DatabaseUrls:
    server = make_urls(socket_dir, "postgres").admin
    ensure_database(server, name)
    urls = make_urls(socket_dir, name)
    migrate(urls, app_role=APP_ROLE, embedded=True)
    return urls


@pytest.fixture(scope="session")
def pg_socket() -> Iterator[Path]:
    # Not under pytest's basetemp: every pytest session run as root resets that to 0700,
    # which would lock the server's own system user out of a concurrently running cluster.
    root = Path(tempfile.mkdtemp(prefix="bo-pg-"))
    pgdata = root / "data"
    socket_dir = embedded.start_postgres(pgdata, app_role=APP_ROLE)
    yield socket_dir
    embedded.stop_postgres(pgdata)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def db_urls(pg_socket: Path) -> DatabaseUrls:
    return create_database(pg_socket, "bo_test")


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    async with local_temporal() as env:
        yield env


@pytest.fixture(scope="session")
def settings(
    db_urls: DatabaseUrls,
    temporal_env: WorkflowEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    target = temporal_env.client.service_client.config.target_host
    return Settings(
        environment="test",
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=db_urls.app,
        database_admin_url=db_urls.admin,
        temporal_address=target,
        task_queue=f"test-{uuid.uuid4().hex[:8]}",
        login_max_failures=5,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture(scope="session")
async def db(db_urls: DatabaseUrls) -> AsyncIterator[Database]:
    database = Database(db_urls.app, pool_size=10, application_name="tests")
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
async def admin_db(db_urls: DatabaseUrls) -> AsyncIterator[Database]:
    """The owner's connection: for tests that play the attacker or inspect privileges."""
    database = Database(db_urls.admin, pool_size=2, application_name="tests-admin")
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
async def worker(
    temporal_env: WorkflowEnvironment, db: Database, settings: Settings
) -> AsyncIterator[None]:
    # As run_worker does: the status page sees the session's worker by its presence too.
    identity = worker_identity()
    async with (
        present(db, identity, settings.task_queue),
        build_worker(temporal_env.client, db, settings.task_queue, identity=identity),
    ):
        yield


@pytest.fixture(scope="session")
async def app(
    settings: Settings, db: Database, temporal_env: WorkflowEnvironment, worker: None
) -> AsyncIterator[object]:
    application = create_app(settings, db=db, temporal=temporal_env.client)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def http(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5555))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
async def onboarding_ready(db: Database) -> None:
    """What onboarding needs: the OFAC list imported, default retail and business plans."""
    from screening.commands.importer import DEFAULT_LIST_FILE, import_ofac_file
    from tests.helpers import new_plan

    await import_ofac_file(db, DEFAULT_LIST_FILE)
    await new_plan(db, segment="retail", is_default=True)
    await new_plan(db, segment="business", currency="USD", is_default=True)
