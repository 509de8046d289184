"""Inputs and outputs of the stale watch-list check (workflows/list_age.py): dates and
list version labels only (no personal data)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel


class ListAgeInput(BaseModel):
    today: date | None = None  # None: the workflow's own date (a schedule's run)


class ListAgeSummary(BaseModel):
    checked: list[str] = []  # current version labels of the enabled lists
    stale: list[str] = []  # those older than their maximum age
    opened: list[str] = []  # case references opened by this run (one per stale version)
    text: str = ""
