"""Evidence on a dispute: notes and documents a disputes agent attaches, and reading them back.

Documents stay in the database, never in a workflow history. A file is accepted by what it
is, not by what the browser says it is: its name's extension must be an allowed type and
its first bytes must match that type; the content type stored (and later sent) is ours.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy.orm import defer
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from audit import trail as audit
from core.db import Database
from disputes.rules import CASE_TYPE_DISPUTE
from identity.access import can_see_case, not_found, record_refusal, require
from identity.actors import Actor
from models.cases import Case
from models.disputes import DisputeEvidence
from models.staff import StaffUser
from shared.errors import Conflict, DomainError, Invalid

NOTE_MAX = 4000
MAX_BYTES = 5 * 1024 * 1024
FILENAME_MAX = 200
# extension -> (content type we store and send, label)
ALLOWED_TYPES: dict[str, tuple[str, str]] = {
    ".pdf": ("application/pdf", "PDF"),
    ".png": ("image/png", "PNG"),
    ".jpg": ("image/jpeg", "JPEG"),
    ".jpeg": ("image/jpeg", "JPEG"),
    ".txt": ("text/plain", "plain text"),
    ".csv": ("text/csv", "CSV"),
}
ALLOWED_LABEL = "PDF, PNG, JPEG, plain text (.txt) or CSV"
_MAGIC = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}


@dataclass(frozen=True)
class Upload:
    filename: str
    content: bytes  # at most MAX_BYTES + 1: the caller stops reading after that


class EvidencePublic(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    note: str | None
    filename: str | None
    content_type: str | None
    size: int = Field(description="Bytes of the document; 0 for a note alone.")
    sha256: str | None
    added_by: str
    added_at: datetime


@dataclass(frozen=True)
class EvidenceFile:
    filename: str
    content_type: str
    content: bytes


def clean_filename(raw: str) -> str:
    """The name without any path a browser sent along, control characters or excess length."""
    name = re.split(r"[\\/]", raw)[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if ch.isprintable()).strip()
    if len(name) > FILENAME_MAX:
        stem, dot, ext = name.rpartition(".")
        name = stem[: FILENAME_MAX - len(ext) - 1] + dot + ext if dot else name[:FILENAME_MAX]
    return name


def _kind_of(filename: str, content: bytes) -> tuple[str | None, str | None]:
    """(content type, None) for an allowed file, or (None, why not)."""
    ext = ("." + filename.rsplit(".", 1)[-1].lower()) if "." in filename else ""
    if ext not in ALLOWED_TYPES:
        return None, f"Files of this type are not accepted; attach {ALLOWED_LABEL}."
    content_type, label = ALLOWED_TYPES[ext]
    magic = _MAGIC.get(content_type)
    if magic is not None:
        if not content.startswith(magic):
            return None, f"The file is named {ext} but is not a {label} file."
    elif b"\x00" in content:
        # Text in any of the usual encodings (UTF-8, Windows-1252 exports...) has no NUL
        # bytes; programs and other binaries do.
        return None, f"The file is named {ext} but is not text."
    return content_type, None


def _problems(note: str | None, upload: Upload | None) -> tuple[dict[str, str], str | None]:
    """Each bad field and why, and the accepted file's content type."""
    fields: dict[str, str] = {}
    content_type = None
    if note and len(note) > NOTE_MAX:
        fields["note"] = f"At most {NOTE_MAX} characters."
    if upload is not None:
        if not upload.filename:
            fields["file"] = "The file has no name."
        elif not upload.content:
            fields["file"] = "The file is empty."
        elif len(upload.content) > MAX_BYTES:
            fields["file"] = f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB."
        else:
            content_type, why = _kind_of(upload.filename, upload.content)
            if why is not None:
                fields["file"] = why
    elif not note:
        fields["note"] = "Write a note or attach a file."
    return fields, content_type


