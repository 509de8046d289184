"""Schemathesis against a real uvicorn server of the app: every operation of /openapi.json,
at most 30 examples each, signed in as someone holding (almost) every role. No answer may be
a server error, a status the document does not declare, or a body that does not fit its
declared schema.

The server has a database of its own (what the fuzzer creates stays out of other tests' way)
and a worker on a task queue of its own; PostgreSQL and Temporal are the session's.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from app import create_app
from core import embedded
from core.db import Database
from core.settings import Settings
from demo import seed
from models.cases import Task, TaskStatus
from models.changes import ChangeRequest
from models.roles import ROLES
from models.tariffs import Fee
from tests.conftest import create_database
from tests.dispute_data import opened_dispute
from tests.helpers import (
    PASSWORD,
    TOTP_SECRETS,
    environment_without_services,
    new_staff,
    owner_database,
    totp_code,
)
from worker import build_worker

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
MAX_EXAMPLES = 30
SEED = os.environ.get("SCHEMATHESIS_SEED", "13")
# One worker: the server is the bottleneck (more workers measured no faster), and threads in
# schemathesis can meet a CPython 3.11 AST race ("recursion depth mismatch") in generation.
WORKERS = os.environ.get("SCHEMATHESIS_WORKERS", "1")
# Run separately, last: revoking the token would leave every later request a 401.
LOGOUT = "/api/v1/auth/logout"
pytestmark = pytest.mark.timeout(600)


@dataclass
class SchemaServer:
    url: str
    db: Database
    known: dict[str, str]  # path parameters of objects that exist, so requests reach logic


@pytest.fixture(scope="module")
async def schema_server(
    pg_socket: Path, settings: Settings, temporal_env: WorkflowEnvironment
) -> AsyncIterator[SchemaServer]:
    urls = create_database(pg_socket, f"bo_schema_{uuid.uuid4().hex[:8]}")
    db = Database(urls.app, pool_size=10, application_name="schemathesis-server")
    local = settings.model_copy(
        update={
            "database_url": urls.app,
            "database_admin_url": urls.admin,
            "task_queue": f"schema-{uuid.uuid4().hex[:8]}",
        }
    )
    port = embedded.free_port()
    app = create_app(local, db=db, temporal=temporal_env.client)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            proxy_headers=False,
            access_log=False,
        )
    )
    async with build_worker(temporal_env.client, db, local.task_queue):
        # Something to read: the demo's staff, tariff plans and change requests in every
        # state (made through the real entry points), so lists answer with real items.
        await seed.seed_staff(owner_database(db))
        await seed.seed_tariffs(db)
        await seed.seed_changes(db, temporal_env.client, local)
        # A customer with an account, a card payment and a dispute opened on it.
        payment, dispute = await opened_dispute(db, temporal_env.client, local)
        known = {
            **await _known_ids(db),
            "customer_id": str(payment.customer.id),
            "account_id": str(payment.customer.account_id),
            "case_id": str(dispute.case_id),
        }
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.05)
        try:
            yield SchemaServer(f"http://127.0.0.1:{port}", db, known)
        finally:
            server.should_exit = True
            await asyncio.wait_for(serving, 30)
    await db.dispose()


async def _known_ids(db: Database) -> dict[str, str]:
    async with db.session() as session:
        open_task = (
            await session.exec(select(Task.id).where(Task.status == TaskStatus.OPEN))
        ).first()
        change = (await session.exec(select(ChangeRequest.id))).first()
        fee = (await session.exec(select(Fee.id))).first()
    found = {"task_id": open_task, "change_id": change, "target_id": fee}
    return {name: str(value) for name, value in found.items() if value is not None}


async def _token(url: str, username: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        credentials = {"username": username, "password": PASSWORD}
        if username in TOTP_SECRETS:  # new_staff gave them a second factor
            credentials["totp"] = await totp_code(username)
        response = await client.post("/api/v1/auth/token", json=credentials)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


async def _schemathesis(
    server: SchemaServer, token: str, workdir: Path, *options: str
) -> tuple[int, str]:
    url = server.url
    # Some path parameters name objects that exist (the rest are generated, mostly 404s).
    (workdir / "schemathesis.toml").write_text(
        "[parameters]\n" + "".join(f'"path.{k}" = "{v}"\n' for k, v in server.known.items())
    )
    args = [
        str(SCHEMATHESIS),
        "run",
        f"{url}/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        SEED,
        "--workers",
        WORKERS,
        "--header",
        f"Authorization: Bearer {token}",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        # The stateful phase follows links between operations; the schema declares none.
        "--phases",
        "examples,coverage,fuzzing",
        "--no-color",
        "--output-truncate",
        "false",
        *options,
    ]
    env = {**environment_without_services(), "HOME": str(workdir)}
    # In a thread, so that this event loop (which serves the requests) keeps running; in a
    # directory of its own, which gets schemathesis's and hypothesis's caches.
    done = await asyncio.to_thread(
        subprocess.run,
        args,
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=500,
    )
    return done.returncode, done.stdout + done.stderr


async def test_schemathesis_finds_no_server_error_and_no_undocumented_status(
    schema_server: SchemaServer, tmp_path: Path
) -> None:
    # Every role but the auditor's, whose explicit denies would refuse most writes.
    person = await new_staff(schema_server.db, *(r for r in ROLES if r != "auditor"))
    token = await _token(schema_server.url, person.username)
    started = time.monotonic()
    code, output = await _schemathesis(schema_server, token, tmp_path, "--exclude-path", LOGOUT)
    print(output)
    print(f"schemathesis, all operations but logout: {time.monotonic() - started:.1f} s")
    assert code == 0, output[-20_000:]
    code, output = await _schemathesis(schema_server, token, tmp_path, "--include-path", LOGOUT)
    print(output)
    assert code == 0, output[-20_000:]
    print(f"schemathesis in all: {time.monotonic() - started:.1f} s")
