"""The checks that ask PostgreSQL: the server itself, the audit checkpoint, the outbox."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from core.db import Database
from core.status.model import Outcome, ago, utc

SLOW_QUERY = timedelta(milliseconds=500)
OUTBOX_MAX_WAIT = timedelta(hours=1)


async def check_postgresql(db: Database) -> Outcome:
    async with db.session() as session:
        connection = await session.connection()
        await connection.execute(text("SET LOCAL statement_timeout = '2s'"))
        started = time.perf_counter()
        await connection.execute(text("SELECT 1"))
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        row = (
            await connection.execute(
                text(
                    "SELECT current_setting('server_version'), "
                    "(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()), "
                    "current_setting('max_connections')::int"
                )
            )
        ).one()
    version, in_use, max_connections = str(row[0]), int(row[1]), int(row[2])
    details = {
        "server_version": version,
        "latency_ms": latency_ms,
        "connections_in_use": in_use,
        "max_connections": max_connections,
    }
    sentence = (
        f"answers in {latency_ms:g} ms; {in_use} of {max_connections} connections in use "
        f"for this database"
    )
    if latency_ms > SLOW_QUERY.total_seconds() * 1000 or in_use >= 0.8 * max_connections:
        return "degraded", sentence, details
    return "ok", sentence, details


async def check_audit_checkpoint(db: Database, now: datetime, max_age: timedelta) -> Outcome:
    async with db.session() as session:
        connection = await session.connection()
        await connection.execute(text("SET LOCAL statement_timeout = '2s'"))
        checkpoint = (
            await connection.execute(
                text(
                    "SELECT event_id, event_count, created_at FROM audit_checkpoint "
                    "ORDER BY id DESC LIMIT 1"
                )
            )
        ).first()
        head = (await connection.execute(text("SELECT max(id) FROM audit_event"))).scalar()
        since = 0
        if checkpoint is not None:
            since = int(
                (
                    await connection.execute(
                        text("SELECT count(*) FROM audit_event WHERE id > :id"),
                        {"id": checkpoint[0]},
                    )
                ).scalar_one()
            )
    details: dict[str, Any] = {
        "head_event_id": head,
        "max_age_hours": int(max_age.total_seconds() // 3600),
    }
    if checkpoint is None:
        return (
            "degraded",
            'no checkpoint yet: run "backoffice audit verify" to record one',
            details,
        )
    event_id, event_count, created_at = checkpoint[0], checkpoint[1], utc(checkpoint[2])
    assert created_at is not None
    details |= {
        "checkpoint_event_id": event_id,
        "checkpoint_event_count": event_count,
        "written_at": created_at,
        "age_seconds": int((now - created_at).total_seconds()),
        "events_since": since,
    }
    sentence = (
        f"event {event_id} ({event_count} events) checkpointed {ago(created_at, now)}; "
        f"{since} event{'s' if since != 1 else ''} since"
    )
    if now - created_at > max_age:
        limit = details["max_age_hours"]
        return "degraded", f"{sentence}; older than {limit} h", details
    return "ok", sentence, details


async def check_outbox(db: Database, now: datetime, *, smtp: bool) -> Outcome:
    """Customer messages waiting for e-mail delivery (queued, or failed and retried)."""
    async with db.session() as session:
        connection = await session.connection()
        await connection.execute(text("SET LOCAL statement_timeout = '2s'"))
        row = (
            await connection.execute(
                text(
                    "SELECT count(*) FILTER (WHERE status IN ('queued', 'failed')), "
                    "count(*) FILTER (WHERE status = 'failed'), "
                    "min(created_at) FILTER (WHERE status IN ('queued', 'failed')), "
                    "count(*) FILTER (WHERE status = 'no_address') "
                    "FROM customer_message WHERE status IN ('queued', 'failed', 'no_address')"
                )
            )
        ).one()
    unsent, failed, oldest, no_address = int(row[0]), int(row[1]), utc(row[2]), int(row[3])
    oldest_age = int((now - oldest).total_seconds()) if oldest else None
    details: dict[str, Any] = {
        "unsent": unsent,
        "failed": failed,
        "oldest_unsent": oldest,
        "oldest_age_seconds": oldest_age,
        "no_address": no_address,
        "smtp_configured": smtp,
    }
    if not unsent:
        return "ok", "nothing waiting", details
    sentence = f"{unsent} message{'s' if unsent != 1 else ''} waiting, oldest {ago(oldest, now)}"
    if failed:
        sentence += f"; {failed} failed (retried)"
    if not smtp:
        sentence += "; SMTP is not configured, so they wait"
    too_old = oldest is not None and now - oldest > OUTBOX_MAX_WAIT
    return ("degraded" if failed or too_old else "ok"), sentence, details
