"""Case notes: append-only plain text on any case, @mentions, search.

- A note is plain text: never rendered as markdown or HTML (templates escape it), at most
  NOTE_MAX_CHARS characters; control characters other than line breaks and tabs are refused.
- Never edited, never deleted (the app role may only insert: core/schema.py). A mistake is
  corrected by a new note that names the one it corrects ("correction of N-2").
- `@username` of an active staff member who may read the case's notes notifies them. An
  @name that is nobody, a disabled account, or someone who may not read this case is
  refused with the reason: a silently dropped mention would leave the writer believing a
  colleague was told, and notifying someone outside need-to-know would tip them off.
- Readers of the case read its notes (an AML case's notes are its narrative: they also need
  `aml_narrative:read`); the roles that work the case type add them (`case_note:<type>`,
  `write` in policies/policy.csv).
- Notes never go through Temporal: nothing of them reaches a workflow history.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from audit import trail as audit
from casework.need_to_know import CASE_TYPE_AML, NeedToKnow
from casework.notifications import queue_notification
from core.db import Database, run_sql
from identity import grants
from identity.access import can, can_see_case, not_found, record_refusal, require
from identity.actors import Actor
from models.case_notes import (
    NOTE_MAX_CHARS,
    CaseAttachment,
    CaseNote,
    CaseNotePage,
    CaseNotePublic,
)
from models.cases import Case
from models.staff import RoleAssignment, StaffUser
from policies.enforcer import allowed
from shared.errors import DomainError, Invalid

SEARCH_MAX_CHARS = 200
# @ at the start or after a space or punctuation (not inside an e-mail address).
MENTION_RE = re.compile(r"(?<![\w@.+-])@([a-z0-9][a-z0-9._-]{0,62})", re.IGNORECASE)
_ALLOWED_CONTROLS = {"\n", "\t"}


def note_label(number: int) -> str:
    return f"N-{number}"


async def next_case_number(
    session: AsyncSession,
    table: type[CaseNote] | type[CaseAttachment],
    case_id: uuid.UUID,
    *,
    lock: str,
) -> int:
    """The next number of a note or file on a case (N-1, F-1, ...), one writer per case and
    kind at a time: an advisory lock held to the end of the transaction, no row lock on the
    case (its workflow and its tasks keep going while a note or file is written)."""
    await run_sql(
        session,
        "SELECT pg_advisory_xact_lock(hashtext(:k), hashtext(:c))",
        {"k": lock, "c": str(case_id)},
    )
    highest = (
        await session.exec(
            select(func.coalesce(func.max(table.number), 0)).where(table.case_id == case_id)
        )
    ).one()
    return int(highest) + 1


# ----------------------------------------------------------------------------- who may
def may_read_work(roles: Sequence[str] | frozenset[str], case: Case) -> bool:
    """May someone with `roles` read this case's notes and attachments?"""
    if not allowed(roles, f"case:{case.case_type}", "read"):
        return False
    if case.case_type == CASE_TYPE_AML and not allowed(roles, "aml_narrative", "read"):
        return False
    return case.subject_type != "restriction" or allowed(roles, "restriction_detail", "read")


def may_read(actor: Actor, case: Case) -> bool:
    know = NeedToKnow.of(actor)
    return (
        can_see_case(actor, case.case_type)
        and (case.case_type != CASE_TYPE_AML or know.aml_narrative)
        and know.sees_change_target(case.subject_type)
    )


def may_write_note(actor: Actor, case: Case) -> bool:
    return may_read(actor, case) and can(actor, f"case_note:{case.case_type}", "write")


async def readable_case(db: Database, actor: Actor, case_id: uuid.UUID, *, action: str) -> Case:
    """The case, if the actor may read its notes and files; an audited 404 otherwise (the
    same answer for 'no such case' and 'not yours to see')."""
    async with db.session() as session:
        case = await session.get(Case, case_id)
    if case is None or not may_read(actor, case):
        raise await not_found(db, actor, "case", case_id, action=action)
    return case


