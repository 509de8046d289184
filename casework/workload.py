"""The workload of a lead's team: open and claimed tasks per person and per queue, and
how many are at risk (overdue, due soon) under the one SLA rule (casework/priority.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from casework import priority as rule
from casework.inbox import team_candidate_roles
from casework.tasks import TASK_KINDS
from core.db import Database, run_sql
from identity.access import require
from identity.actors import Actor
from models.base import utcnow
from shared.errors import Forbidden, Invalid

AT_RISK = (
    f"count(*) FILTER (WHERE {rule.SQL_OVERDUE}) AS overdue, "
    f"count(*) FILTER (WHERE {rule.SQL_DUE_SOON}) AS due_soon"
)


class PersonLoad(BaseModel):
    username: str
    display_name: str
    roles: list[str]
    claimed: int
    overdue: int
    due_soon: int


class QueueLoad(BaseModel):
    kind: str
    label: str
    candidate_role: str
    open: int
    claimed: int
    overdue: int
    due_soon: int


class Workload(BaseModel):
    roles: list[str]  # the team roles shown
    team_roles: list[str]  # every role the lead's team holds
    people: list[PersonLoad]
    queues: list[QueueLoad]
    open: int
    claimed: int
    overdue: int
    due_soon: int
    as_of: datetime


def _label(kind: str) -> str:
    return TASK_KINDS.get(kind) or kind.replace("_", " ")


async def workload(db: Database, actor: Actor, *, role: str | None = None) -> Workload:
    """The team's load; `role` narrows it to one of the team's roles."""
    await require(db, actor, "workload", "read", action="workload.read")
    candidates = team_candidate_roles(actor)
    team = sorted(r for r in candidates if "|" not in r)
    if not team:
        raise Forbidden("Only a team lead sees a team's workload.", code="not_a_lead")
    if role and role not in team:
        raise Invalid("Not a role of your team.", fields={"role": ", ".join(team)})
    shown = [role] if role else team
    values = [c for c in candidates if any(r in c.split("|") for r in shown)]
    now = utcnow()
    params: dict[str, Any] = {"roles": values, "people_roles": shown, "now": now}
    async with db.session() as session:
        queue_rows = (
            await run_sql(
                session,
                f"SELECT t.kind, t.candidate_role, {AT_RISK}, "  # noqa: S608 (fixed fragments, bound values)
                "count(*) FILTER (WHERE t.status = 'open') AS open, "
                "count(*) FILTER (WHERE t.status = 'claimed') AS claimed FROM task t "
                "WHERE t.status IN ('open', 'claimed') AND t.candidate_role = ANY(:roles) "
                "GROUP BY t.kind, t.candidate_role ORDER BY t.candidate_role, t.kind",
                params,
            )
        ).all()
        people_rows = (
            await run_sql(
                session,
                f"WITH held AS (SELECT t.assignee_id, count(*) AS claimed, {AT_RISK}"  # noqa: S608
                "  FROM task t WHERE t.status = 'claimed' AND t.candidate_role = ANY(:roles)"
                "  GROUP BY t.assignee_id"
                "), members AS ("
                "  SELECT s.id, s.username, s.display_name, array_agg(DISTINCT r.role) AS roles"
                "  FROM staff_user s JOIN role_assignment r ON r.user_id = s.id"
                "  WHERE r.role = ANY(:people_roles) AND s.is_active"
                # Active grants only (ended ones are kept: identity.grants).
                "    AND r.ended_at IS NULL AND (r.expires_at IS NULL OR r.expires_at > now())"
                "  GROUP BY s.id"
                ") SELECT m.username, m.display_name, m.roles, coalesce(h.claimed, 0),"
                " coalesce(h.overdue, 0), coalesce(h.due_soon, 0)"
                " FROM members m LEFT JOIN held h ON h.assignee_id = m.id"
                " ORDER BY coalesce(h.overdue, 0) DESC, coalesce(h.claimed, 0) DESC, m.username",
                params,
            )
        ).all()
    queues = [
        QueueLoad(
            kind=kind,
            label=_label(kind),
            candidate_role=candidate,
            open=int(open_),
            claimed=int(claimed),
            overdue=int(overdue),
            due_soon=int(due_soon),
        )
        for kind, candidate, overdue, due_soon, open_, claimed in queue_rows
    ]
    people = [
        PersonLoad(
            username=username,
            display_name=display,
            roles=sorted(roles),
            claimed=int(claimed),
            overdue=int(overdue),
            due_soon=int(due_soon),
        )
        for username, display, roles, claimed, overdue, due_soon in people_rows
    ]
    return Workload(
        roles=shown,
        team_roles=team,
        people=people,
        queues=queues,
        open=sum(q.open for q in queues),
        claimed=sum(q.claimed for q in queues),
        overdue=sum(q.overdue for q in queues),
        due_soon=sum(q.due_soon for q in queues),
        as_of=now,
    )
