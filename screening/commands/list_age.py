"""Stale watch lists: which enabled lists are older than their maximum age, and one case for
compliance per stale list version (the generic case workflow: a KYC senior works it, the
MLRO reviews an escalation). Run daily by the `watch-list-age` schedule."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from casework.generic_case import WORK_STAGE
from casework.list_age_rules import STALE_WATCH_LIST, stale_case_workflow_id
from casework.starting import start_case
from casework.store import Event, open_case
from configuration.documents import load_typed
from core.db import Database, run_sql
from models.generic_case_io import GenericCaseInput
from screening.lists import LISTS, StaleList, stale_lists
from screening.policy import ScreeningConfig


@dataclass
class ListAgeReport:
    checked: list[str] = field(default_factory=list)  # current version labels checked
    stale: list[str] = field(default_factory=list)  # stale version labels
    opened: list[str] = field(default_factory=list)  # case references opened by this run

    @property
    def text(self) -> str:
        if not self.stale:
            return f"{len(self.checked)} lists checked; none is older than its maximum age"
        return (
            f"{len(self.checked)} lists checked; stale: {', '.join(self.stale)}; "
            f"{len(self.opened)} new case(s)"
        )


async def find_stale_lists(db: Database, today: date) -> tuple[list[str], list[StaleList]]:
    """The current version of every enabled list, and those older than their maximum age."""
    _, config = await load_typed(db, "screening", ScreeningConfig)
    policies = {p.name: p for p in config.lists}
    max_ages = [
        (
            name,
            policies[name].max_age_days if name in policies else LISTS[name].default_max_age_days,
        )
        for name in config.enabled_lists()
    ]
    async with db.session() as session:
        rows = (
            await run_sql(
                session,
                "SELECT list_name, max(list_date) AS list_date FROM watchlist_version "
                "GROUP BY list_name",
            )
        ).all()
    current = {r.list_name: r.list_date for r in rows}
    checked = [f"{n} {current[n].isoformat()}" for n, _ in max_ages if n in current]
    return checked, stale_lists(max_ages, current, today)


async def open_stale_list_cases(
    db: Database, temporal: Client, task_queue: str, today: date
) -> ListAgeReport:
    """One case per stale list version; a version that already has its case gets no other."""
    checked, stale = await find_stale_lists(db, today)
    report = ListAgeReport(checked=checked, stale=[s.label for s in stale])
    for found in stale:
        try:
            reference = await _open_case(db, temporal, task_queue, found)
        except WorkflowAlreadyStartedError:
            continue  # another run opened it between our look and our start (rolled back)
        if reference is not None:
            report.opened.append(reference)
    return report


async def _open_case(
    db: Database, temporal: Client, task_queue: str, found: StaleList
) -> str | None:
    """The stale version's case, opened and its workflow started; None if it has one."""
    workflow_id = stale_case_workflow_id(found.label)
    async with db.transaction() as session:
        exists = (
            await run_sql(
                session, 'SELECT 1 FROM "case" WHERE workflow_id = :w', {"w": workflow_id}
            )
        ).first()
        if exists is not None:
            return None
        case = await open_case(
            session,
            case_type=STALE_WATCH_LIST,
            title=found.text,
            stage=WORK_STAGE,
            subject_type="watch_list",
            subject_id=found.label,
            workflow_id=workflow_id,
            priority="high",
        )
        await start_case(
            session,
            temporal,
            case,
            GenericCaseInput(case_id=case.id, case_type=STALE_WATCH_LIST, reference=case.reference),
            task_queue=task_queue,
            event=Event(
                "case.opened",
                reason=found.text,
                details={
                    "reference": case.reference,
                    "case_type": STALE_WATCH_LIST,
                    "list": found.name,
                    "list_version": found.label,
                    "age_days": found.age_days,
                    "max_age_days": found.max_age_days,
                },
            ),
            summary=f"{case.reference} stale watch list {found.label}",
            what="the stale-list case",
        )
        return case.reference
