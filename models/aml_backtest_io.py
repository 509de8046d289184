"""Typed input and output of a rule change's backtest workflow (ids and codes only)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel


class RuleBacktestInput(BaseModel):
    backtest_id: uuid.UUID
    # The change approval waiting for this backtest (`change-<id>`), told when it ends.
    change_workflow_id: str | None = None


class RuleBacktestOutcome(BaseModel):
    status: str  # done | failed
