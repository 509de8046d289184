"""The inbox: which tasks a staff member holds or may take, most urgent first.

Most urgent = highest priority under the one rule (casework/priority.py, stored as
`task.urgency`), then the earliest due. Every filter and the sort travel in the URL
(`InboxQuery.query_string`), so a view can be shared, bookmarked or saved by name.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from casework import priority as rule
from casework.segregation import candidate_values, holds_candidate_role
from casework.snooze import NOT_SNOOZED_SQL
from casework.teams import team_roles
from core.db import Database, run_sql
from identity.access import can, can_see_case
from identity.actors import Actor
from models.base import utcnow
from models.cases import Case, Task, TaskPage, TaskPublic
from models.staff import StaffUser
from shared.errors import Forbidden, Invalid

DUE_SOON = rule.DUE_SOON
SCOPES = ("available", "mine", "team")
SLA_FILTERS = ("overdue", "due_soon")
# sort key -> (ORDER BY in its natural direction, the same reversed, needs the case row).
# Ties always end on the task id, so pages never overlap.
SORTS: dict[str, tuple[str, str, bool]] = {
    "priority": ("t.urgency DESC, t.due_at, t.id", "t.urgency, t.due_at DESC, t.id DESC", False),
    "due": ("t.due_at, t.urgency DESC, t.id", "t.due_at DESC, t.urgency, t.id DESC", False),
    "created": ("t.created_at, t.id", "t.created_at DESC, t.id DESC", False),
    "kind": ("t.kind, t.urgency DESC, t.due_at, t.id", "t.kind DESC, t.urgency DESC, t.id", False),
    "case": ("c.reference, t.id", "c.reference DESC, t.id DESC", True),
}
DEFAULT_SORT = "priority"
PER_PAGE = 25
TEXT_MAX = 100


def sla_state(task: Task, now: datetime) -> str:
    return rule.sla_state(task.status, task.created_at, task.due_at, now)


def task_public(task: Task, case: Case, assignee: str | None, now: datetime) -> TaskPublic:
    return TaskPublic(
        id=task.id,
        case_id=case.id,
        case_reference=case.reference,
        case_type=case.case_type,
        case_title=case.title,
        workflow_id=task.workflow_id,
        title=task.title,
        kind=task.kind,
        candidate_role=task.candidate_role,
        status=task.status,
        priority=rule.task_priority(task.priority, task.escalation_level, case.risk_level),
        escalation_level=task.escalation_level,
        assignee=assignee,
        assignee_id=task.assignee_id,
        due_at=task.due_at,
        created_at=task.created_at,
        allowed_outcomes=list(task.allowed_outcomes),
        reason_required_for=list(task.reason_required_for),
        sla_state=sla_state(task, now),
    )


def work_roles(actor: Actor) -> list[str]:
    """The candidate roles of the tasks this person may work (shared ones included)."""
    return candidate_values(actor.roles) if can(actor, "task", "work") else []


def team_candidate_roles(actor: Actor) -> list[str]:
    """The candidate roles of the tasks of a lead's team (empty: not a lead)."""
    return candidate_values(team_roles(actor.roles))


def sees_team(actor: Actor) -> bool:
    return bool(team_candidate_roles(actor)) and can(actor, "workload", "read")


