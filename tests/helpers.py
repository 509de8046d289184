"""Small builders shared by the tests: staff users, tariff plans, signed-in clients."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pyotp
from sqlalchemy.engine import make_url
from sqlmodel import func, select

from casework import catalog as _catalog  # noqa: F401 (registers every process's kinds)
from casework import registry
from core import embedded
from core.db import Database, run_sql
from core.settings import Settings
from demo.mfa import stepped_up
from identity import mfa, staff
from identity.actors import Actor
from identity.auth import roles_of
from models.audit import AuditEvent
from models.base import utcnow
from models.cases import Notification, Task
from models.mfa import StaffMfa
from models.staff import StaffUser
from models.tariffs import Fee, FeeVersion, Limit, LimitVersion, TariffPlan
from models.workflow_io import Origin

PASSWORD = "correct-horse-battery"

# Whatever the developer's shell points at must not leak into the processes under test
# (a DATABASE_URL there would, for instance, turn the embedded PostgreSQL off).
SERVICE_VARS = (
    "DATABASE_URL",
    "DATABASE_ADMIN_URL",
    "TEMPORAL_ADDRESS",
    "TEMPORAL_UI_URL",
    "TASK_QUEUE",
    "PUBLIC_URL",
    "DATA_DIR",
    "WEB_PORT",
    "TEMPORAL_PORT",
    "TEMPORAL_UI_PORT",
    "ENVIRONMENT",
)


def environment_without_services() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}


T = TypeVar("T")


@dataclass
class Staff:
    username: str
    actor: Actor


_OWNERS: dict[str, Database] = {}


def owner_database(db: Database) -> Database:
    """The table owner's connection to the embedded database `db` uses: only the owner may
    grant roles directly (the role_assignment door, migration 0021), as fixtures do."""
    url = make_url(db.url)
    key = f"{url.query.get('host')}/{url.database}"
    if key not in _OWNERS:
        socket_dir = Path(str(url.query["host"]))
        pgdata = embedded.data_dir_of_socket(socket_dir)
        admin = embedded.postgres_url(
            pgdata, embedded.POSTGRES_SUPERUSER, str(url.database), socket_dir=socket_dir
        )
        _OWNERS[key] = Database(admin, pool_size=2, application_name="tests-owner")
    return _OWNERS[key]


async def new_staff(db: Database, *roles: str, prefix: str = "u") -> Staff:
    """A staff user holding `roles`, provisioned by the table owner (no four-eyes here: the
    fixture plays the bank's identity team)."""
    username = f"{prefix}-{uuid.uuid4().hex[:10]}"
    await staff.create_user(owner_database(db), username=username, password=PASSWORD, roles=roles)
    async with db.session() as session:
        user = (await session.exec(select(StaffUser).where(StaffUser.username == username))).one()
        granted = await roles_of(session, user.id)
        must_enrol = await mfa.must_enrol(session, user.id, granted)
    actor = Actor(user.id, username, username, granted, Origin(request_id=uuid.uuid4().hex))
    # Whoever the access policy requires to have a second factor, or who may take a decision
    # that needs a step-up, gets one (its secret in TOTP_SECRETS: web_login and api_headers
    # enter its codes), and the actor has stepped up just now (step_up): it may approve at once.
    approver = bool(set(granted) & STEP_UP_ROLES)
    if must_enrol or approver:
        await enrol_factor(db, actor)
    return Staff(username, await step_up(db, actor) if approver else actor)


# ------------------------------------------------------------------- the second factor
# Roles that take a task whose outcomes include one that needs a step-up (approvals).
STEP_UP_ROLES = frozenset(role for k in registry.kinds() if k.step_up_for for role in k.roles)
# The second-factor key of the test suite (test-only; tests/conftest.py puts it in MFA_KEYS).
TEST_MFA_KEYS = "test1:dGVzdC1vbmx5LXNlY29uZC1mYWN0b3Ita2V5LTMyYiE="
# Each enrolled test person's TOTP secret, by username (enrol_factor, web_login's enrolment).
TOTP_SECRETS: dict[str, str] = {}
_USED_STEPS: dict[str, int] = {}


def _mfa_settings() -> Settings:
    return Settings(environment="test", mfa_keys=TEST_MFA_KEYS)


async def enrol_factor(db: Database, actor: Actor) -> str:
    """Give a person a confirmed second factor (as if enrolled); returns its secret."""
    secret = pyotp.random_base32()
    async with db.transaction() as session:
        await run_sql(session, "DELETE FROM staff_mfa WHERE user_id = :uid", {"uid": actor.user_id})
        session.add(
            StaffMfa(
                user_id=actor.user_id,
                secret_encrypted=mfa.seal(_mfa_settings(), actor.user_id, secret),
                confirmed_at=utcnow(),
            )
        )
    TOTP_SECRETS[actor.username] = secret
    _USED_STEPS.pop(actor.username, None)
    return secret


def _unused_code(username: str) -> tuple[str | None, float]:
    """A code of this person's app not used yet (a code is accepted once: this time step's,
    else the next one's, which the server also accepts), or how long to wait for one."""
    current = int(time.time()) // mfa.STEP_SECONDS
    step = max(current, _USED_STEPS.get(username, 0) + 1)
    if step > current + 1:
        return None, (current + 1) * mfa.STEP_SECONDS - time.time() + 0.05
    _USED_STEPS[username] = step
    return str(pyotp.TOTP(TOTP_SECRETS[username]).at(step * mfa.STEP_SECONDS)), 0.0


async def totp_code(username: str) -> str:
    """A code of this person's authenticator app that was not used yet."""
    while True:
        code, wait = _unused_code(username)
        if code is not None:
            return code
        await asyncio.sleep(wait)


def totp_code_now(username: str) -> str:
    """`totp_code` for synchronous callers (the browser tests)."""
    while True:
        code, wait = _unused_code(username)
        if code is not None:
            return code
        time.sleep(wait)


async def step_up(db: Database, actor: Actor) -> Actor:
    """The actor has proved the second factor just now (a step-up), as a live session of
    theirs: decisions that need one (approvals, write-offs, SAR decisions) pass the door and
    the kernel for the next few minutes (AccessPolicy.step_up_minutes)."""
    return await stepped_up(db, actor, lasting=timedelta(hours=8), user_agent=None)


@dataclass
class Plan:
    id: uuid.UUID
    code: str
    fee_id: uuid.UUID
    limit_id: uuid.UUID


async def new_plan(
    db: Database,
    *,
    currency: str = "EUR",
    fixed: str = "2.00",
    percent: str = "0.5",
    limit: str = "1000.00",
    segment: str = "retail",
    is_default: bool = False,
) -> Plan:
    code = f"T-{uuid.uuid4().hex[:8].upper()}"
    async with db.transaction() as session:
        plan = TariffPlan(
            code=code,
            name=f"Test plan {code}",
            segment=segment,
            currency=currency,
            is_default=is_default,
        )
        session.add(plan)
        await session.flush()
        fee = Fee(plan_id=plan.id, transaction_type="atm_withdrawal", currency=currency)
        lim = Limit(
            plan_id=plan.id, transaction_type="atm_withdrawal", period="daily", currency=currency
        )
        session.add_all([fee, lim])
        await session.flush()
        session.add(
            FeeVersion(
                fee_id=fee.id, version=1, fixed_amount=Decimal(fixed), percent=Decimal(percent)
            )
        )
        session.add(LimitVersion(limit_id=lim.id, version=1, amount=Decimal(limit)))
    return Plan(plan.id, code, fee.id, lim.id)


# How long "it must eventually happen" may take. Generous on purpose: the suite must pass on
# a 2-core machine that runs a second suite beside it (load 8-15), where a step that takes
# 50 ms when quiet can take many seconds. A passing test never waits for it; only a test
# that is failing anyway does. "It must NOT happen" is never checked by waiting.
EVENTUALLY = 90.0


async def eventually(
    probe: Callable[[], Awaitable[T]], *, within: float = EVENTUALLY, what: str = "condition"
) -> T:
    """Await a condition made true by someone else (a worker, a workflow, a process): ask
    `probe` every 50 ms until it returns something truthy, and return that. (Not slower:
    a few tests look for a state that lasts only a moment, such as a file partly read.)"""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await probe()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


async def task_of(db: Database, workflow_id: str, key: str = "approve") -> Task:
    async def probe() -> Task | None:
        async with db.session() as session:
            return (
                await session.exec(
                    select(Task).where(Task.workflow_id == workflow_id, Task.task_key == key)
                )
            ).first()

    return await eventually(probe, what=f"task {key} of {workflow_id}")


async def backtest_finished(db: Database, temporal: Any, change_id: uuid.UUID | str) -> str:
    """Wait for an AML rule change's backtest to end and its change to be told (the change's
    approval waits for that); the backtest's status."""

    async def probe() -> str | None:
        async with db.session() as session:
            return (
                await run_sql(
                    session,
                    "SELECT workflow_id FROM aml_backtest WHERE change_id = :id "
                    "ORDER BY created_at DESC LIMIT 1",
                    {"id": uuid.UUID(str(change_id))},
                )
            ).scalar_one_or_none()

    workflow_id = await eventually(probe, what=f"the backtest of change {change_id}")
    outcome = await asyncio.wait_for(temporal.get_workflow_handle(workflow_id).result(), 120)
    return str(outcome.status if hasattr(outcome, "status") else outcome["status"])


async def api_headers(
    http: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> dict[str, str]:
    body = {"username": username, "password": password}
    if username in TOTP_SECRETS:  # with a second factor: its code too (the token steps up)
        body["totp"] = await totp_code(username)
    response = await http.post("/api/v1/auth/token", json=body)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
LOGIN_CSRF_RE = re.compile(r'id="login-csrf" name="csrf_token" value="([^"]+)"')


async def web_login(http: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the login form; returns the session's CSRF token."""
    page = await http.get("/login?switch=1")
    token = LOGIN_CSRF_RE.search(page.text)
    assert token, "login form carries a CSRF token"
    response = await http.post(
        "/login", data={"username": username, "password": password, "csrf_token": token.group(1)}
    )
    assert response.status_code == 303, response.text
    await _second_factor_after_login(http, username, response.headers.get("location", ""))
    inbox = await http.get("/inbox")
    match = CSRF_RE.search(inbox.text)
    assert match
    return match.group(1)


MFA_SECRET_RE = re.compile(r'id="mfa-secret">([A-Z2-7]+)<')
MFA_ENROLMENT_RE = re.compile(r'name="enrolment" value="([^"]+)"')


async def _second_factor_after_login(http: httpx.AsyncClient, username: str, location: str) -> None:
    """The second step of signing in: the code (someone with a factor), or the enrolment
    (someone whose roles need one and who has none: its secret is kept in TOTP_SECRETS)."""
    if location.startswith("/mfa/verify"):
        page = await http.get(location)
        csrf = CSRF_RE.search(page.text)
        assert csrf, page.text
        done = await http.post(
            "/mfa/verify", data={"code": await totp_code(username), "csrf_token": csrf.group(1)}
        )
        assert done.status_code == 303, done.text
    elif location.startswith("/mfa/enrol"):
        page = await http.get("/mfa/enrol")
        secret, csrf = MFA_SECRET_RE.search(page.text), CSRF_RE.search(page.text)
        token = MFA_ENROLMENT_RE.search(page.text)
        assert secret and csrf and token, page.text
        TOTP_SECRETS[username] = secret.group(1)
        _USED_STEPS.pop(username, None)
        code = await totp_code(username)
        done = await http.post(
            "/mfa/enrol",
            data={"code": code, "csrf_token": csrf.group(1), "enrolment": token.group(1)},
        )
        assert done.status_code == 200, done.text


async def propose_via_api(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    target: str,
    target_id: uuid.UUID,
    **changes: str,
) -> dict[str, str]:
    response = await http.post(
        "/api/v1/changes", json=proposal(target, target_id, **changes), headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def proposal(target_type: str, target_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    return {
        "target_type": target_type,
        "target_id": str(target_id),
        "changes": changes,
        "reason": "Test change with a proper justification.",
        "effective_at": None,
    }


async def run_command(
    args: list[str], *, env: dict[str, str], stdin: str = "", kill_after: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion without stopping the event loop.

    The tests' worker shares this loop: blocking it (a bare subprocess.run in an async test)
    can freeze one of its activities mid-transaction while it holds a lock, e.g. the audit
    chain's, that the command then waits for until the timeout.
    """
    return await asyncio.to_thread(
        subprocess.run,
        args,
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=kill_after,
    )


@asynccontextmanager
async def served_by_uvicorn(app: object) -> AsyncIterator[str]:
    """The app behind a real uvicorn, configured as `backoffice web` configures it (for
    clients outside this process, and for what only a real server does: client addresses)."""
    import uvicorn

    from core.cli import UVICORN_OPTIONS

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host="127.0.0.1",
        port=port,
        lifespan="off",
        **UVICORN_OPTIONS,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                serving.result()
                raise AssertionError("uvicorn stopped before it started")
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


async def notification(db: Database, dedupe_key: str) -> Notification:
    """The one notification queued under this key."""
    async with db.session() as session:
        return (
            await session.exec(select(Notification).where(Notification.dedupe_key == dedupe_key))
        ).one()


async def audit_count(
    db: Database, action: str, case_id: uuid.UUID, outcome: str = "success"
) -> int:
    """How many audit events of `action` with this outcome the case (or task) has."""
    async with db.session() as session:
        return int(
            (
                await session.exec(
                    select(func.count())
                    .select_from(AuditEvent)
                    .where(
                        AuditEvent.action == action,
                        AuditEvent.object_id == str(case_id),
                        AuditEvent.outcome == outcome,
                    )
                )
            ).one()
        )


@asynccontextmanager
async def local_temporal() -> AsyncIterator[Any]:
    """A real Temporal dev server of the caller's own (the venv's `temporal` binary, no UI),
    with the product's search attributes and the tests' payload codec."""
    from temporalio.testing import WorkflowEnvironment

    from core import embedded
    from core.codec import build_data_converter
    from core.search_attributes import SEARCH_ATTRIBUTES
    from tests.codec_keys import codec_ring

    env = await WorkflowEnvironment.start_local(
        data_converter=build_data_converter(codec_ring()),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_existing_path=str(embedded.venv_binary("temporal")),
        ui=False,
    )
    try:
        yield env
    finally:
        await env.shutdown()