# ----------------------------------------------------------------------------- writing
def clean_body(raw: str) -> tuple[str, str | None]:
    """(the note as stored, why it is refused or None)."""
    body = unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not body:
        return body, "Write the note."
    if len(body) > NOTE_MAX_CHARS:
        return body, f"At most {NOTE_MAX_CHARS} characters; this note has {len(body)}."
    bad = next(
        (ch for ch in body if unicodedata.category(ch) == "Cc" and ch not in _ALLOWED_CONTROLS),
        None,
    )
    if bad is not None:
        return body, f"The note holds a control character (U+{ord(bad):04X}); write plain text."
    return body, None


def mentioned_names(body: str) -> list[str]:
    """Usernames @mentioned, lower case, in order, once each (a trailing dot, comma or
    hyphen belongs to the sentence, not the name)."""
    found = (m.group(1).lower().rstrip("._-") for m in MENTION_RE.finditer(body))
    return list(dict.fromkeys(n for n in found if n))


@dataclass(frozen=True)
class Mentioned:
    user_id: uuid.UUID
    username: str


async def _resolve_mentions(
    session: AsyncSession, case: Case, names: list[str]
) -> tuple[list[Mentioned], str | None]:
    if not names:
        return [], None
    rows = (
        await session.exec(
            select(StaffUser.id, StaffUser.username, StaffUser.is_active).where(
                col(StaffUser.username).in_(names)
            )
        )
    ).all()
    people = {username: (user_id, active) for user_id, username, active in rows}
    role_rows = (
        await session.exec(
            select(RoleAssignment.user_id, RoleAssignment.role).where(
                col(RoleAssignment.user_id).in_([uid for uid, _ in people.values()]),
                *grants.active(),
            )
        )
    ).all()
    roles: dict[uuid.UUID, set[str]] = {}
    for user_id, role in role_rows:
        roles.setdefault(user_id, set()).add(role)
    found: list[Mentioned] = []
    for name in names:
        if name not in people:
            return [], f"@{name} is not a staff member: check the spelling, or drop the @."
        user_id, active = people[name]
        if not active:
            return [], f"@{name} is disabled and would not be told; mention someone else."
        if not may_read_work(frozenset(roles.get(user_id, ())), case):
            return [], (
                f"@{name} may not read this case's notes, so cannot be told about this one."
            )
        found.append(Mentioned(user_id, name))
    return found, None


async def add_note(
    db: Database,
    actor: Actor,
    case_id: uuid.UUID,
    *,
    body: str,
    corrects: int | None = None,
) -> CaseNotePublic:
    """Append a note to a case (and notify whoever it @mentions); audited with it."""
    action = "case.note_added"
    case = await readable_case(db, actor, case_id, action=action)
    await require(
        db, actor, f"case_note:{case.case_type}", "write", action=action, object_type="case",
        object_id=case_id,
    )  # fmt: skip
    body, why = clean_body(body)
    fields: dict[str, str] = {}
    if why:
        fields["body"] = why
    error: DomainError | None = None
    async with db.transaction() as session:
        mentions, why = await _resolve_mentions(session, case, mentioned_names(body))
        if why:
            fields["body"] = why
        corrected: CaseNote | None = None
        if corrects is not None:
            corrected = (
                await session.exec(
                    select(CaseNote).where(CaseNote.case_id == case_id, CaseNote.number == corrects)
                )
            ).first()
            if corrected is None:
                fields["corrects"] = f"This case has no note {note_label(corrects)}."
        if fields:
            error = Invalid("The note was not added.", fields=fields)
        else:
            number = await next_case_number(session, CaseNote, case_id, lock="case_note")
            note = CaseNote(
                case_id=case_id,
                number=number,
                body=body,
                author_id=actor.user_id,
                corrects_id=corrected.id if corrected else None,
                mentions=[m.user_id for m in mentions],
            )
            session.add(note)
            await session.flush()
            label = f"{case.reference} {note_label(number)}"
            for person in mentions:
                if person.user_id == actor.user_id:
                    continue  # writing to oneself tells nobody anything
                await queue_notification(
                    session,
                    dedupe_key=f"note-mention:{note.id}:{person.user_id}",
                    subject=f"{actor.username} mentioned you in a note on {case.reference}",
                    body=f"{label}: {body[:300]}{'…' if len(body) > 300 else ''}",
                    case_id=case_id,
                    recipient=person.user_id,
                )
            await audit.record(
                session,
                action=action,
                actor=actor.ref,
                object_type="case",
                object_id=case_id,
                origin=actor.origin,
                workflow_id=case.workflow_id,
                details={
                    "note_id": note.id,
                    "note": note_label(number),
                    "corrects": note_label(corrects) if corrected and corrects else None,
                    "mentions": [m.username for m in mentions],
                    "length": len(body),
                },
            )
            return CaseNotePublic(
                id=note.id,
                case_id=case_id,
                number=number,
                label=note_label(number),
                body=body,
                author=actor.username,
                created_at=note.created_at,
                corrects=note_label(corrects) if corrected and corrects else None,
                mentions=[m.username for m in mentions],
            )
    assert error is not None
    await record_refusal(db, actor, error, action=action, object_type="case", object_id=case_id)
    raise error