async def add_evidence(
    db: Database,
    actor: Actor,
    case_id: uuid.UUID,
    *,
    note: str | None,
    upload: Upload | None = None,
) -> EvidencePublic:
    """Attach a note and/or a document to an open dispute; audited with it."""
    action = "dispute.evidence_added"
    await require(db, actor, "dispute", "evidence", action=action, object_type="case",
                  object_id=case_id)  # fmt: skip
    note = (note or "").strip() or None
    if upload is not None:
        upload = Upload(clean_filename(upload.filename), upload.content)
    fields, content_type = _problems(note, upload)
    visible = False
    error: DomainError | None = None
    async with db.transaction() as session:
        # Locked: a dispute concluding now either sees this evidence or refuses it.
        case = await session.get(Case, case_id, with_for_update=True)
        visible = (
            case is not None
            and case.case_type == CASE_TYPE_DISPUTE
            and can_see_case(actor, CASE_TYPE_DISPUTE)
        )
        if case is not None and visible:
            if case.status != "open":
                error = Conflict(
                    f"Dispute {case.reference} is already concluded ({case.outcome}); "
                    "evidence can no longer be added.",
                    code="case_closed",
                )
            elif fields:
                error = Invalid("The evidence was not added.", fields=fields)
            else:
                row = DisputeEvidence(
                    case_id=case_id,
                    note=note,
                    filename=upload.filename if upload else None,
                    content_type=content_type,
                    size=len(upload.content) if upload else 0,
                    sha256=hashlib.sha256(upload.content).hexdigest() if upload else None,
                    content=upload.content if upload else None,
                    added_by=actor.user_id,
                )
                session.add(row)
                await session.flush()
                await audit.record(
                    session,
                    action=action,
                    actor=actor.ref,
                    object_type="case",
                    object_id=case_id,
                    origin=actor.origin,
                    workflow_id=case.workflow_id,
                    details={
                        "evidence_id": row.id,
                        "note": note is not None,
                        "filename": row.filename,
                        "content_type": row.content_type,
                        "size": row.size,
                        "sha256": row.sha256,
                    },
                )
                return _public(row, actor.username)
    if not visible:
        raise await not_found(db, actor, "case", case_id, action=action)
    assert error is not None
    await record_refusal(db, actor, error, action=action, object_type="case", object_id=case_id)
    raise error


def _public(row: DisputeEvidence, added_by: str) -> EvidencePublic:
    return EvidencePublic(
        id=row.id,
        case_id=row.case_id,
        note=row.note,
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        added_by=added_by,
        added_at=row.added_at,
    )


async def evidence_of(session: AsyncSession, case_id: uuid.UUID) -> list[EvidencePublic]:
    """A dispute's evidence, oldest first, without the documents' bytes (inside the caller's
    session: the caller has checked the actor may see the dispute)."""
    rows = (
        await session.exec(
            select(DisputeEvidence, StaffUser.username)
            # The list never carries the documents' bytes (SQLModel types the column as bytes).
            .options(defer(DisputeEvidence.content))  # type: ignore[arg-type]
            .outerjoin(StaffUser, col(StaffUser.id) == DisputeEvidence.added_by)
            .where(DisputeEvidence.case_id == case_id)
            .order_by(col(DisputeEvidence.added_at), col(DisputeEvidence.id))
        )
    ).all()
    return [_public(row, username or "?") for row, username in rows]


async def evidence_file(
    db: Database, actor: Actor, case_id: uuid.UUID, evidence_id: uuid.UUID
) -> EvidenceFile:
    """A document attached to a dispute, for whoever may see the dispute; 404 otherwise."""
    async with db.session() as session:
        found = (
            await session.exec(
                select(DisputeEvidence, Case.case_type)
                .join(Case, col(Case.id) == DisputeEvidence.case_id)
                .where(DisputeEvidence.id == evidence_id, DisputeEvidence.case_id == case_id)
            )
        ).first()
    if (
        found is None
        or found[1] != CASE_TYPE_DISPUTE
        or not can_see_case(actor, CASE_TYPE_DISPUTE)
        or found[0].content is None
    ):
        raise await not_found(db, actor, "evidence", evidence_id, action="dispute.evidence_read")
    row = found[0]
    assert row.content is not None
    return EvidenceFile(
        filename=row.filename or "evidence",
        content_type=row.content_type or "application/octet-stream",
        content=row.content,
    )
