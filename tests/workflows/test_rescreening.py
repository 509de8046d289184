"""Re-screening against a new list version: a new hit opens a screening case for a kyc_analyst.

Runs in a database of its own: importing a newer list makes it the current one, which must
not change what the rest of the suite screens against.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from core.db import Database
from domain import tasks
from domain.onboarding import intake
from domain.screening.importer import DEFAULT_LIST_FILE, import_ofac_file
from models.cases import Case
from models.onboarding import Customer
from models.onboarding_io import RescreenInput, RescreenSummary
from tests.conftest import create_database
from tests.helpers import eventually, new_plan, new_staff, task_of
from tests.onboarding_data import clean_individual, parsed
from tests.workflows.conftest import Skipping
from worker import build_worker
from workflows.onboarding import OnboardingWorkflow
from workflows.rescreening import RescreenWorkflow

# A later list that names our (so far clean) customer, in the OFAC CSV layout.
NEW_ENTRY = (
    '990001,"SCHMIDT, Anna","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,'
    "\"DOB 12 Apr 1988; nationality Germany; a.k.a. 'SCHMIDT, Anja'.\"\n"
)


@pytest.fixture
async def own_db(pg_socket: Path) -> AsyncIterator[Database]:
    urls = create_database(pg_socket, f"bo_rescreen_{uuid.uuid4().hex[:6]}")
    database = Database(urls.app, pool_size=4, application_name="tests-rescreen")
    yield database
    await database.dispose()


async def test_new_list_version_hit_opens_a_screening_case(
    skipping_env: WorkflowEnvironment, skipping: Skipping, own_db: Database, tmp_path: Path
) -> None:
    db = own_db
    await import_ofac_file(db, DEFAULT_LIST_FILE)
    await new_plan(db, segment="retail", is_default=True)
    queue = f"rescreen-{uuid.uuid4().hex[:6]}"
    settings = skipping.settings.model_copy(update={"task_queue": queue})
    client = skipping_env.client
    async with build_worker(client, db, queue):
        service = await new_staff(db, "upstream_system", prefix="svc")
        accepted = await intake.submit_application(
            db, client, settings, service.actor, parsed(clean_individual())
        )
        state = await client.get_workflow_handle_for(
            OnboardingWorkflow.run, accepted.workflow_id
        ).result()
        assert state.status == "approved"

        # Same list again: nothing new, no case.
        first: RescreenSummary = await client.execute_workflow(
            RescreenWorkflow.run, RescreenInput(), id=f"rescreen-{uuid.uuid4()}", task_queue=queue
        )
        assert (first.screened_customers, first.alerts_opened) == (1, 0)

        newer = tmp_path / "ofac_sdn_2024-06-01.csv"
        newer.write_text(NEW_ENTRY, encoding="utf-8")
        report = await import_ofac_file(db, newer)
        assert report.created
        second: RescreenSummary = await client.execute_workflow(
            RescreenWorkflow.run, RescreenInput(), id=f"rescreen-{uuid.uuid4()}", task_queue=queue
        )
        assert second.list_version == report.list_version
        assert second.alerts_opened == 1

        async with db.session() as session:
            case = (
                await session.exec(select(Case).where(Case.case_type == "screening_alert"))
            ).one()
        assert case.status == "open" and case.customer_id is not None
        task = await task_of(db, case.workflow_id, "alert-review")
        assert task.candidate_role == "kyc_analyst"

        analyst = await new_staff(db, "kyc_analyst")
        await tasks.claim_task(db, analyst.actor, task.id)
        await tasks.decide_task(
            db,
            client,
            analyst.actor,
            task.id,
            outcome="confirm_match",
            reason="same_person",
            comment="DOB and nationality agree.",
        )

        async def restricted() -> Customer | None:
            async with db.session() as session:
                customer = await session.get(Customer, case.customer_id)
            return customer if customer and customer.status == "restricted" else None

        customer = await eventually(restricted, what="customer restricted")
        assert customer.kyc_status == "sanctions_match"

        # Once seen, the same entry does not open a second case.
        third: RescreenSummary = await client.execute_workflow(
            RescreenWorkflow.run, RescreenInput(), id=f"rescreen-{uuid.uuid4()}", task_queue=queue
        )
        assert third.alerts_opened == 0
