""" "Next case": claim the most urgent task available to me and open it.

The same order as the inbox's default (casework.priority's rank, then due), the same
candidate tasks as "Available to me", and the same claim door (casework.tasks.claim_task),
so permissions, segregation of duties and the audit event are those of a claim by hand.
Tasks segregation of duties keeps me from are skipped before the door (no refusal is
recorded for a task never asked for); a task someone else takes meanwhile is skipped too.
When nothing is left, the refusal says why.
"""

from __future__ import annotations

import uuid

from casework import tasks as task_service
from casework.inbox import load_task, work_roles
from casework.segregation import check_claim
from casework.snooze import NOT_SNOOZED_SQL
from core.db import Database, run_sql
from identity.access import can, record_refusal, require
from identity.actors import Actor
from models.cases import TaskPublic
from shared.errors import Conflict

BATCH = 20
MAX_CANDIDATES = 200  # looked at before giving up (each is one claim check)

NEXT_SQL = (
    "SELECT t.id FROM task t WHERE t.status = 'open' AND t.candidate_role = ANY(:roles) "  # noqa: S608 (fixed fragments)
    "AND NOT (:me = ANY(t.excluded_actors)) "
    f"AND {NOT_SNOOZED_SQL} "  # a snoozed case waits for its date (casework/snooze.py)
    "ORDER BY t.urgency DESC, t.due_at, t.id LIMIT :limit OFFSET :offset"
)


class NothingAvailable(Conflict):
    code = "nothing_available"


async def _may_claim(db: Database, actor: Actor, task_id: uuid.UUID) -> bool:
    """Would the claim door let me take it (roles, the kind's permission, segregation)?"""
    async with db.session() as session:
        loaded = await load_task(session, task_id)
        if loaded is None:
            return False
        task, case = loaded
        parties = await task_service.case_parties(session, case)
    kind_permissions = task_service.task_permissions(task.kind)[1:]
    if not all(can(actor, obj, act) for obj, act in kind_permissions):
        return False
    return check_claim(task_service.task_facts(task), parties, actor.user_id, actor.roles) is None


async def next_case(db: Database, actor: Actor) -> TaskPublic:
    """Claim the most urgent task I may take; NothingAvailable (409) says why there is none."""
    await require(db, actor, "task", "work", action="task.next")
    roles = work_roles(actor)
    skipped = 0
    offset = 0
    while roles and offset < MAX_CANDIDATES:
        async with db.session() as session:
            ids = [
                row[0]
                for row in (
                    await run_sql(
                        session,
                        NEXT_SQL,
                        {"roles": roles, "me": actor.user_id, "limit": BATCH, "offset": offset},
                    )
                ).all()
            ]
        if not ids:
            break
        offset += len(ids)
        for task_id in ids:
            if not await _may_claim(db, actor, task_id):
                skipped += 1
                continue
            try:
                return await task_service.claim_task(db, actor, task_id)
            except Conflict:
                continue  # taken by someone else a moment ago: the next one
    if skipped:
        message = (
            f"{skipped} task{'s are' if skipped != 1 else ' is'} waiting for your roles, but "
            "segregation of duties keeps you from "
            f"{'each of them' if skipped != 1 else 'it'} (you made the request or decided "
            "another step of the case)."
        )
    else:
        message = "Nothing is waiting for your roles right now."
    error = NothingAvailable(message)
    await record_refusal(db, actor, error, action="task.next")
    raise error
