"""Real Chromium against real `backoffice web` and `backoffice worker` processes.

The two processes use the session's PostgreSQL and Temporal dev server (tests/conftest.py)
but a task queue of their own, so every workflow step a browser test causes is done by the
worker subprocess and not by the in-process worker other tests use.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, TypeVar

import httpx
import pytest
import uvicorn
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Response,
    expect,
    sync_playwright,
)
from temporalio.testing import WorkflowEnvironment

from app import create_app
from core import embedded
from core.db import Database, DatabaseUrls
from core.settings import Settings
from tests.conftest import in_ci
from tests.helpers import (
    PASSWORD,
    TOTP_SECRETS,
    Plan,
    environment_without_services,
    new_plan,
    new_staff,
    totp_code_now,
)
from tests.workflows.conftest import start_skipping_env
from worker import build_worker

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Playwright auto-waits up to this long for each action and `expect`: generous, because the
# suite must pass on a 2-core machine running a second suite beside it. A passing step
# never waits for it.
ACTION_TIMEOUT_MS = 60_000
T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def signed_api(base_url: str, username: str) -> Iterator[httpx.Client]:
    """A JSON API client of the live server, signed in as `username` (a bearer token)."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        credentials = {"username": username, "password": PASSWORD}
        if username in TOTP_SECRETS:  # with a second factor: its code too
            credentials["totp"] = totp_code_now(username)
        token = client.post("/api/v1/auth/token", json=credentials)
        assert token.status_code == 200, token.text
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client


@dataclass
class LiveServer:
    url: str
    task_queue: str
    logs: dict[str, Path]

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.logs, lines)


def log_tail(logs: dict[str, Path], lines: int = 40) -> str:
    """The last lines of each log of the product's processes, for a failing test's output."""
    parts = []
    for name, path in logs.items():
        text = path.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"--- {name} ({path})\n" + "\n".join(text))
    return "\n".join(parts)


def _wait_until_ready(
    url: str, procs: dict[str, subprocess.Popen[bytes]], logs: dict[str, Path], within: float
) -> None:
    deadline = time.monotonic() + within
    worker_log = logs["worker"]
    while True:
        for name, proc in procs.items():
            if proc.poll() is not None:
                tail = logs[name].read_text(errors="replace")[-3000:]
                raise RuntimeError(f"`backoffice {name}` exited with {proc.returncode}:\n{tail}")
        try:
            ready = httpx.get(f"{url}/readyz", timeout=10).status_code == 200
        except httpx.TransportError:
            ready = False
        # The worker logs this line once it polls the task queue.
        polling = "worker polling task queue" in worker_log.read_text(errors="replace")
        if ready and polling:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"the web app / worker were not ready within {within:.0f}s "
                f"(readyz ok: {ready}, worker polling: {polling})"
            )
        time.sleep(0.2)


@pytest.fixture(scope="session")
def chromium_executable() -> Path:
    """Chromium, or a skip (a failure in CI) before any server is started for nothing."""
    if not CHROMIUM.exists():
        message = f"Chromium is not installed at {CHROMIUM}"
        if in_ci():
            pytest.fail(message + " (CI must run the browser tests)")
        pytest.skip(message)
    return CHROMIUM


def _around_deadlock(log: str) -> str:
    at = log.find("Potential deadlock detected")
    return log[max(0, at - 2000) : at + 500]


