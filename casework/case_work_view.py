"""What the case page shows of a case's notes and files, and which of their actions it offers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlmodel import col, func, select

from casework.attachments import attachments_of, may_remove, may_upload
from casework.notes import may_read, may_write_note, notes_public
from core.db import Database
from identity.actors import Actor
from models.case_notes import CaseAttachmentPublic, CaseNote, CaseNotePublic
from models.cases import Case

NOTES_ON_PAGE = 20
TIMELINE_NOTES = 500


@dataclass
class CaseWork:
    case_id: uuid.UUID
    notes: list[CaseNotePublic]  # newest first, the first page
    notes_total: int
    attachments: list[CaseAttachmentPublic]
    attachments_total: int
    can_write: bool
    can_upload: bool
    can_remove: bool
    me: str  # the reader's username: a file is removed by whoever uploaded it
    # note id -> note, for the timeline's `case.note_added` events
    by_id: dict[str, CaseNotePublic] = field(default_factory=dict)


async def case_work(db: Database, actor: Actor, case: Case) -> CaseWork | None:
    """None for a reader who may not see the case's notes and files (an AML case's are its
    narrative)."""
    if not may_read(actor, case):
        return None
    async with db.session() as session:
        total = int(
            (
                await session.exec(
                    select(func.count()).select_from(CaseNote).where(CaseNote.case_id == case.id)
                )
            ).one()
        )
        rows = (
            await session.exec(
                select(CaseNote)
                .where(CaseNote.case_id == case.id)
                .order_by(col(CaseNote.number).desc())
                .limit(TIMELINE_NOTES)
            )
        ).all()
        notes = await notes_public(session, rows)
        attachments, attachments_total = await attachments_of(session, case.id)
    return CaseWork(
        case_id=case.id,
        notes=notes[:NOTES_ON_PAGE],
        notes_total=total,
        attachments=attachments,
        attachments_total=attachments_total,
        can_write=may_write_note(actor, case),
        can_upload=may_upload(actor, case),
        can_remove=may_remove(actor, case),
        me=actor.username,
        by_id={str(n.id): n for n in notes},
    )
