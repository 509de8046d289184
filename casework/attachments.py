"""Case attachments: files on any case, read by whoever may read the case.

- Upload (`case_file:<type>`, `upload`): at most ATTACHMENT_MAX_BYTES, an extension listed
  in ATTACHMENT_TYPES, and bytes that are what the name says (a PDF starts with `%PDF-`, a
  PNG with its signature, text has no NUL byte); the content type stored and sent is ours,
  never the browser's. Its sha256 is recorded, and checked again at every download.
- Stored behind casework/storage.py (PostgreSQL or files under DATA_DIR); the row, the
  bytes (in PostgreSQL) and the audit event commit together.
- Download: whoever may read the case's notes (casework/notes.py `may_read`: an AML case's
  files are its narrative); each download is audited (`case.attachment_downloaded`).
- Citations (migration 0016): a decision whose comment names `F-<n>` cites file n of its
  case; a SAR report cites every file of its case. A cited file cannot be removed: refused
  here with the reason, and by the database whatever the door.
- Removal (`case_file:<type>`, `remove`; only by whoever uploaded it, with a reason): the row
  stays, marked removed (who, when, why), and the bytes go; audited.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from audit import trail as audit
from casework.notes import may_read, next_case_number, readable_case
from casework.storage import configured_storage, storage_named
from core.db import Database
from core.settings import Settings
from identity.access import can, not_found, record_refusal, require
from identity.actors import Actor
from models.base import utcnow
from models.case_notes import (
    AttachmentCitation,
    CaseAttachment,
    CaseAttachmentPage,
    CaseAttachmentPublic,
)
from models.cases import Case
from models.staff import StaffUser
from shared.errors import Conflict, DomainError, Forbidden, Invalid, Unavailable

FILENAME_MAX = 200
REASON_MIN, REASON_MAX = 5, 500
TEXT = None  # a text type: no signature, no NUL byte
# extension -> (content type we store and send, label, signature or TEXT)
KNOWN_TYPES: dict[str, tuple[str, str, tuple[bytes, ...] | None]] = {
    "pdf": ("application/pdf", "PDF", (b"%PDF-",)),
    "png": ("image/png", "PNG", (b"\x89PNG\r\n\x1a\n",)),
    "jpg": ("image/jpeg", "JPEG", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", "JPEG", (b"\xff\xd8\xff",)),
    "txt": ("text/plain", "plain text", TEXT),
    "csv": ("text/csv", "CSV", TEXT),
}


def allowed_types(settings: Settings) -> dict[str, tuple[str, str, tuple[bytes, ...] | None]]:
    wanted = {e.strip().lower().lstrip(".") for e in settings.attachment_types.split(",")}
    return {ext: kind for ext, kind in KNOWN_TYPES.items() if ext in wanted}


def allowed_label(settings: Settings) -> str:
    return ", ".join(f".{ext}" for ext in allowed_types(settings)) or "nothing"


def file_label(number: int) -> str:
    return f"F-{number}"


def clean_filename(raw: str) -> str:
    """The name without any path a browser sent along, control characters or excess length."""
    name = re.split(r"[\\/]", raw)[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if ch.isprintable()).strip()
    if len(name) > FILENAME_MAX:
        stem, dot, ext = name.rpartition(".")
        name = stem[: FILENAME_MAX - len(ext) - 1] + dot + ext if dot else name[:FILENAME_MAX]
    return name


def sniff(settings: Settings, filename: str, content: bytes) -> tuple[str | None, str | None]:
    """(content type, None) for an acceptable file, or (None, why not)."""
    if not filename:
        return None, "The file has no name."
    if not content:
        return None, "The file is empty."
    limit = settings.attachment_max_bytes
    if len(content) > limit:
        return None, f"The file is larger than the limit of {_size(limit)}."
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    types = allowed_types(settings)
    if ext not in types:
        return None, f"Files of this type are not accepted; attach {allowed_label(settings)}."
    content_type, label, signature = types[ext]
    if signature is not None and not content.startswith(signature):
        return None, f"The file is named .{ext} but is not a {label} file."
    if signature is None and b"\x00" in content:
        return None, f"The file is named .{ext} but is not text."
    return content_type, None


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:g} {unit}" if unit == "bytes" else f"{n:.1f} {unit}".replace(".0 ", " ")
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"


# ----------------------------------------------------------------------------- upload
async def add_attachment(
    db: Database,
    settings: Settings,
    actor: Actor,
    case_id: uuid.UUID,
    *,
    filename: str,
    content: bytes,
) -> CaseAttachmentPublic:
    """Attach a file to a case; the row, its bytes (in PostgreSQL) and the audit event commit
    together. `content` may be one byte longer than the limit (the caller stops there)."""
    action = "case.attachment_added"
    case = await readable_case(db, actor, case_id, action=action)
    await require(
        db, actor, f"case_file:{case.case_type}", "upload", action=action, object_type="case",
        object_id=case_id,
    )  # fmt: skip
    filename = clean_filename(filename)
    content_type, why = sniff(settings, filename, content)
    if why is not None or content_type is None:
        error = Invalid("The file was not attached.", fields={"file": why or "?"})
        await record_refusal(
            db, actor, error, action=action, object_type="case", object_id=case_id,
            details={"filename": filename, "size": len(content)},
        )  # fmt: skip
        raise error
    storage = configured_storage(settings)
    attachment_id = uuid.uuid4()
    sha256 = hashlib.sha256(content).hexdigest()
    key: str | None = None
    try:
        async with db.transaction() as session:
            number = await next_case_number(
                session, CaseAttachment, case_id, lock="case_attachment"
            )
            row = CaseAttachment(
                id=attachment_id,
                case_id=case_id,
                number=number,
                filename=filename,
                content_type=content_type,
                size=len(content),
                sha256=sha256,
                storage=storage.name,
                storage_key="",
                uploaded_by=actor.user_id,
            )
            # The key is known before the bytes are stored (files: a path named by the id).
            row.storage_key = (
                str(attachment_id) if storage.name == "database" else _file_key(attachment_id)
            )
            session.add(row)
            await session.flush()
            key = await storage.put(session, attachment_id, content)
            assert key == row.storage_key
            await audit.record(
                session,
                action=action,
                actor=actor.ref,
                object_type="case",
                object_id=case_id,
                origin=actor.origin,
                workflow_id=case.workflow_id,
                details={
                    "attachment_id": attachment_id,
                    "attachment": file_label(number),
                    "filename": filename,
                    "content_type": content_type,
                    "size": len(content),
                    "sha256": sha256,
                    "storage": storage.name,
                },
            )
    except BaseException:
        if key is not None:
            await storage.abandon(key)
        raise
    return _public(row, actor.username, [])


def _file_key(attachment_id: uuid.UUID) -> str:
    return f"{attachment_id.hex[:2]}/{attachment_id}"


# ----------------------------------------------------------------------------- reading
def _public(row: CaseAttachment, uploaded_by: str, cited_by: list[str]) -> CaseAttachmentPublic:
    return CaseAttachmentPublic(
        id=row.id,
        case_id=row.case_id,
        number=row.number,
        label=file_label(row.number),
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        uploaded_by=uploaded_by,
        uploaded_at=row.uploaded_at,
        removed_at=row.removed_at,
        removal_reason=row.removal_reason,
        cited_by=cited_by,
    )


async def _citations(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    cited: dict[uuid.UUID, list[str]] = {}
    for attachment_id, kind in (
        await session.exec(
            select(AttachmentCitation.attachment_id, AttachmentCitation.cited_by_type)
            .where(col(AttachmentCitation.attachment_id).in_(ids))
            .order_by(col(AttachmentCitation.cited_at))
        )
    ).all():
        cited.setdefault(attachment_id, []).append(kind)
    return cited


async def attachments_of(
    session: AsyncSession, case_id: uuid.UUID, *, page: int = 1, per_page: int = 50
) -> tuple[list[CaseAttachmentPublic], int]:
    """A case's files, newest first (the caller has checked the reader may see them)."""
    total = int(
        (
            await session.exec(
                select(func.count())
                .select_from(CaseAttachment)
                .where(CaseAttachment.case_id == case_id)
            )
        ).one()
    )
    rows = (
        await session.exec(
            select(CaseAttachment, StaffUser.username)
            .outerjoin(StaffUser, col(StaffUser.id) == CaseAttachment.uploaded_by)
            .where(CaseAttachment.case_id == case_id)
            .order_by(col(CaseAttachment.number).desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    ).all()
    cited = await _citations(session, [r.id for r, _ in rows])
    return [_public(r, who or "?", cited.get(r.id, [])) for r, who in rows], total


async def list_attachments(
    db: Database, actor: Actor, case_id: uuid.UUID, *, page: int = 1, per_page: int = 20
) -> CaseAttachmentPage:
    await readable_case(db, actor, case_id, action="case.attachments_read")
    async with db.session() as session:
        items, total = await attachments_of(session, case_id, page=page, per_page=per_page)
    return CaseAttachmentPage(items=items, total=total, page=page, per_page=per_page)


@dataclass(frozen=True)
class AttachmentFile:
    filename: str
    content_type: str
    content: bytes


async def download(
    db: Database, settings: Settings, actor: Actor, case_id: uuid.UUID, attachment_id: uuid.UUID
) -> AttachmentFile:
    """A file's bytes for whoever may read the case, checked against their sha256; each
    download is audited."""
    action = "case.attachment_downloaded"
    async with db.session() as session:
        found = (
            await session.exec(
                select(CaseAttachment, Case)
                .join(Case, col(Case.id) == CaseAttachment.case_id)
                .where(CaseAttachment.id == attachment_id, CaseAttachment.case_id == case_id)
            )
        ).first()
        row, case = found if found else (None, None)
        content = None
        if row is not None and case is not None and may_read(actor, case) and not row.removed_at:
            content = await storage_named(row.storage, settings).get(session, row.storage_key)
    if row is None or case is None or not may_read(actor, case) or row.removed_at:
        raise await not_found(db, actor, "attachment", attachment_id, action=action)
    if content is None or hashlib.sha256(content).hexdigest() != row.sha256:
        error = Unavailable(
            f"{file_label(row.number)} ({row.filename}) cannot be served: its stored bytes are "
            "missing or no longer match the sha256 recorded at upload. Nothing was sent; "
            "tell an engineer.",
            code="attachment_damaged",
        )
        await record_refusal(
            db, actor, error, action=action, object_type="attachment", object_id=attachment_id
        )
        raise error
    async with db.transaction() as session:
        await audit.record(
            session,
            action=action,
            actor=actor.ref,
            object_type="case",
            object_id=case_id,
            origin=actor.origin,
            workflow_id=case.workflow_id,
            details={
                "attachment_id": attachment_id,
                "attachment": file_label(row.number),
                "sha256": row.sha256,
                "size": row.size,
            },
        )
    return AttachmentFile(filename=row.filename, content_type=row.content_type, content=content)


# ----------------------------------------------------------------------------- removal
async def remove_attachment(
    db: Database,
    settings: Settings,
    actor: Actor,
    case_id: uuid.UUID,
    attachment_id: uuid.UUID,
    *,
    reason: str,
) -> CaseAttachmentPublic:
    """Remove a file uploaded by mistake: the row stays (who removed it, when, why) and its
    bytes go. Refused while a decision or a SAR cites it."""
    action = "case.attachment_removed"
    case = await readable_case(db, actor, case_id, action=action)
    await require(
        db, actor, f"case_file:{case.case_type}", "remove", action=action,
        object_type="attachment", object_id=attachment_id,
    )  # fmt: skip
    reason = " ".join(reason.split())
    try:
        removed, error = await _mark_removed(db, settings, actor, case, attachment_id, reason)
    except DBAPIError as exc:
        if not is_cited_refusal(exc):
            raise
        # A decision citing it committed between our check and our update.
        removed, error = (
            None,
            Conflict(
                "The file was cited by a decision or a SAR a moment ago; it is kept with the case.",
                code="attachment_cited",
            ),
        )
    if removed is None and error is None:
        raise await not_found(db, actor, "attachment", attachment_id, action=action)
    if error is not None:
        await record_refusal(
            db, actor, error, action=action, object_type="attachment", object_id=attachment_id
        )
        raise error
    assert removed is not None
    await storage_named(removed.storage, settings).purge(removed.storage_key)
    return _public(removed, "?", [])


async def _mark_removed(
    db: Database,
    settings: Settings,
    actor: Actor,
    case: Case,
    attachment_id: uuid.UUID,
    reason: str,
) -> tuple[CaseAttachment | None, DomainError | None]:
    async with db.transaction() as session:
        row = (
            await session.exec(
                select(CaseAttachment)
                .where(CaseAttachment.id == attachment_id, CaseAttachment.case_id == case.id)
                .with_for_update()
            )
        ).first()
        if row is None:
            return None, None
        label = file_label(row.number)
        if row.removed_at is not None:
            return None, Conflict(f"{label} is already removed.", code="removed")
        if row.uploaded_by != actor.user_id:
            return None, Forbidden(
                f"Only whoever uploaded {label} may remove it.", code="not_uploader"
            )
        if not REASON_MIN <= len(reason) <= REASON_MAX:
            return None, Invalid(
                "The file was not removed.",
                fields={"reason": f"Say why, in {REASON_MIN} to {REASON_MAX} characters."},
            )
        cited = (await _citations(session, [row.id])).get(row.id)
        if cited:
            return None, Conflict(
                f"{label} is cited by {' and '.join(sorted(set(cited)))}: a file a decision "
                "or a SAR stands on is kept with the case.",
                code="attachment_cited",
            )
        row.removed_at = utcnow()
        row.removed_by = actor.user_id
        row.removal_reason = reason
        session.add(row)
        await session.flush()
        await storage_named(row.storage, settings).drop(session, row.storage_key)
        await audit.record(
            session,
            action="case.attachment_removed",
            actor=actor.ref,
            object_type="case",
            object_id=case.id,
            origin=actor.origin,
            workflow_id=case.workflow_id,
            reason=reason,
            details={
                "attachment_id": attachment_id,
                "attachment": label,
                "filename": row.filename,
                "sha256": row.sha256,
            },
        )
        return row, None


def may_upload(actor: Actor, case: Case) -> bool:
    return may_read(actor, case) and can(actor, f"case_file:{case.case_type}", "upload")


def may_remove(actor: Actor, case: Case) -> bool:
    return may_read(actor, case) and can(actor, f"case_file:{case.case_type}", "remove")


def is_cited_refusal(error: DBAPIError) -> bool:
    """The database's own refusal (migration 0016) of removing a cited file."""
    return "is cited by a decision or a SAR" in str(error)
