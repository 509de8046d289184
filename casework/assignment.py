"""Assignment: a team lead gives a task of their team to a named person.

A lead (casework/teams.py) assigns or reassigns an open or claimed task whose candidate role
their team holds, to a person who holds that role, may work the task's kind, and whom
segregation of duties does not exclude: the same pure check (`casework.segregation.check_claim`)
the claim and decision doors apply, so an assignee can always decide what they were given.
The task becomes claimed by the assignee, who is notified; the assignment and its audit event
share one transaction (the task row locked, so the facts judged are the facts written).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from audit.trail import ActorRef
from casework import store
from casework.inbox import load_task, task_public
from casework.notifications import queue_notification
from casework.segregation import OPEN_STATUSES, CaseParties, check_claim, holds_candidate_role
from casework.tasks import case_parties, task_facts, task_permissions
from casework.teams import team_roles
from core.db import Database
from identity import grants
from identity.access import not_found, record_refusal, require
from identity.actors import Actor
from models.base import utcnow
from models.cases import Case, Task, TaskPublic, TaskStatus
from models.staff import RoleAssignment, StaffUser
from policies.enforcer import allowed
from shared.errors import Conflict, DomainError, Forbidden, Invalid

ACTION = "task.assign"

# What segregation of duties says about someone else (check_claim speaks to the claimant).
_THIRD_PERSON = {
    "maker_cannot_decide": "{name} made this request; four-eyes control needs a different "
    "person to decide it.",
    "editor_cannot_decide": "{name} edited this request; four-eyes control needs a person who "
    "did not.",
    "decided_other_step": "{name} already decided another step of this case; each step needs a "
    "different person (segregation of duties).",
    "excluded": "{name} is excluded from this task (segregation of duties).",
}


@dataclass(frozen=True)
class Person:
    user_id: uuid.UUID
    username: str
    display_name: str
    roles: frozenset[str]


@dataclass(frozen=True)
class Candidate:
    person: Person
    eligible: bool
    why_not: str | None = None


def leads_task(actor: Actor, task: Task) -> bool:
    """Does the actor lead a team holding (one of) the task's candidate role(s)?"""
    return holds_candidate_role(task.candidate_role, team_roles(actor.roles))


async def _people_with_roles(session: AsyncSession, roles: list[str]) -> list[Person]:
    """Active staff holding any of `roles`, with all their roles."""
    rows = (
        await session.exec(
            select(StaffUser, RoleAssignment.role)
            .join(RoleAssignment, col(RoleAssignment.user_id) == StaffUser.id)
            .where(col(StaffUser.is_active).is_(True), *grants.active())
            .where(
                col(StaffUser.id).in_(
                    select(RoleAssignment.user_id).where(
                        col(RoleAssignment.role).in_(roles), *grants.active()
                    )
                )
            )
            .order_by(col(StaffUser.display_name), col(StaffUser.username))
        )
    ).all()
    people: dict[uuid.UUID, tuple[StaffUser, set[str]]] = {}
    for user, role in rows:
        people.setdefault(user.id, (user, set()))[1].add(role)
    return [Person(u.id, u.username, u.display_name, frozenset(rs)) for u, rs in people.values()]


async def _person(session: AsyncSession, ref: str) -> Person | None:
    """A staff member by username or id, with their roles."""
    try:
        where = col(StaffUser.id) == uuid.UUID(ref)
    except ValueError:
        where = col(StaffUser.username) == ref.strip().lower()
    user = (await session.exec(select(StaffUser).where(where))).first()
    if user is None or not user.is_active:
        return None
    roles = (
        await session.exec(
            select(RoleAssignment.role).where(RoleAssignment.user_id == user.id, *grants.active())
        )
    ).all()
    return Person(user.id, user.username, user.display_name, frozenset(roles))


def why_not_assignable(task: Task, parties: CaseParties, person: Person) -> str | None:
    """Why this person may not be given this task (None: they may)."""
    if not holds_candidate_role(task.candidate_role, person.roles):
        return (
            f"{person.display_name} does not hold the "
            f"{task.candidate_role.replace('|', ' or ')} role this task needs."
        )
    if not all(allowed(person.roles, obj, act) for obj, act in task_permissions(task.kind)):
        return f"{person.display_name}'s roles do not allow them to work this kind of task."
    refusal = check_claim(task_facts(task), parties, person.user_id, person.roles)
    if refusal is not None:
        template = _THIRD_PERSON.get(refusal.code)
        return template.format(name=person.display_name) if template else refusal.message
    return None


