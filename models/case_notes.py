"""Notes and attachments on a case (any case type), and what cites an attachment.

A note is never changed: the app role may only insert (core/schema.py), and a correction is
a new note naming the one it corrects. An attachment's row is kept for good; removing an
uncited file marks the row removed and drops its bytes, and the database refuses both while
a decision or a SAR cites it (migration 0016).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import tz, tz_now, uuid_array, uuid_pk

NOTE_MAX_CHARS = 4000


class CaseNote(SQLModel, table=True):
    __tablename__ = "case_note"
    __table_args__ = (UniqueConstraint("case_id", "number", name="uq_case_note_number"),)

    id: uuid.UUID = uuid_pk()
    case_id: uuid.UUID = Field(foreign_key="case.id", index=True)
    number: int  # N-1, N-2, … within the case
    body: str = Field(sa_column=Column(Text, nullable=False))
    author_id: uuid.UUID = Field(foreign_key="staff_user.id")
    created_at: datetime = tz_now()
    corrects_id: uuid.UUID | None = Field(default=None, foreign_key="case_note.id")
    mentions: list[uuid.UUID] = uuid_array()  # staff ids the note @mentions (notified)


class CaseAttachment(SQLModel, table=True):
    __tablename__ = "case_attachment"
    __table_args__ = (UniqueConstraint("case_id", "number", name="uq_case_attachment_number"),)

    id: uuid.UUID = uuid_pk()
    case_id: uuid.UUID = Field(foreign_key="case.id", index=True)
    number: int  # F-1, F-2, … within the case: how a decision's comment cites it
    filename: str = Field(max_length=200)
    content_type: str = Field(max_length=100)
    size: int
    sha256: str = Field(max_length=64)
    storage: str = Field(max_length=20)  # database | files (casework/storage.py)
    storage_key: str = Field(max_length=300)
    uploaded_by: uuid.UUID = Field(foreign_key="staff_user.id")
    uploaded_at: datetime = tz_now()
    removed_at: datetime | None = tz(nullable=True)
    removed_by: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    removal_reason: str | None = Field(default=None, max_length=500)


class CaseAttachmentBlob(SQLModel, table=True):
    """An attachment's bytes when stored in PostgreSQL (STORAGE=database)."""

    __tablename__ = "case_attachment_blob"

    attachment_id: uuid.UUID = Field(foreign_key="case_attachment.id", primary_key=True)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class AttachmentCitation(SQLModel, table=True):
    """A decision or a SAR report that stands on an attachment. Append-only; written by
    database triggers when the decision or report is inserted (migration 0016)."""

    __tablename__ = "case_attachment_citation"

    attachment_id: uuid.UUID = Field(foreign_key="case_attachment.id", primary_key=True)
    cited_by_type: str = Field(max_length=20, primary_key=True)  # decision | sar
    cited_by_id: uuid.UUID = Field(primary_key=True)
    cited_at: datetime = tz_now()


class CaseNotePublic(SQLModel):
    id: uuid.UUID
    case_id: uuid.UUID
    number: int
    label: str  # N-3
    body: str
    author: str
    created_at: datetime
    corrects: str | None  # the label of the note this one corrects
    corrected_by: list[str] = []
    mentions: list[str] = []  # usernames


class CaseNotePage(SQLModel):
    items: list[CaseNotePublic]
    total: int
    page: int
    per_page: int


class CaseAttachmentPublic(SQLModel):
    id: uuid.UUID
    case_id: uuid.UUID
    number: int
    label: str  # F-2
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime
    removed_at: datetime | None
    removal_reason: str | None
    cited_by: list[str] = []  # "decision", "sar"


class CaseAttachmentPage(SQLModel):
    items: list[CaseAttachmentPublic]
    total: int
    page: int
    per_page: int
