"""`POST /api/v1/screening/check` through real HTTP: what a caller upstream waits for.

The web app runs as `backoffice web` runs it (uvicorn, `app:create_app`) in a child process
against a fresh embedded PostgreSQL with every list the importer knows loaded; this process
is the client (one keep-alive connection, one request at a time: a quiet machine). Each
check is authenticated by a bearer token, screened against all lists and audited in the
same transaction, exactly as in production. The first requests build the index and are not
counted.

    .venv/bin/python -m bench.screening_api [--requests 2000] [--lists OFAC-SDN,UN-SC]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from audit import trail as audit
from bench.changes import PASSWORD, owner_database
from bench.services import APP_ROLE, Services, running_services
from core import embedded
from core.db import Database, run_sql
from identity import staff
from screening.commands import importer

REPO = Path(__file__).resolve().parents[1]

# Names an analyst types: listed names written differently, other scripts, and names
# that match nothing (most real checks).
QUERIES = [
    {"name": "Vladimir Putin"},
    {"name": "Kim Jong Un", "kind": "person"},
    {"name": "Banco Nacional de Cuba", "kind": "entity"},
    {"name": "Musa Mohamed Abu Marzouk", "date_of_birth": "1951-02-09"},
    {"name": "Олег Дерипаска"},
    {"name": "أسامة بن لادن"},
    {"name": "Jane Alison Smith", "kind": "person", "nationality": "GB"},
    {"name": "Acme Trading GmbH", "kind": "entity"},
    {"name": "Peter Müller"},
    {"name": "Maria Fernanda Gonzalez Lopez", "date_of_birth": "1980-04-01"},
]


@dataclass(frozen=True)
class ApiTiming:
    requests: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    lists: list[str]
    server_cpu_ms: float  # CPU time of the web process per check (less noisy than latency)
    audit_p50_ms: float  # one audit write in its own transaction (lock, head, insert, commit)
    audit_lock_p50_ms: float  # of which the chain's advisory lock alone (issue 19's)

    def row(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "p50_ms": round(self.p50_ms, 2),
            "p90_ms": round(self.p90_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "max_ms": round(self.max_ms, 2),
            "server_cpu_ms_per_check": round(self.server_cpu_ms, 2),
            "audit_write_p50_ms": round(self.audit_p50_ms, 2),
            "audit_lock_p50_ms": round(self.audit_lock_p50_ms, 2),
            "lists": self.lists,
        }


async def load_lists(db: Database, names: Sequence[str]) -> list[str]:
    """Import the named lists from the repository's copies (`importer.DEMO_LISTS`: OFAC SDN,
    the US consolidated list, the UN list, the PEP list); returns what was loaded."""
    files = {name: (path, day) for name, path, day in importer.DEMO_LISTS}
    loaded = []
    for name in names:
        path, day = files[name]
        await importer.import_list(db, name, path, list_date=day)
        loaded.append(name)
    return loaded


def _serve(services: Services, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": services.urls.app,
        "DATABASE_ADMIN_URL": services.urls.admin,
        "APP_DB_ROLE": APP_ROLE,
        "DATA_DIR": str(services.workdir / "data"),
        "TEMPORAL_ADDRESS": services.temporal_address,
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "core.cli", "web", "--port", str(port)],
        cwd=REPO,
        env=env,
    )


async def _wait_up(http: httpx.AsyncClient, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the web app exited with {server.returncode}")
        try:
            if (await http.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError("the web app did not start in 60 s")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def time_checks(
    base_url: str, token: str, requests: int, *, path: str = "/api/v1/screening/check"
) -> list[float]:
    """Latencies (ms) of `requests` sequential checks, after a warm-up."""
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120) as http:
        for body in QUERIES:  # builds the index; warms the pools
            (await http.post(path, json=body)).raise_for_status()
        latencies = []
        for _ in range(requests):
            body = rng.choice(QUERIES)
            started = time.perf_counter()
            response = await http.post(path, json=body)
            latencies.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
    return latencies


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def audit_write_ms(db: Database, count: int = 300) -> tuple[float, float]:
    """p50 of one audit write in its own transaction, and of the chain lock alone."""
    writes, locks = [], []
    for _ in range(count):
        started = time.perf_counter()
        async with db.transaction() as session:
            await audit.record(session, action="bench.audit_write", actor=audit.SYSTEM)
        writes.append((time.perf_counter() - started) * 1000)
        async with db.transaction() as session:
            started = time.perf_counter()
            await run_sql(session, "SELECT pg_advisory_xact_lock(:k)", {"k": audit._CHAIN_LOCK})
            locks.append((time.perf_counter() - started) * 1000)
    return statistics.median(writes), statistics.median(locks)


async def measure(services: Services, names: Sequence[str], requests: int) -> ApiTiming:
    db = Database(services.urls.app, pool_size=2, application_name="bench-screening-api")
    try:
        loaded = await load_lists(db, names)
        username = "bench-screening-analyst"
        await staff.create_user(
            owner_database(db), username=username, password=PASSWORD, roles=["kyc_analyst"]
        )
        audit_p50, lock_p50 = await audit_write_ms(db)
    finally:
        await db.dispose()
    port = embedded.free_port()
    server = _serve(services, port)
    try:
        base_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
            await _wait_up(http, server)
            response = await http.post(
                "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
            )
            response.raise_for_status()
            token = response.json()["access_token"]
        await time_checks(base_url, token, 0)  # builds the index before CPU is counted
        cpu_before = cpu_seconds(server.pid)
        latencies = await time_checks(base_url, token, requests)
        cpu_after = cpu_seconds(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return ApiTiming(
        requests=len(latencies),
        p50_ms=statistics.median(latencies),
        p90_ms=percentile(latencies, 0.90),
        p99_ms=percentile(latencies, 0.99),
        max_ms=max(latencies),
        lists=loaded,
        # The warm-up requests of the timed run are counted too (a handful).
        server_cpu_ms=(cpu_after - cpu_before) * 1000 / (requests + len(QUERIES)),
        audit_p50_ms=audit_p50,
        audit_lock_p50_ms=lock_p50,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--lists", default="OFAC-SDN,OFAC-CONS,UN-SC,PEP-OS")
    args = parser.parse_args(argv)
    with running_services() as (services, _stop):
        timing = asyncio.run(measure(services, args.lists.split(","), args.requests))
    print(timing.row())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