async def _load_for_lead(db: Database, actor: Actor, task_id: uuid.UUID) -> tuple[Task, Case]:
    await require(db, actor, "task", "assign", action=ACTION, object_type="task", object_id=task_id)
    async with db.session() as session:
        loaded = await load_task(session, task_id)
    if loaded is None or not leads_task(actor, loaded[0]):
        if loaded is not None:
            error: DomainError = Forbidden(
                f"You do not lead the team that works this task (it is for the "
                f"{loaded[0].candidate_role.replace('|', ' or ')} role).",
                code="not_team_lead",
            )
            await record_refusal(
                db, actor, error, action=ACTION, object_type="task", object_id=task_id
            )
            raise error
        raise await not_found(db, actor, "task", task_id, action=ACTION)
    return loaded


async def candidates(
    db: Database, actor: Actor, task_id: uuid.UUID
) -> tuple[TaskPublic, list[Candidate]]:
    """The task and everyone holding its role, each eligible or not and why (the picker)."""
    task, case = await _load_for_lead(db, actor, task_id)
    async with db.session() as session:
        parties = await case_parties(session, case)
        people = await _people_with_roles(session, task.candidate_role.split("|"))
        holder = await session.get(StaffUser, task.assignee_id) if task.assignee_id else None
    result = []
    for person in people:
        why = why_not_assignable(task, parties, person)
        if why is None and person.user_id == task.assignee_id:
            why = f"{person.display_name} already holds this task."
        result.append(Candidate(person, why is None, why))
    return task_public(task, case, holder.username if holder else None, utcnow()), result


async def assign_task(db: Database, actor: Actor, task_id: uuid.UUID, assignee: str) -> TaskPublic:
    """Give an open or claimed task of the lead's team to `assignee` (username or id)."""
    await _load_for_lead(db, actor, task_id)
    error: DomainError | None = None
    now = utcnow()
    async with db.transaction() as session:
        task = (await session.exec(select(Task).where(Task.id == task_id).with_for_update())).one()
        case = await session.get(Case, task.case_id)
        assert case is not None
        person = await _person(session, assignee) if assignee.strip() else None
        previous = task.assignee_id
        if person is None:
            error = Invalid(
                "Choose a person to assign the task to.",
                code="unknown_assignee",
                fields={"assignee": f"no active staff member {assignee.strip()!r}"},
            )
        elif task.status not in OPEN_STATUSES:
            error = Conflict(f"This task is already {task.status}.", code="task_closed")
        elif previous == person.user_id:
            error = Conflict(
                f"{person.display_name} already holds this task.", code="already_assigned"
            )
        else:
            why = why_not_assignable(task, await case_parties(session, case), person)
            if why is not None:
                error = Forbidden(why, code="assignee_not_eligible")
        if error is None and person is not None:
            written = await store.assign_task(
                session,
                task_id,
                ActorRef(person.user_id, person.username),
                by=actor.ref,
                origin=actor.origin,
                now=now,
                details={"case_id": case.id, "previous_assignee_id": previous},
            )
            if written is None:  # excluded meanwhile (the row is locked: not expected)
                error = Forbidden(
                    f"{person.display_name} is excluded from this task (segregation of duties).",
                    code="assignee_not_eligible",
                )
        if error is None and person is not None:
            task.status, task.assignee_id, task.claimed_at = TaskStatus.CLAIMED, person.user_id, now
            await queue_notification(
                session,
                dedupe_key=f"assigned:{task_id}:{uuid.uuid4().hex}",
                recipient=person.user_id,
                subject=f"Assigned to you: {task.title}",
                body=f"{actor.display_name} assigned you the task '{task.title}' "
                f"of case {case.reference}.",
                case_id=case.id,
            )
            if previous is not None:
                await queue_notification(
                    session,
                    dedupe_key=f"reassigned:{task_id}:{uuid.uuid4().hex}",
                    recipient=previous,
                    subject=f"Reassigned: {task.title}",
                    body=f"{actor.display_name} reassigned the task '{task.title}' of case "
                    f"{case.reference} to {person.display_name}.",
                    case_id=case.id,
                )
    if error is not None:
        await record_refusal(
            db,
            actor,
            error,
            action=ACTION,
            object_type="task",
            object_id=task_id,
            details={"assignee": assignee[:64]},
        )
        raise error
    assert person is not None
    return task_public(task, case, person.username, now)
