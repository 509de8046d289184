"""Reading out-of-band endings for people: what the case page shows about its workflow
having been terminated, cancelled or reset outside backoffice (casework/process_watch.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select

from casework.process_watch import KIND_LABELS, close_only_why
from core.db import Database
from models.cases import Case
from models.process_watch import ProcessEnding


@dataclass
class EndingView:
    ending: ProcessEnding
    kind_label: str
    # Why resume is not offered for this kind of case (None: it is).
    close_only_why: str | None


async def latest_ending(db: Database, case: Case) -> EndingView | None:
    """The case's most recent out-of-band ending, if its workflow ever had one."""
    async with db.session() as session:
        ending = (
            await session.exec(
                select(ProcessEnding)
                .where(ProcessEnding.case_id == case.id)
                .order_by(col(ProcessEnding.detected_at).desc())
                .limit(1)
            )
        ).first()
    if ending is None:
        return None
    return EndingView(
        ending, KIND_LABELS.get(ending.kind, ending.kind), close_only_why(case.case_type)
    )
