"""The tamper-evident audit log.

Each event stores `hash = sha256(prev_hash || canonical(event))`. Writers serialise on a
transaction-scoped advisory lock, so the chain order is the commit order and ids grow
along it; the event is written in the same transaction as the change it records, so a
rolled-back change leaves no event behind.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import run_sql
from models.audit import AuditCheckpoint, AuditEvent
from models.base import utcnow
from models.workflow_io import Origin

GENESIS = "0" * 64
_CHAIN_LOCK = 0x6261636B6F666669  # "backoffi": one advisory lock key for the chain head

SUCCESS, DENIED, FAILURE = "success", "denied", "failure"


def outcome_for_status(status_code: int) -> str:
    """A request's audit outcome from its HTTP status: a refusal (no permission, not
    yours, already taken, slow down) is "denied"; bad input and outages are "failure"."""
    if status_code < 400:
        return SUCCESS
    if status_code in (401, 403, 404, 409, 429):
        return DENIED
    return FAILURE


@dataclass(frozen=True)
class ActorRef:
    id: uuid.UUID | None
    name: str


SYSTEM = ActorRef(id=None, name="system")


def jsonable(value: Any) -> Any:
    """Reduce a value to JSON types that survive a JSONB round trip unchanged (no floats)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return format(Decimal(str(value)), "f")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)


def canonical(event: AuditEvent) -> bytes:
    """The bytes that are hashed: every field but the hash itself, in a fixed form."""
    occurred = event.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = {
        "id": event.id,
        "occurred_at": occurred,
        "actor_id": str(event.actor_id) if event.actor_id else None,
        "actor": event.actor,
        "action": event.action,
        "outcome": event.outcome,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "reason": event.reason,
        "origin_ip": event.origin_ip,
        "request_id": event.request_id,
        "workflow_id": event.workflow_id,
        "details": event.details,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(event)).hexdigest()


async def record(
    session: AsyncSession,
    *,
    action: str,
    actor: ActorRef,
    outcome: str = SUCCESS,
    object_type: str | None = None,
    object_id: object | None = None,
    reason: str | None = None,
    origin: Origin | None = None,
    workflow_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event inside the caller's transaction."""
    # One round trip: take the chain lock, then (only then) read the head and the next id.
    await run_sql(session, "SELECT pg_advisory_xact_lock(:k)", {"k": _CHAIN_LOCK})
    row = (
        await run_sql(
            session,
            "SELECT (SELECT hash FROM audit_event ORDER BY id DESC LIMIT 1), "
            "nextval(pg_get_serial_sequence('audit_event', 'id'))",
        )
    ).one()
    prev_hash = row[0] or GENESIS
    next_id = row[1]
    event = AuditEvent(
        id=next_id,
        occurred_at=utcnow(),
        actor_id=actor.id,
        actor=actor.name[:100],
        action=action,
        outcome=outcome,
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        reason=reason[:500] if reason else None,
        origin_ip=origin.ip if origin else None,
        request_id=origin.request_id if origin else None,
        workflow_id=workflow_id,
        details=jsonable(dict(details or {})),
        prev_hash=prev_hash,
        hash="",
    )
    event.hash = chain_hash(prev_hash, event)
    session.add(event)
    await session.flush()
    return event


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_bad: int | None
    reason: str | None = None
    head_id: int | None = None
    head_hash: str | None = None


def _row_to_event(row: Any) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        occurred_at=row.occurred_at,
        actor_id=row.actor_id,
        actor=row.actor,
        action=row.action,
        outcome=row.outcome,
        object_type=row.object_type,
        object_id=row.object_id,
        reason=row.reason,
        origin_ip=row.origin_ip,
        request_id=row.request_id,
        workflow_id=row.workflow_id,
        details=row.details,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


@dataclass(frozen=True)
class Checkpoint:
    event_id: int
    event_hash: str
    event_count: int
    source: str


def read_checkpoint_file(path: Path) -> Checkpoint | None:
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return Checkpoint(data["event_id"], data["event_hash"], data["event_count"], f"file {path}")


async def latest_checkpoint(session: AsyncSession) -> Checkpoint | None:
    row = (
        await run_sql(
            session,
            "SELECT event_id, event_hash, event_count FROM audit_checkpoint ORDER BY id DESC LIMIT 1",
        )
    ).first()
    if row is None:
        return None
    return Checkpoint(row[0], row[1], row[2], "audit_checkpoint table")


async def verify(
    session: AsyncSession, *, checkpoint_file: Path | None = None, batch: int = 5000
) -> VerifyResult:
    """Recompute the chain from the first event; name the first row that does not fit."""
    prev_hash = GENESIS
    checked = 0
    last_id: int | None = None
    hashes_by_id: dict[int, str] = {}
    checkpoints = [cp for cp in [await latest_checkpoint(session)] if cp]
    if checkpoint_file is not None and (file_cp := read_checkpoint_file(checkpoint_file)):
        checkpoints.append(file_cp)
    wanted = {cp.event_id for cp in checkpoints}

    after = 0
    while True:
        rows = (
            await run_sql(
                session,
                "SELECT id, occurred_at, actor_id, actor, action, outcome, object_type, "
                "object_id, reason, origin_ip, request_id, workflow_id, details, prev_hash, hash "
                "FROM audit_event WHERE id > :after ORDER BY id LIMIT :n",
                {"after": after, "n": batch},
            )
        ).all()
        if not rows:
            break
        for row in rows:
            event = _row_to_event(row)
            assert event.id is not None
            if event.prev_hash != prev_hash:
                why = (
                    "does not follow the previous event (a row before it was removed or reordered)"
                    if checked
                    else "the first event does not start the chain"
                )
                return VerifyResult(False, checked, event.id, f"event {event.id} {why}")
            if chain_hash(prev_hash, event) != event.hash:
                return VerifyResult(
                    False, checked, event.id, f"event {event.id} was altered after it was written"
                )
            prev_hash = event.hash
            last_id = event.id
            checked += 1
            if event.id in wanted:
                hashes_by_id[event.id] = event.hash
        after = rows[-1].id

    for cp in checkpoints:
        seen = hashes_by_id.get(cp.event_id)
        if seen is None:
            return VerifyResult(
                False,
                checked,
                cp.event_id,
                f"event {cp.event_id} recorded in the {cp.source} is missing: the log was truncated",
            )
        if seen != cp.event_hash:
            return VerifyResult(
                False,
                checked,
                cp.event_id,
                f"event {cp.event_id} differs from the {cp.source}: the log was rewritten",
            )
        if checked < cp.event_count:
            return VerifyResult(
                False, checked, cp.event_id, f"fewer events than the {cp.source} recorded"
            )
    return VerifyResult(True, checked, None, None, last_id, prev_hash if last_id else None)


async def write_checkpoint(
    session: AsyncSession, result: VerifyResult, *, checkpoint_file: Path | None = None
) -> None:
    """Remember the verified head, in the table and (when configured) in a file outside the DB."""
    if not result.ok or result.head_id is None or result.head_hash is None:
        return
    session.add(
        AuditCheckpoint(
            event_id=result.head_id, event_hash=result.head_hash, event_count=result.checked
        )
    )
    await session.flush()
    if checkpoint_file is not None:
        checkpoint_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = checkpoint_file.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "event_id": result.head_id,
                    "event_hash": result.head_hash,
                    "event_count": result.checked,
                    "written_at": utcnow().isoformat(),
                }
            )
        )
        tmp.replace(checkpoint_file)