@pytest.fixture(scope="session")
def live_server(
    chromium_executable: Path,
    db_urls: DatabaseUrls,
    settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("browser-server")
    port = embedded.free_port()
    task_queue = f"browser-{uuid.uuid4().hex[:8]}"
    env = product_env(db_urls, settings, task_queue=task_queue, port=port, workdir=workdir)
    logs = {name: workdir / f"{name}.log" for name in ("worker", "web")}
    with product_processes(env, logs, port) as (url, procs):
        yield LiveServer(url=url, task_queue=task_queue, logs=logs)
        for name, proc in procs.items():
            assert proc.poll() is None, f"`backoffice {name}` died during the browser tests"
        # Like tests/conftest.py's watch on the in-process workers: a workflow task the
        # SDK's deadlock detector failed is retried and may go unnoticed otherwise.
        worker_log = logs["worker"].read_text(errors="replace")
        assert "Potential deadlock detected" not in worker_log, _around_deadlock(worker_log)


def product_env(
    db_urls: DatabaseUrls, settings: Settings, *, task_queue: str, port: int, workdir: Path
) -> dict[str, str]:
    """The environment of a browser test's `backoffice worker` and `backoffice web`: the
    test database and Temporal, its own task queue, port and data directory."""
    env = environment_without_services()
    env.update(
        DATABASE_URL=db_urls.app,
        DATABASE_ADMIN_URL=db_urls.admin,
        TEMPORAL_ADDRESS=settings.temporal_address,
        TASK_QUEUE=task_queue,
        ENVIRONMENT="test",
        WEB_PORT=str(port),
        DATA_DIR=str(workdir / "data"),
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    return env


@contextmanager
def product_processes(
    env: dict[str, str], logs: dict[str, Path], port: int
) -> Iterator[tuple[str, dict[str, subprocess.Popen[bytes]]]]:
    """`backoffice worker` and `backoffice web` as real processes with `env`, each logging
    to `logs[name]`; yields the web app's URL once it answers, and stops both after."""
    files: list[IO[bytes]] = []
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in ("worker", "web"):
            out: IO[bytes] = logs[name].open("wb")
            files.append(out)
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "core.cli", name],
                env=env,
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        _wait_until_ready(url, procs, logs, within=120)
        yield url, procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for out in files:
            out.close()


# Module scope, not session: while Playwright's sync API is active, no asyncio code can
# run on this thread, so it must be gone before other modules' async tests and fixtures.
@pytest.fixture(scope="module")
def browser(chromium_executable: Path) -> Iterator[Browser]:
    expect.set_options(timeout=ACTION_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(chromium_executable), args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


# Chromium reports CSP violations on the console too; this makes them explicit and also
# catches the ones a page's own error handling might swallow.
REPORT_CSP_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`);
});
"""


@dataclass
class PageProblems:
    """What went wrong in the browser while a test ran: console errors, uncaught exceptions,
    server errors. A flow counts as clean only when all three stay empty."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} (at {message.location.get('url')})")

    def on_response(self, response: Response) -> None:
        if response.status >= 500:
            self.server_errors.append(f"{response.status} {response.request.method} {response.url}")

    @property
    def csp_violations(self) -> list[str]:
        return [
            e
            for e in self.console_errors
            if "Content Security Policy" in e or e.startswith("CSP violation")
        ]

    def assert_clean(self) -> None:
        assert not self.csp_violations, self.csp_violations
        assert not self.console_errors, self.console_errors
        assert not self.page_errors, self.page_errors
        assert not self.server_errors, self.server_errors


@dataclass
class Tab:
    page: Page
    problems: PageProblems
    server: LiveServer


@contextmanager
def watched_page(browser: Browser, base_url: str) -> Iterator[tuple[Page, PageProblems]]:
    """A page in a fresh browser context whose console, errors and 5xx answers are recorded."""
    context = browser.new_context(base_url=base_url)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    problems = PageProblems()
    page.on("console", problems.on_console)
    page.on("pageerror", lambda exc: problems.page_errors.append(str(exc)))
    page.on("response", problems.on_response)
    try:
        yield page, problems
    finally:
        context.close()


@pytest.fixture
def tab(browser: Browser, live_server: LiveServer) -> Iterator[Tab]:
    with watched_page(browser, live_server.url) as (page, problems):
        yield Tab(page, problems, live_server)
    # Shown only when the test failed: what the web app and the worker said meanwhile.
    print(live_server.log_tail())


class DataMaker:
    """Makes users and tariff plans for a browser test.

    While Playwright's sync API is active it marks its own event loop as running in this
    thread, so neither pytest-asyncio's loop nor asyncio.run can be used here. Each call
    runs on a short-lived thread with a loop and a database connection of its own.
    """

    def __init__(self, url: str) -> None:
        self.url = url

    def _run(self, work: Callable[[Database], Awaitable[T]]) -> T:
        async def main() -> T:
            db = Database(self.url, pool_size=1, application_name="browser-test-data")
            try:
                return await work(db)
            finally:
                await db.dispose()

        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, main()).result()

    def plan(self, **values: str) -> Plan:
        return self._run(lambda db: new_plan(db, **values))

    def staff(self, *roles: str, prefix: str) -> str:
        return self._run(lambda db: new_staff(db, *roles, prefix=prefix)).username


@pytest.fixture(scope="session")
def data_maker(db_urls: DatabaseUrls) -> DataMaker:
    return DataMaker(db_urls.app)


@pytest.fixture
def plan(data_maker: DataMaker) -> Plan:
    return data_maker.plan(fixed="2.00", percent="0.5")


@pytest.fixture
def maker(data_maker: DataMaker) -> str:
    """A product manager who also holds ops_manager: only segregation of duties, not a
    missing role, can keep them from approving their own change."""
    return data_maker.staff("product_manager", "ops_manager", prefix="maker")


@pytest.fixture
def product_manager(data_maker: DataMaker) -> str:
    return data_maker.staff("product_manager", prefix="pm")


@pytest.fixture
def checker(data_maker: DataMaker) -> str:
    return data_maker.staff("ops_manager", prefix="checker")


# ----------------------------------------------------------------------------- time skipping
@dataclass
class SkippingServer:
    """The web app on a time-skipping Temporal server, run on a loop of its own thread."""

    url: str
    loop: asyncio.AbstractEventLoop
    env: WorkflowEnvironment
    db: Database

    def run(self, work: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=120)  # type: ignore[arg-type]

    def skip(self, duration: timedelta) -> None:
        self.run(self.env.sleep(duration))

    def staff(self, *roles: str, prefix: str) -> str:
        return self.run(new_staff(self.db, *roles, prefix=prefix)).username


@pytest.fixture(scope="module")
def skipping_server(
    chromium_executable: object, db_urls: DatabaseUrls, settings: Settings
) -> Iterator[SkippingServer]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="skipping-server", daemon=True)
    thread.start()
    port = embedded.free_port()
    stop = asyncio.Event()

    async def start() -> tuple[SkippingServer, asyncio.Task[None]]:
        env = await start_skipping_env()
        db = Database(db_urls.app, pool_size=10, application_name="browser-skipping")
        queue = f"browser-skip-{uuid.uuid4().hex[:8]}"
        local = settings.model_copy(update={"task_queue": queue})
        app = create_app(local, db=db, temporal=env.client)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )

        async def serve() -> None:
            async with build_worker(env.client, db, queue):
                serving = asyncio.create_task(server.serve())
                await stop.wait()
                server.should_exit = True
                await serving
            await db.dispose()
            await env.shutdown()

        running = asyncio.create_task(serve())
        while not server.started:
            if running.done():
                running.result()
            await asyncio.sleep(0.05)
        return SkippingServer(f"http://127.0.0.1:{port}", loop, env, db), running

    started, running = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=120)
    try:
        yield started
    finally:
        loop.call_soon_threadsafe(stop.set)
        asyncio.run_coroutine_threadsafe(asyncio.wait_for(running, 30), loop).result(timeout=40)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@dataclass
class SkipTab:
    page: Page
    problems: PageProblems
    server: SkippingServer


@pytest.fixture
def skip_tab(browser: Browser, skipping_server: SkippingServer) -> Iterator[SkipTab]:
    with watched_page(browser, skipping_server.url) as (page, problems):
        yield SkipTab(page, problems, skipping_server)