@dataclass(frozen=True)
class InboxQuery:
    """What the inbox shows: scope, filters, sort and page; parsed from and written to URLs."""

    scope: str = "available"
    kind: str | None = None
    priority: str | None = None
    sla: str | None = None
    role: str | None = None
    assignee: str | None = None
    q: str | None = None
    sort: str = DEFAULT_SORT
    page: int = 1
    per_page: int = PER_PAGE

    def __post_init__(self) -> None:
        problems: dict[str, str] = {}
        if self.scope not in SCOPES:
            problems["scope"] = "available, mine or team"
        if self.priority and self.priority not in rule.PRIORITIES:
            problems["priority"] = ", ".join(rule.PRIORITIES)
        if self.sla and self.sla not in SLA_FILTERS:
            problems["sla"] = "overdue or due_soon"
        if self.sort.removeprefix("-") not in SORTS:
            problems["sort"] = ", ".join(SORTS) + " (a leading - reverses)"
        for key in ("kind", "role", "assignee", "q"):
            value = getattr(self, key)
            if value and len(value) > TEXT_MAX:
                problems[key] = f"at most {TEXT_MAX} characters"
        if problems:
            raise Invalid("Unknown inbox filter or sort.", fields=problems)
        object.__setattr__(self, "page", max(self.page, 1))
        object.__setattr__(self, "per_page", min(max(self.per_page, 1), 100))

    @classmethod
    def of(cls, *, overdue: bool = False, **values: Any) -> InboxQuery:
        """From request parameters: blanks are no filter; `overdue=true` is `sla=overdue`."""
        stripped = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items()}
        clean: dict[str, Any] = {k: v for k, v in stripped.items() if v not in (None, "")}
        if overdue and not clean.get("sla"):
            clean["sla"] = "overdue"
        return cls(**clean)

    @property
    def sort_key(self) -> str:
        return self.sort.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    def filtered(self) -> bool:
        return any((self.kind, self.priority, self.sla, self.role, self.assignee, self.q))

    def params(self, *, page: bool = False) -> dict[str, str]:
        """The non-default parts, in a stable order (what the URL and a saved view hold)."""
        out: dict[str, str] = {"scope": self.scope}
        for key in ("kind", "priority", "sla", "role", "assignee", "q"):
            value = getattr(self, key)
            if value:
                out[key] = str(value)
        if self.sort != DEFAULT_SORT:
            out["sort"] = self.sort
        if page and self.page > 1:
            out["page"] = str(self.page)
        return out

    def query_string(self, **changes: Any) -> str:
        """This query (with `changes`) as a URL query string; a new sort or filter starts
        again at page 1 unless a page is given."""
        target = replace(self, **changes) if changes else self
        if changes and "page" not in changes:
            target = replace(target, page=1)
        return urlencode(target.params(page=True))

    def view_string(self) -> str:
        """The query string a saved view keeps: filters and sort, no page."""
        return urlencode(self.params())

    def sorted_by(self, key: str) -> str:
        """The query string a column header links to: sort by `key`, or reverse it."""
        sort = f"-{key}" if self.sort == key else key
        return self.query_string(sort=sort)


