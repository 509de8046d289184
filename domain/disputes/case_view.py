"""Placeholder: the dispute section of the case page (filled in by the pages work)."""

from __future__ import annotations

from dataclasses import dataclass

from core.db import Database
from domain.actors import Actor
from models.cases import Case


@dataclass
class DisputeCaseView:
    case: Case


async def dispute_case_view(db: Database, actor: Actor, case: Case) -> DisputeCaseView | None:
    return None
