"""A list older than its maximum age raises one case for compliance per list version: the
daily ListAgeWorkflow (schedule watch-list-age) on a database of its own, with real lists."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from core.db import Database
from core.schedules import LIST_AGE_SCHEDULE_ID, list_age_schedule
from core.settings import Settings
from models.audit import AuditEvent
from models.cases import Case, Task
from models.list_age_io import ListAgeInput, ListAgeSummary
from screening.commands.importer import LIST_DIR, import_list
from screening.lists import stale_lists
from tests.conftest import create_database
from tests.helpers import eventually
from worker import build_worker
from workflows.list_age import ListAgeWorkflow


@pytest.fixture
async def own_db(pg_socket: Path) -> AsyncIterator[Database]:
    urls = create_database(pg_socket, f"bo_list_age_{uuid.uuid4().hex[:6]}")
    database = Database(urls.app, pool_size=2, application_name="tests-list-age")
    yield database
    await database.dispose()


def test_a_list_is_stale_only_past_its_maximum_age() -> None:
    current = {"UN-SC": date(2026, 2, 27), "PEP-OS": date(2025, 12, 8)}
    policies = [("UN-SC", 7), ("PEP-OS", 30), ("EU-FSF", 7)]  # EU-FSF: no version yet
    assert stale_lists(policies, current, date(2026, 3, 6)) == stale_lists(
        [("PEP-OS", 30)], current, date(2026, 3, 6)
    )
    on_the_day = stale_lists(policies, current, date(2026, 3, 7))  # 8 days: one too many
    assert [(s.label, s.age_days) for s in on_the_day] == [
        ("UN-SC 2026-02-27", 8),
        ("PEP-OS 2025-12-08", 89),
    ]
    assert "is 8 days old; its maximum age is 7 days" in on_the_day[0].text


def test_the_schedule_runs_the_check_daily(settings: Settings) -> None:
    schedule = list_age_schedule(settings)
    assert schedule.action.workflow == "ListAgeWorkflow"  # type: ignore[attr-defined]
    assert schedule.spec.intervals[0].every.days == 1
    assert LIST_AGE_SCHEDULE_ID == "watch-list-age"


async def _run(env: WorkflowEnvironment, queue: str, today: date) -> ListAgeSummary:
    return await env.client.execute_workflow(
        ListAgeWorkflow.run,
        ListAgeInput(today=today),
        id=f"list-age-{uuid.uuid4()}",
        task_queue=queue,
    )


async def test_a_stale_list_opens_one_case_per_version_for_compliance(
    temporal_env: WorkflowEnvironment, own_db: Database
) -> None:
    db = own_db
    await import_list(db, "UN-SC", LIST_DIR / "un_consolidated_2026-02-27.xml.gz")
    await import_list(
        db, "PEP-OS", LIST_DIR / "opensanctions" / "us_congress_peps_senzing.jsonl.gz"
    )
    queue = f"list-age-{uuid.uuid4().hex[:6]}"
    async with build_worker(temporal_env.client, db, queue):
        first = await _run(temporal_env, queue, date(2026, 3, 5))
        assert first.checked == ["UN-SC 2026-02-27", "PEP-OS 2025-12-08"]
        assert first.stale == ["PEP-OS 2025-12-08"]  # UN is 6 days old of 7
        assert len(first.opened) == 1 and first.opened[0].startswith("SWL-")

        again = await _run(temporal_env, queue, date(2026, 3, 6))
        assert again.stale == ["PEP-OS 2025-12-08"] and again.opened == []  # raised once

        later = await _run(temporal_env, queue, date(2026, 3, 10))
        assert later.stale == ["UN-SC 2026-02-27", "PEP-OS 2025-12-08"]
        assert len(later.opened) == 1  # the UN version's case; the PEP one exists

        async def work_tasks() -> list[Task]:
            async with db.session() as session:
                found = (
                    await session.exec(select(Task).where(Task.kind == "stale_watch_list_work"))
                ).all()
            return list(found) if len(found) == 2 else []

        tasks = await eventually(work_tasks, what="a work task for each stale version")
    assert {t.candidate_role for t in tasks} == {"kyc_senior"}
    async with db.session() as session:
        cases = (await session.exec(select(Case).where(Case.case_type == "stale_watch_list"))).all()
        opened = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "case.opened"))
        ).all()
    assert sorted(c.workflow_id for c in cases) == [
        "stale-list-PEP-OS-2025-12-08",
        "stale-list-UN-SC-2026-02-27",
    ]
    assert all(c.subject_type == "watch_list" and c.priority == "high" for c in cases)
    assert any("(PEP-OS 2025-12-08) is 87 days old" in c.title for c in cases)
    assert sorted(e.details["list_version"] for e in opened) == [
        "PEP-OS 2025-12-08",
        "UN-SC 2026-02-27",
    ]
