"""The one SLA and priority rule: what every queue, the inbox and the case page show and sort by.

Priority of a task = the highest of
  - the priority it was opened with or raised to (`task.priority`: a workflow's spec, an
    escalation, a missed SAR deadline),
  - what its escalation level implies (level 1: high, level 2 and above: urgent; the levels
    workflows.review raises a stale task to),
  - what its case's risk implies (a high-risk case's tasks are at least high: an AML case on
    a high-risk customer, a high-risk application, an elevated change, a screening hit).

The database keeps this as `task.urgency` (the rank in PRIORITIES), set by a trigger on
every write of a task's priority or level and of its case's risk (migration 0017), so a
queue sorts by it on the task table alone. The trigger's body is `URGENCY_SQL` below,
rendered from the same tables; tests/integration/test_inbox.py checks the two agree on
every combination.

SLA state of an open or claimed task: overdue once due; due soon within a quarter of its SLA
or four hours, whichever is more; otherwise ok. `closed` for a finished task.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.sql.selectable import ScalarSelect
from sqlmodel import col, select

from models.cases import OPEN_TASK_STATUSES, Task

PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
RANK: dict[str, int] = {p: i for i, p in enumerate(PRIORITIES)}
DEFAULT_PRIORITY = "normal"
# Escalation level -> the least priority it implies (the last entry for any higher level).
LEVEL_FLOOR: tuple[str, ...] = ("low", "high", "urgent")
# Case risk level -> the least priority it implies.
RISK_FLOOR: dict[str, str] = {"high": "high"}

DUE_SOON = timedelta(hours=4)
SLA_STATES = ("overdue", "due_soon", "ok")
OPEN_STATUSES = ("open", "claimed")


def open_urgency(case_id: Any, correlate: Any) -> ScalarSelect[Any]:
    """A queue's sort key: the urgency of the most urgent open or claimed task of the row's
    case (NULL when none is open), as a subquery correlated to `correlate`, whose `case_id`
    column (or Case.id) is passed as `case_id`."""
    return (
        select(func.max(Task.urgency))
        .where(col(Task.case_id) == case_id, col(Task.status).in_(OPEN_TASK_STATUSES))
        .correlate(correlate)
        .scalar_subquery()
    )


def rank(priority: str | None) -> int:
    """The rank of a priority name (unknown or missing: normal)."""
    return RANK.get(priority or DEFAULT_PRIORITY, RANK[DEFAULT_PRIORITY])


def urgency(priority: str | None, escalation_level: int, risk_level: str | None) -> int:
    """The rank of a task's priority under the rule (see the module docstring)."""
    level = LEVEL_FLOOR[min(max(escalation_level, 0), len(LEVEL_FLOOR) - 1)]
    risk = RISK_FLOOR.get(risk_level or "", PRIORITIES[0])
    return max(rank(priority), RANK[level], RANK[risk])


def task_priority(priority: str | None, escalation_level: int, risk_level: str | None) -> str:
    """A task's priority name under the rule."""
    return PRIORITIES[urgency(priority, escalation_level, risk_level)]


def name(urgency_rank: int) -> str:
    """The priority name of a stored `task.urgency`."""
    return PRIORITIES[min(max(urgency_rank, 0), len(PRIORITIES) - 1)]


def case_priority(
    case_priority: str | None, risk_level: str | None, open_task_ranks: Iterable[int]
) -> str:
    """A case's priority: its most urgent open task's; with none open, the case's own
    priority under the same rule."""
    ranks = list(open_task_ranks)
    if ranks:
        return name(max(ranks))
    return task_priority(case_priority, 0, risk_level)


def sla_state(status: str, created_at: datetime, due_at: datetime, now: datetime) -> str:
    """overdue | due_soon | ok for an open or claimed task; closed otherwise."""
    if status not in OPEN_STATUSES:
        return "closed"
    if due_at <= now:
        return "overdue"
    if due_at - now <= max(DUE_SOON, (due_at - created_at) / 4):
        return "due_soon"
    return "ok"


def _span(seconds: int) -> str:
    if seconds < 90 * 60:
        return f"{max(seconds // 60, 1)} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h"
    days, hours = seconds // 86400, seconds % 86400 // 3600
    return f"{days} d {hours} h" if hours else f"{days} d"


def countdown(due_at: datetime, now: datetime) -> str:
    """'due in 5 h' or 'overdue by 2 h'."""
    seconds = int((due_at - now).total_seconds())
    return f"overdue by {_span(-seconds)}" if seconds < 0 else f"due in {_span(seconds)}"


# SQL for the same SLA states, over a task aliased `t` and a bound `:now`.
SQL_OVERDUE = "t.due_at <= :now"
SQL_DUE_SOON = (
    "t.due_at > :now AND t.due_at - :now <= "
    f"greatest(interval '{int(DUE_SOON.total_seconds())} seconds', (t.due_at - t.created_at) / 4)"
)
SQL_SLA = {"overdue": SQL_OVERDUE, "due_soon": SQL_DUE_SOON}


def _case(expr: str, mapping: dict[str, int], default: int) -> str:
    whens = " ".join(f"WHEN '{k}' THEN {v}" for k, v in mapping.items())
    return f"CASE {expr} {whens} ELSE {default} END"


def urgency_sql(priority: str, level: str, risk: str) -> str:
    """The rule as one SQL expression over three column expressions."""
    level_cases = " ".join(
        f"WHEN {level} >= {i} THEN {RANK[p]}" for i, p in reversed(list(enumerate(LEVEL_FLOOR)))
    )
    return (
        "GREATEST("
        f"{_case(priority, RANK, RANK[DEFAULT_PRIORITY])}, "
        f"CASE {level_cases} ELSE 0 END, "
        f"{_case(risk, {k: RANK[v] for k, v in RISK_FLOOR.items()}, 0)})"
    )


URGENCY_SQL = urgency_sql("p_priority", "p_level", "p_risk")