async def inbox(
    db: Database,
    actor: Actor,
    query: InboxQuery | None = None,
    **values: Any,
) -> TaskPage:
    """My claimed tasks (`mine`), the open tasks of my roles I may take (`available`), or a
    lead's team's open and claimed tasks (`team`), filtered and sorted as asked."""
    query = query or InboxQuery.of(**values)
    now = utcnow()
    where: list[str] = []
    params: dict[str, Any] = {
        "me": actor.user_id,
        "limit": query.per_page,
        "offset": (query.page - 1) * query.per_page,
    }
    empty = TaskPage(items=[], total=0, page=query.page, per_page=query.per_page)
    if query.scope == "mine":
        where.append("t.assignee_id = :me AND t.status = 'claimed'")
    elif query.scope == "team":
        if not sees_team(actor):
            raise Forbidden("Only a team lead sees a team's tasks.", code="not_a_lead")
        where.append("t.status IN ('open', 'claimed') AND t.candidate_role = ANY(:roles)")
        params["roles"] = team_candidate_roles(actor)
    else:
        roles = work_roles(actor)
        if not roles:
            return empty
        where.append(
            "t.status = 'open' AND t.candidate_role = ANY(:roles) AND NOT (:me = ANY(t.excluded_actors))"
        )
        params["roles"] = roles
    # A snoozed case's tasks wait for its date (casework/snooze.py), out of every scope.
    where.append(NOT_SNOOZED_SQL)
    if query.kind:
        where.append("t.kind = :kind")
        params["kind"] = query.kind
    if query.priority:
        where.append("t.urgency = :urgency")
        params["urgency"] = rule.RANK[query.priority]
    if query.sla:
        where.append(f"({rule.SQL_SLA[query.sla]})")
        params["now"] = now
    if query.role:
        where.append("t.candidate_role = :role")
        params["role"] = query.role
    if query.assignee:
        where.append("t.assignee_id = (SELECT s.id FROM staff_user s WHERE s.username = :assignee)")
        params["assignee"] = query.assignee
    if query.q:
        where.append("(c.reference ILIKE :q OR t.title ILIKE :q)")
        params["q"] = f"%{query.q}%"
    natural, reverse, needs_case = SORTS[query.sort_key]
    order = reverse if query.descending else natural
    clause = " AND ".join(where)
    # Only a text search or the case sort needs the case row; otherwise the queries stay on
    # task's indexes.
    joined = 'task t JOIN "case" c ON c.id = t.case_id'
    count_source = joined if query.q else "task t"
    page_source = joined if query.q or needs_case else "task t"
    page_sql = (
        f"SELECT t.id FROM {page_source} WHERE {clause} "  # noqa: S608 (fixed fragments, bound values)
        f"ORDER BY {order} LIMIT :limit OFFSET :offset"
    )
    if query.scope == "available" and query.sort == DEFAULT_SORT and not query.q:
        # Most urgent first over several roles: the first rows of each role in that order
        # (ix_task_open_role_urgent), merged; not a sort of every open task of the roles.
        page_sql = (
            f"SELECT u.id FROM unnest(CAST(:roles AS text[])) AS r(role) CROSS JOIN LATERAL ("  # noqa: S608
            f"SELECT t.id, t.urgency, t.due_at FROM task t WHERE t.candidate_role = r.role "
            f"AND {clause} ORDER BY {natural} LIMIT :limit + :offset) AS u "
            "ORDER BY u.urgency DESC, u.due_at, u.id LIMIT :limit OFFSET :offset"
        )
    async with db.session() as session:
        total = (
            await run_sql(
                session,
                f"SELECT count(*) FROM {count_source} WHERE {clause}",  # noqa: S608 (fixed fragments, bound values)
                params,
            )
        ).scalar_one()
        ids = [row[0] for row in (await run_sql(session, page_sql, params)).all()]
        items = await tasks_by_ids(session, ids, now)
    return TaskPage(items=items, total=int(total), page=query.page, per_page=query.per_page)


async def count_mine(db: Database, actor: Actor) -> int:
    """How many tasks the actor holds (the inbox's "My tasks" badge)."""
    async with db.session() as session:
        return int(
            (
                await run_sql(
                    session,
                    "SELECT count(*) FROM task WHERE assignee_id = :me AND status = 'claimed'",
                    {"me": actor.user_id},
                )
            ).scalar_one()
        )


async def tasks_by_ids(
    session: AsyncSession, ids: list[uuid.UUID], now: datetime
) -> list[TaskPublic]:
    if not ids:
        return []
    rows = (
        await session.exec(
            select(Task, Case, StaffUser.username)
            .join(Case, col(Case.id) == Task.case_id)
            .outerjoin(StaffUser, col(StaffUser.id) == Task.assignee_id)
            .where(col(Task.id).in_(ids))
        )
    ).all()
    by_id = {t.id: task_public(t, c, name, now) for t, c, name in rows}
    return [by_id[i] for i in ids if i in by_id]


def visible_to(actor: Actor, task: Task, case: Case) -> bool:
    return (
        can_see_case(actor, case.case_type)
        or holds_candidate_role(task.candidate_role, actor.roles)
        or task.assignee_id == actor.user_id
    )


async def load_task(session: AsyncSession, task_id: uuid.UUID) -> tuple[Task, Case] | None:
    row = (
        await session.exec(
            select(Task, Case).join(Case, col(Case.id) == Task.case_id).where(Task.id == task_id)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def get_task(db: Database, actor: Actor, task_id: uuid.UUID) -> TaskPublic | None:
    async with db.session() as session:
        loaded = await load_task(session, task_id)
        if loaded is None or not visible_to(actor, *loaded):
            return None
        task, case = loaded
        name = None
        if task.assignee_id:
            user = await session.get(StaffUser, task.assignee_id)
            name = user.username if user else None
        return task_public(task, case, name, utcnow())
