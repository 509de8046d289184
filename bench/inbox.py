"""Benchmark 2: the inbox and claims with many open tasks, next to the raw SQL behind them.

Ours goes through the real ASGI app (routing, session/bearer auth, Casbin, the domain
function, SQLAlchemy, templates or JSON). The baseline runs the same statements that
casework/inbox.py sends, with psycopg directly, as the same least-privileged role.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from app import create_app
from bench.changes import PASSWORD, bench_actor
from bench.report import percentile
from bench.services import Services, queue_name
from core.db import Database

# Candidate roles the open tasks are spread over, with the kind and case type of each.
TASK_ROLES: tuple[tuple[str, str, str], ...] = (
    ("ops_manager", "change_approval", "change_request"),
    ("risk_manager", "change_risk_approval", "change_request"),
    ("kyc_analyst", "kyc_review", "onboarding"),
    ("aml_analyst", "aml_alert_review", "aml"),
)
PER_PAGE = 25
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')

# The two statements casework.inbox.inbox runs for scope=available without a text search
# (count, then one page, most urgent first: casework/priority.py's rank, then due; a snoozed
# case's tasks left out, casework/snooze.py).
AVAILABLE = (
    "t.status = 'open' AND t.candidate_role = ANY(%(roles)s) "
    "AND NOT (%(me)s = ANY(t.excluded_actors)) "
    "AND NOT EXISTS (SELECT 1 FROM case_snooze cs WHERE cs.case_id = t.case_id "
    "AND cs.ended_at IS NULL)"
)
COUNT_SQL = f"SELECT count(*) FROM task t WHERE {AVAILABLE}"
# The page: each role's first rows in the inbox's order (ix_task_open_role_urgent), merged.
PAGE_SQL = (
    "SELECT u.id FROM unnest(%(roles)s::text[]) AS r(role) CROSS JOIN LATERAL ("
    f"SELECT t.id, t.urgency, t.due_at FROM task t WHERE t.candidate_role = r.role AND {AVAILABLE} "
    "ORDER BY t.urgency DESC, t.due_at, t.id LIMIT %(limit)s + %(offset)s) AS u "
    "ORDER BY u.urgency DESC, u.due_at, u.id LIMIT %(limit)s OFFSET %(offset)s"
)
# The conditional update casework.tasks.claim_task runs (without its checks and audit event).
CLAIM_SQL = (
    "UPDATE task SET status = 'claimed', assignee_id = %(me)s, claimed_at = now() "
    "WHERE id = %(id)s AND status = 'open' AND NOT (%(me)s = ANY(excluded_actors)) "
    "RETURNING id"
)


@dataclass
class Latency:
    ours_ms: list[float]
    baseline_ms: list[float]

    def summary(self) -> dict[str, Any]:
        return {
            "samples": len(self.ours_ms),
            "ours_ms_p50": round(percentile(self.ours_ms, 50), 2),
            "ours_ms_p95": round(percentile(self.ours_ms, 95), 2),
            "baseline_ms_p50": round(percentile(self.baseline_ms, 50), 2),
            "baseline_ms_p95": round(percentile(self.baseline_ms, 95), 2),
        }


def bulk_load(services: Services, total: int) -> dict[str, Any]:
    """Insert `total` open tasks, each in its own case, spread evenly over TASK_ROLES.

    One INSERT ... SELECT per table as the owner: PostgreSQL generates the rows itself.
    Then VACUUM ANALYZE, as autovacuum would after a load of that size.
    """
    n_roles = len(TASK_ROLES)
    role_case = " ".join(f"WHEN {i} THEN '{r}'" for i, (r, _, _) in enumerate(TASK_ROLES))
    kind_case = " ".join(f"WHEN {i} THEN '{k}'" for i, (_, k, _) in enumerate(TASK_ROLES))
    type_case = " ".join(f"WHEN {i} THEN '{t}'" for i, (_, _, t) in enumerate(TASK_ROLES))
    started = time.perf_counter()
    with psycopg.connect(services.owner_dsn) as conn:
        conn.execute(
            f"""
            INSERT INTO "case" (id, reference, case_type, title, status, stage, priority,
                                risk_level, subject_type, subject_id, workflow_id, opened_at)
            SELECT md5('bench-case-' || g)::uuid, 'BEN-' || g,
                   CASE g %% {n_roles} {type_case} END,
                   'Benchmark case ' || g, 'open', 'open',
                   (ARRAY['low', 'normal', 'normal', 'high'])[1 + g %% 4], 'low',
                   'bench', g::text, 'bench-' || g,
                   now() - make_interval(mins => g %% 10000)
            FROM generate_series(1, %(total)s) AS g
            """,
            {"total": total},
        )
        conn.execute(
            f"""
            INSERT INTO task (id, case_id, workflow_id, task_key, kind, title, candidate_role,
                              status, priority, escalation_level, allowed_outcomes,
                              reason_required_for, excluded_actors, created_at, due_at)
            SELECT md5('bench-task-' || g)::uuid, md5('bench-case-' || g)::uuid,
                   'bench-' || g, 'approve',
                   CASE g %% {n_roles} {kind_case} END,
                   'Review benchmark case BEN-' || g,
                   CASE g %% {n_roles} {role_case} END,
                   'open', (ARRAY['low', 'normal', 'normal', 'high'])[1 + g %% 4], 0,
                   ARRAY['approve', 'reject'], ARRAY['reject'], '{{}}'::uuid[],
                   now() - make_interval(mins => g %% 10000),
                   -- a few overdue, most due within the month, in no particular order
                   now() + make_interval(mins => (g * 7919) %% 43200 - 2880)
            FROM generate_series(1, %(total)s) AS g
            """,
            {"total": total},
        )
    loaded = time.perf_counter() - started
    with psycopg.connect(services.owner_dsn, autocommit=True) as conn:
        conn.execute('VACUUM ANALYZE task, "case"')
    return {
        "open_tasks": total,
        "roles": [r for r, _, _ in TASK_ROLES],
        "load_seconds": round(loaded, 2),
        "vacuum_analyze_seconds": round(time.perf_counter() - started - loaded, 2),
    }


async def _time(
    samples: int, warmup: int, *calls: Callable[[], Awaitable[None]]
) -> list[list[float]]:
    """Milliseconds per call, one call at a time. Several calls are interleaved (a, b, a,
    b, ...) so that whatever else the machine does at some moment hits them alike."""
    for _ in range(warmup):
        for call in calls:
            await call()
    out: list[list[float]] = [[] for _ in calls]
    for _ in range(samples):
        for call, times in zip(calls, out, strict=True):
            started = time.perf_counter()
            await call()
            times.append((time.perf_counter() - started) * 1000)
    return out


async def _web_login(http: httpx.AsyncClient, username: str) -> None:
    """Sign in through the login form as tests/helpers.web_login does (session cookie)."""
    page = await http.get("/login")
    token = CSRF_RE.search(page.text)
    if token is None:
        raise RuntimeError("the login form carries no CSRF token")
    response = await http.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    if response.status_code != 303:
        raise RuntimeError(f"login failed: {response.status_code} {response.text[:200]}")


async def run(
    services: Services, *, total: int, samples: int, warmup: int
) -> tuple[dict[str, Latency], dict[str, Any]]:
    # A thread, so the event loop (and its signal handlers) stays responsive meanwhile.
    load = await asyncio.to_thread(bulk_load, services, total)
    db = Database(services.urls.app, pool_size=10, application_name="bench-web")
    settings = services.settings(queue_name("bench-inbox"))
    results: dict[str, Latency] = {}
    try:
        manager = await bench_actor(db, "ops_manager")
        roles = sorted(manager.roles)
        expected = total // len(TASK_ROLES)  # rows with g % 4 == 0: the first role's
        # The app never reaches Temporal on these routes; the client stays unconnected.
        app = create_app(settings, db=db)
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5555))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://bench") as web,
            httpx.AsyncClient(transport=transport, base_url="http://bench") as api,
        ):
            await _web_login(web, manager.username)
            token = await api.post(
                "/api/v1/auth/token", json={"username": manager.username, "password": PASSWORD}
            )
            token.raise_for_status()
            api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

            first = await web.get("/inbox?scope=available")
            if first.status_code != 200 or "BEN-" not in first.text:
                raise RuntimeError(f"inbox page: {first.status_code} {first.text[:300]}")
            listed = (await api.get("/api/v1/tasks?scope=available")).json()
            if listed["total"] != expected or len(listed["items"]) != PER_PAGE:
                raise RuntimeError(f"API listed {listed['total']} tasks, expected {expected}")

            async def page() -> None:
                response = await web.get("/inbox?scope=available")
                if response.status_code != 200:
                    raise RuntimeError(f"inbox page answered {response.status_code}")

            async def api_list() -> None:
                response = await api.get("/api/v1/tasks?scope=available")
                if response.status_code != 200:
                    raise RuntimeError(f"task list answered {response.status_code}")

            # The baselines use async psycopg, as SQLAlchemy does underneath the app.
            async with await psycopg.AsyncConnection.connect(
                services.app_dsn, autocommit=True
            ) as conn:
                params: dict[str, Any] = {
                    "roles": roles,
                    "me": manager.user_id,
                    "limit": PER_PAGE,
                    "offset": 0,
                }

                async def raw_inbox() -> None:
                    count = await (await conn.execute(COUNT_SQL, params)).fetchone()
                    ids = await (await conn.execute(PAGE_SQL, params)).fetchall()
                    if count is None or count[0] != expected or len(ids) != PER_PAGE:
                        raise RuntimeError("the raw inbox query returned the wrong rows")

                raw, page_ms, api_ms = await _time(samples, warmup, raw_inbox, page, api_list)
                results["inbox_page"] = Latency(page_ms, raw)
                results["inbox_api"] = Latency(api_ms, raw)

                # Claims on distinct tasks: half through the API, half by the raw UPDATE.
                rows = await (
                    await conn.execute(
                        "SELECT id FROM task WHERE status = 'open' AND candidate_role = 'ops_manager' "
                        "ORDER BY md5(id::text) LIMIT %(n)s",
                        {"n": 2 * (samples + warmup)},
                    )
                ).fetchall()
                api_ids, raw_ids = iter([r[0] for r in rows[::2]]), iter([r[0] for r in rows[1::2]])

                async def claim() -> None:
                    response = await api.post(f"/api/v1/tasks/{next(api_ids)}/claim")
                    if response.status_code != 200:
                        raise RuntimeError(f"claim answered {response.status_code}")

                async def raw_claim() -> None:
                    cursor = await conn.execute(
                        CLAIM_SQL, {"me": manager.user_id, "id": next(raw_ids)}
                    )
                    if await cursor.fetchone() is None:
                        raise RuntimeError("the raw claim updated nothing")

                claim_ms, raw_claim_ms = await _time(samples, warmup, claim, raw_claim)
                results["claim"] = Latency(claim_ms, raw_claim_ms)
    finally:
        await db.dispose()
    load["visible_to_ops_manager"] = expected
    return results, load
