"""What a status check answers: a state, a sentence and details, per component."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

from shared.days import relative

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
    return relative(moment, now, none="never")


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
