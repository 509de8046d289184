"""What a status check answers: a state, a sentence and details, per component."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

State = Literal["ok", "degraded", "down"]
KINDS = ("postgresql", "temporal", "workers", "schedules", "audit_checkpoint", "outbox")
_RANK: dict[str, int] = {"ok": 0, "degraded": 1, "down": 2}

# A check returns (state, sentence, details); `collect` times it and turns failures into rows.
Outcome = tuple[State, str, dict[str, Any]]


class Component(BaseModel):
    key: str  # unique on the page: "postgresql", "workers:backoffice", "schedule:process-watch"
    kind: str  # one of KINDS; /readyz reports the worst state per kind
    name: str
    state: State
    sentence: str
    details: dict[str, Any]
    checked_ms: int


def worst(states: list[str]) -> State:
    top = max(states, key=lambda s: _RANK[s], default="ok")
    return "down" if top == "down" else "degraded" if top == "degraded" else "ok"


def ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = int((now - moment).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 90:
        span = f"{seconds} s"
    elif seconds < 90 * 60:
        span = f"{seconds // 60} min"
    elif seconds < 48 * 3600:
        span = f"{seconds // 3600} h"
    else:
        span = f"{seconds // 86400} d"
    return f"in {span}" if future else f"{span} ago"


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
