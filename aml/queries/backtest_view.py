"""A rule change's backtest as its approval page and the API show it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import col, select

from aml.commands.backtest import BacktestResult
from core.db import Database
from identity.access import can
from identity.actors import Actor
from models.aml_backtests import UNFINISHED, AmlBacktest


class BacktestPublic(BaseModel):
    id: uuid.UUID
    change_id: uuid.UUID | None
    rule_key: str
    status: str  # queued | running | done | failed
    finished: bool
    days: int
    period_from: datetime
    period_to: datetime
    judged: int
    total: int
    percent: int
    requested_by: str
    created_at: datetime
    finished_at: datetime | None
    error: str | None
    result: dict[str, Any] | None
    summary: list[str]  # the comparison in words (empty until done)


def backtest_public(row: AmlBacktest) -> BacktestPublic:
    result = BacktestResult.from_json(row.result) if row.result else None
    return BacktestPublic(
        id=row.id,
        change_id=row.change_id,
        rule_key=row.rule_key,
        status=row.status,
        finished=row.status not in UNFINISHED,
        days=row.days,
        period_from=row.period_from,
        period_to=row.period_to,
        judged=row.judged,
        total=row.total,
        percent=100
        if row.status == "done"
        else (row.judged * 100 // row.total if row.total else 0),
        requested_by=row.requested_by,
        created_at=row.created_at,
        finished_at=row.finished_at,
        error=row.error,
        result=row.result,
        summary=result.lines() if result else [],
    )


async def backtest_of_change(
    db: Database, change_id: uuid.UUID, actor: Actor
) -> BacktestPublic | None:
    """The latest backtest of a change; None when it has none (not a rule change).

    Its example alerts are alert texts about customers: shown only to whoever may read AML
    narratives (need-to-know); the counts are for everyone who may see the change."""
    async with db.session() as session:
        row = (
            await session.exec(
                select(AmlBacktest)
                .where(AmlBacktest.change_id == change_id)
                .order_by(col(AmlBacktest.created_at).desc())
                .limit(1)
            )
        ).first()
    if row is None:
        return None
    found = backtest_public(row)
    if found.result is not None and not can(actor, "aml_narrative", "read"):
        found.result = {**found.result, "examples": []}
    return found