# ----------------------------------------------------------------------------- reading
async def notes_public(session: AsyncSession, notes: Sequence[CaseNote]) -> list[CaseNotePublic]:
    people = {n.author_id for n in notes} | {m for n in notes for m in n.mentions}
    names = dict(
        (
            await session.exec(
                select(StaffUser.id, StaffUser.username).where(col(StaffUser.id).in_(people))
            )
        ).all()
    )
    ids = [n.id for n in notes]
    numbers = dict(
        (
            await session.exec(
                select(CaseNote.id, CaseNote.number).where(
                    col(CaseNote.id).in_([n.corrects_id for n in notes if n.corrects_id])
                )
            )
        ).all()
    )
    corrections: dict[uuid.UUID, list[str]] = {}
    for target, number in (
        await session.exec(
            select(CaseNote.corrects_id, CaseNote.number)
            .where(col(CaseNote.corrects_id).in_(ids))
            .order_by(col(CaseNote.number))
        )
    ).all():
        if target is not None:
            corrections.setdefault(target, []).append(note_label(number))
    return [
        CaseNotePublic(
            id=n.id,
            case_id=n.case_id,
            number=n.number,
            label=note_label(n.number),
            body=n.body,
            author=names.get(n.author_id, "?"),
            created_at=n.created_at,
            corrects=note_label(numbers[n.corrects_id]) if n.corrects_id in numbers else None,
            corrected_by=corrections.get(n.id, []),
            mentions=[names.get(m, "?") for m in n.mentions],
        )
        for n in notes
    ]


async def list_notes(
    db: Database,
    actor: Actor,
    case_id: uuid.UUID,
    *,
    q: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> CaseNotePage:
    """A case's notes, newest first; with `q`, only those holding every word of it (words,
    "a phrase", -excluded: PostgreSQL's web search syntax, no stemming)."""
    await readable_case(db, actor, case_id, action="case.notes_read")
    conditions = [CaseNote.case_id == case_id]
    q = (q or "").strip()[:SEARCH_MAX_CHARS]
    if q:
        conditions.append(
            text("case_note.search @@ websearch_to_tsquery('simple', :q)").bindparams(q=q)  # type: ignore[arg-type]
        )
    async with db.session() as session:
        total = int(
            (
                await session.exec(select(func.count()).select_from(CaseNote).where(*conditions))
            ).one()
        )
        rows = (
            await session.exec(
                select(CaseNote)
                .where(*conditions)
                .order_by(col(CaseNote.number).desc())
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
        ).all()
        items = await notes_public(session, rows)
    return CaseNotePage(items=items, total=total, page=page, per_page=per_page)
