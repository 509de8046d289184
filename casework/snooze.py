"""Snooze: park a case until a date; a durable Temporal timer brings it back.

Whoever works a case (holds one of its open steps, or may take one) and holds
`case:snooze` may snooze it until a date in the future, at most MAX_SNOOZE ahead, with a
reason code and an optional comment. While snoozed, its tasks leave the default inbox and
the queues (`NOT_SNOOZED_SQL`); the case page says "snoozed until …"; the case list and
the inbox have a "snoozed" filter. The snooze is a row of `case_snooze` (reason and comment
stay there); its timer is the workflow `snooze-<case id>` (workflows/case_snooze.py), told
only the case id and the date. When the date comes, the wake activity ends the snooze and
notifies whoever holds the case's steps (or their roles). Snoozing again moves the date;
"wake now" ends the snooze at once. Every change is audited with the change itself.

Order of the doors: a snooze is written and its timer set (signal-with-start) inside one
transaction, audited last, so a refused start leaves nothing. Waking early commits first
and then tells the timer; if that message is lost, the timer fires on the old date, finds
no snooze in force and ends.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import exists
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError

from audit import trail as audit
from audit.trail import SYSTEM
from casework.need_to_know import CASE_TYPE_AML
from casework.notifications import queue_notification
from casework.segregation import holds_candidate_role
from casework.tags import tags_in_use, tags_of
from core.db import Database
from identity.access import can, can_see_case, not_found, record_refusal, require
from identity.actors import Actor
from models.base import utcnow
from models.case_follow_up import CaseSnooze, FollowUpPublic, SnoozePublic
from models.cases import OPEN_TASK_STATUSES, Case, CaseStatus, Task, TaskStatus
from models.follow_up_io import (
    SNOOZE_SIGNAL,
    SNOOZE_WORKFLOW,
    SnoozeTimer,
    WakeCaseInput,
    WakeResult,
    snooze_workflow_id,
)
from models.staff import StaffUser
from shared.errors import Conflict, Forbidden, Invalid, Unavailable

log = logging.getLogger(__name__)

SNOOZE_REASONS: dict[str, str] = {
    "awaiting_customer": "Waiting for the customer",
    "awaiting_third_party": "Waiting for a bank or another third party",
    "awaiting_internal": "Waiting for another team",
    "scheduled_review": "Review again on a set date",
    "other": "Other (say why in the comment)",
}
MAX_SNOOZE = timedelta(days=90)
MIN_SNOOZE = timedelta(minutes=5)
COMMENT_MAX = 500
OTHER_COMMENT_MIN = 10
# A snooze "until a date" ends at this hour (UTC) of that day.
WAKE_TIME = time(8, 0, tzinfo=UTC)

# Tasks whose case is snoozed (task alias `t`): the inbox and every queue leave them out
# by default (`NOT ...`) and list only them under the "snoozed" filter. The partial unique
# index uq_case_snooze_active makes it one index probe per case.
SNOOZED_SQL = (
    "EXISTS (SELECT 1 FROM case_snooze cs WHERE cs.case_id = t.case_id AND cs.ended_at IS NULL)"
)
NOT_SNOOZED_SQL = f"NOT {SNOOZED_SQL}"


def snoozed_case() -> Any:
    """A condition on `Case`: a snooze is in force (for the case list's filter)."""
    return exists().where(
        col(CaseSnooze.case_id) == col(Case.id), col(CaseSnooze.ended_at).is_(None)
    )


def until_of_date(day: date) -> datetime:
    """A snooze "until a date" ends at WAKE_TIME (UTC) on that day."""
    return datetime.combine(day, WAKE_TIME)


def date_bounds(now: datetime | None = None) -> tuple[date, date]:
    """The first and last day a form may offer (today's wake time may have passed)."""
    now = now or utcnow()
    first = (
        now.date()
        if until_of_date(now.date()) - now >= MIN_SNOOZE
        else now.date() + timedelta(days=1)
    )
    return first, (now + MAX_SNOOZE).date()


def check_snooze(
    until: datetime, reason_code: str, comment: str | None, now: datetime
) -> str | None:
    """Invalid naming each bad field; the comment as stored (None when empty)."""
    problems: dict[str, str] = {}
    if until.tzinfo is None:
        problems["until"] = "give a time zone (e.g. 2027-01-15T08:00:00Z)"
    elif until - now < MIN_SNOOZE:
        problems["until"] = "must be in the future (at least 5 minutes from now)"
    elif until - now > MAX_SNOOZE:
        latest = (now + MAX_SNOOZE).strftime("%Y-%m-%d")
        problems["until"] = f"at most {MAX_SNOOZE.days} days ahead (until {latest})"
    if reason_code not in SNOOZE_REASONS:
        problems["reason"] = "one of " + ", ".join(SNOOZE_REASONS)
    text = (comment or "").strip() or None
    if text and len(text) > COMMENT_MAX:
        problems["comment"] = f"at most {COMMENT_MAX} characters ({len(text)} given)"
    elif reason_code == "other" and len(text or "") < OTHER_COMMENT_MIN:
        problems["comment"] = f"say why in at least {OTHER_COMMENT_MIN} characters (reason: other)"
    if problems:
        raise Invalid(
            "The case was not snoozed: " + "; ".join(f"{k} {v}" for k, v in problems.items()) + ".",
            fields=problems,
        )
    return text


# ----------------------------------------------------------------------------- who may
async def works_on(session: AsyncSession, actor: Actor, case_id: uuid.UUID) -> bool:
    """Whether the actor works this case: holds one of its open steps, or may take one."""
    rows = (
        await session.exec(
            select(Task.candidate_role, Task.assignee_id, Task.excluded_actors).where(
                Task.case_id == case_id, col(Task.status).in_(OPEN_TASK_STATUSES)
            )
        )
    ).all()
    if not can(actor, "task", "work"):
        return False
    return any(
        assignee == actor.user_id
        or (
            assignee is None
            and holds_candidate_role(role, actor.roles)
            and actor.user_id not in (excluded or ())
        )
        for role, assignee, excluded in rows
    )


NOT_YOURS = (
    "Only someone who works this case may snooze or wake it: none of its open steps is "
    "yours or open to your roles."
)


async def _case_to_snooze(db: Database, actor: Actor, case_id: uuid.UUID, action: str) -> Case:
    """The case, when the actor may snooze it: permission, visibility, works on it (each
    refusal audited)."""
    await require(db, actor, "case", "snooze", action=action, object_type="case", object_id=case_id)
    async with db.session() as session:
        case = await session.get(Case, case_id)
        mine = case is not None and await works_on(session, actor, case.id)
        if case is not None and not mine:
            # The person who snoozed it may always wake it (they may have released the step).
            mine = (
                action == "case.unsnoozed" and await _snoozed_by(session, case.id) == actor.user_id
            )
    if case is None or not can_see_case(actor, case.case_type):
        raise await not_found(db, actor, "case", case_id, action=action)
    if not mine:
        error = Forbidden(NOT_YOURS, code="not_your_case")
        await record_refusal(db, actor, error, action=action, object_type="case", object_id=case_id)
        raise error
    return case


async def _snoozed_by(session: AsyncSession, case_id: uuid.UUID) -> uuid.UUID | None:
    active = await _active(session, case_id)
    return active.snoozed_by if active else None


async def _active(
    session: AsyncSession, case_id: uuid.UUID, *, lock: bool = False
) -> CaseSnooze | None:
    query = select(CaseSnooze).where(
        CaseSnooze.case_id == case_id, col(CaseSnooze.ended_at).is_(None)
    )
    if lock:
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def _lock_case(session: AsyncSession, case_id: uuid.UUID) -> Case:
    """The case row, locked against a concurrent snooze, wake or close until the commit."""
    case = (
        await session.exec(select(Case).where(Case.id == case_id).with_for_update(key_share=True))
    ).one()
    return case


# ----------------------------------------------------------------------------- commands
@dataclass(frozen=True)
class Snoozed:
    case_id: uuid.UUID
    reference: str
    until: datetime
    replaced: datetime | None  # the date of the snooze this one replaced


async def snooze_case(
    db: Database,
    temporal: Client,
    task_queue: str,
    actor: Actor,
    case_id: uuid.UUID,
    *,
    until: datetime,
    reason_code: str,
    comment: str | None = None,
) -> Snoozed:
    """Snooze the case until `until` (or move the date of its snooze in force)."""
    case = await _case_to_snooze(db, actor, case_id, "case.snoozed")
    now = utcnow()
    text = check_snooze(until, reason_code, comment, now)
    until = until.astimezone(UTC)
    async with db.transaction() as session:
        case = await _lock_case(session, case.id)
        if case.status != CaseStatus.OPEN:
            raise Conflict(
                f"{case.reference} is closed: there is nothing to snooze.", code="case_closed"
            )
        previous = await _active(session, case.id, lock=True)
        if previous is not None:
            previous.ended_at, previous.ended_by, previous.end_kind = now, actor.user_id, "replaced"
            session.add(previous)
            await session.flush()  # the partial unique index allows one snooze in force
        snooze = CaseSnooze(
            case_id=case.id,
            snoozed_until=until,
            reason_code=reason_code,
            comment=text,
            snoozed_by=actor.user_id,
            snoozed_at=now,
        )
        session.add(snooze)
        await session.flush()
        timer = SnoozeTimer(case_id=case.id, until=until)
        try:
            await temporal.start_workflow(
                SNOOZE_WORKFLOW,
                timer,
                id=snooze_workflow_id(case.id),
                task_queue=task_queue,
                start_signal=SNOOZE_SIGNAL,
                start_signal_args=[timer],
                static_summary=f"{case.reference} snoozed",
            )
        except RPCError as exc:
            raise Unavailable(
                f"The workflow engine did not accept the snooze ({exc.status.name}); "
                "nothing was changed. Try again shortly."
            ) from exc
        # Audited last: the audit chain's lock is never held across the call to Temporal.
        await audit.record(
            session,
            action="case.snoozed",
            actor=actor.ref,
            object_type="case",
            object_id=case.id,
            origin=actor.origin,
            workflow_id=snooze_workflow_id(case.id),
            reason=SNOOZE_REASONS[reason_code],
            details={
                "reference": case.reference,
                "snooze_id": snooze.id,
                "until": until,
                "reason_code": reason_code,
                "replaced_until": previous.snoozed_until if previous else None,
            },
        )
    return Snoozed(case.id, case.reference, until, previous.snoozed_until if previous else None)


async def wake_case(db: Database, temporal: Client, actor: Actor, case_id: uuid.UUID) -> Snoozed:
    """End the case's snooze now ("wake now"): its tasks are back in the inbox at once."""
    case = await _case_to_snooze(db, actor, case_id, "case.unsnoozed")
    now = utcnow()
    async with db.transaction() as session:
        case = await _lock_case(session, case.id)
        snooze = await _active(session, case.id, lock=True)
        if snooze is None:
            raise Conflict(f"{case.reference} is not snoozed.", code="not_snoozed")
        snooze.ended_at, snooze.ended_by, snooze.end_kind = now, actor.user_id, "woken"
        session.add(snooze)
        await audit.record(
            session,
            action="case.unsnoozed",
            actor=actor.ref,
            object_type="case",
            object_id=case.id,
            origin=actor.origin,
            workflow_id=snooze_workflow_id(case.id),
            details={
                "reference": case.reference,
                "snooze_id": snooze.id,
                "until": snooze.snoozed_until,
                "kind": "woken",
            },
        )
    # After the commit: a lost message only lets the timer fire on the old date for nothing.
    try:
        await temporal.get_workflow_handle(snooze_workflow_id(case.id)).signal(
            SNOOZE_SIGNAL, SnoozeTimer(case_id=case.id, until=None)
        )
    except RPCError as exc:
        log.warning("snooze timer of case %s not told it was woken: %s", case.id, exc.status.name)
    return Snoozed(case.id, case.reference, snooze.snoozed_until, None)


# ----------------------------------------------------------------------------- the timer's side
async def wake_due(db: Database, inp: WakeCaseInput, *, workflow_id: str) -> WakeResult:
    """The timer fired at `inp.now` (the workflow's clock): end the snooze in force if it is
    due and tell those who work the case; a later one (it replaced the timer's) sleeps on.
    Idempotent: a retry finds the snooze ended and does nothing."""
    async with db.transaction() as session:
        case = await _lock_case(session, inp.case_id)
        snooze = await _active(session, case.id, lock=True)
        if snooze is None:
            return WakeResult()
        if snooze.snoozed_until > inp.now and case.status == CaseStatus.OPEN:
            return WakeResult(snoozed_until=snooze.snoozed_until)
        kind = "timer" if case.status == CaseStatus.OPEN else "closed"
        snooze.ended_at, snooze.end_kind = utcnow(), kind
        session.add(snooze)
        if kind == "timer":
            await _notify_back(session, case, snooze)
        await audit.record(
            session,
            action="case.unsnoozed",
            actor=SYSTEM,
            object_type="case",
            object_id=case.id,
            workflow_id=workflow_id,
            details={
                "reference": case.reference,
                "snooze_id": snooze.id,
                "until": snooze.snoozed_until,
                "kind": kind,
            },
        )
    return WakeResult(woke=True)


async def _notify_back(session: AsyncSession, case: Case, snooze: CaseSnooze) -> None:
    """Whoever holds one of the case's steps; the roles of its open steps; else the snoozer."""
    rows = (
        await session.exec(
            select(Task.status, Task.assignee_id, Task.candidate_role).where(
                Task.case_id == case.id, col(Task.status).in_(OPEN_TASK_STATUSES)
            )
        )
    ).all()
    people = {a for s, a, _ in rows if s == TaskStatus.CLAIMED and a is not None}
    roles = {r for s, _, r in rows if s == TaskStatus.OPEN}
    if not people and not roles:
        people = {snooze.snoozed_by}
    subject = f"{case.reference} is back from snooze"
    body = (
        f"{case.reference} was snoozed until {snooze.snoozed_until:%Y-%m-%d %H:%M} UTC "
        f"({SNOOZE_REASONS.get(snooze.reason_code, snooze.reason_code).lower()}). "
        "Its steps are back in the inbox."
    )
    for person in sorted(people, key=str):
        await queue_notification(
            session,
            dedupe_key=f"snooze-wake:{snooze.id}:{person}",
            subject=subject,
            body=body,
            case_id=case.id,
            recipient=person,
        )
    for role in sorted(roles):
        await queue_notification(
            session,
            dedupe_key=f"snooze-wake:{snooze.id}:{role}",
            subject=subject,
            body=body,
            case_id=case.id,
            role=role,
        )


# ----------------------------------------------------------------------------- reading
@dataclass
class FollowUpView:
    """What the case page's follow-up panel shows and offers (partials/case_follow_up.html)."""

    case_id: uuid.UUID
    case_open: bool
    snooze: SnoozePublic | None
    tags: list[str]
    can_snooze: bool = False
    snooze_blocked: str | None = None
    can_tag: bool = False
    reasons: dict[str, str] = field(default_factory=lambda: dict(SNOOZE_REASONS))
    first_day: date | None = None
    last_day: date | None = None

    def public(self) -> FollowUpPublic:
        return FollowUpPublic(
            case_id=self.case_id,
            snoozed=self.snooze is not None,
            snooze=self.snooze,
            tags=self.tags,
        )


async def follow_up_of(db: Database, actor: Actor, case: Case) -> FollowUpView:
    """The case's snooze in force and its tags, as `actor` (who may see the case) sees them."""
    async with db.session() as session:
        row = (
            await session.exec(
                select(CaseSnooze, StaffUser.username)
                .outerjoin(StaffUser, col(StaffUser.id) == CaseSnooze.snoozed_by)
                .where(CaseSnooze.case_id == case.id, col(CaseSnooze.ended_at).is_(None))
            )
        ).first()
        tags = (await tags_of(session, [case.id]))[case.id]
        working = await works_on(session, actor, case.id)
    case_open = case.status == CaseStatus.OPEN
    snooze = None
    if row is not None and case_open:
        s, who = row
        # An AML case's words are narrative (need-to-know); the reason code is not.
        words = case.case_type != CASE_TYPE_AML or can(actor, "aml_narrative", "read")
        snooze = SnoozePublic(
            id=s.id,
            until=s.snoozed_until,
            reason_code=s.reason_code,
            reason_label=SNOOZE_REASONS.get(s.reason_code, s.reason_code),
            comment=s.comment if words else None,
            snoozed_by=who or "?",
            snoozed_at=s.snoozed_at,
        )
        working = working or s.snoozed_by == actor.user_id
    view = FollowUpView(case_id=case.id, case_open=case_open, snooze=snooze, tags=tags)
    view.first_day, view.last_day = date_bounds()
    if can(actor, "case", "snooze") and case_open:
        view.can_snooze = working
        view.snooze_blocked = None if working else NOT_YOURS
    view.can_tag = can(actor, "case", "tag")
    return view


async def read_follow_up(db: Database, actor: Actor, case_id: uuid.UUID) -> FollowUpPublic:
    async with db.session() as session:
        case = await session.get(Case, case_id)
    if case is None or not can_see_case(actor, case.case_type):
        raise await not_found(db, actor, "case", case_id, action="case.read")
    return (await follow_up_of(db, actor, case)).public()


@dataclass
class ListFollowUp:
    """The case list's follow-up: each listed case's tags and snooze, the tags in use."""

    tags: dict[uuid.UUID, list[str]]
    snoozed_until: dict[uuid.UUID, datetime]
    tags_in_use: list[str]


async def list_follow_up(
    db: Database, case_ids: list[uuid.UUID], visible_types: list[str]
) -> ListFollowUp:
    """For cases the reader may already see (a page of the case list), and the tags in use
    on the case types they may see."""
    async with db.session() as session:
        tags = await tags_of(session, case_ids)
        rows = (
            await session.exec(
                select(CaseSnooze.case_id, CaseSnooze.snoozed_until)
                .join(Case, col(Case.id) == CaseSnooze.case_id)
                .where(
                    col(CaseSnooze.case_id).in_(case_ids),
                    col(CaseSnooze.ended_at).is_(None),
                    col(Case.status) == CaseStatus.OPEN,
                )
            )
        ).all()
    return ListFollowUp(tags, dict(rows), await tags_in_use(db, visible_types))
