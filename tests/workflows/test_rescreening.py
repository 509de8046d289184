"""Re-screening against a new list version: a new hit opens a screening case for a kyc_analyst.

Runs in a database of its own: importing a newer list makes it the current one, which must
not change what the rest of the suite screens against.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.screening import ScreeningActivities
from app import create_app
from casework import tasks
from core.db import Database
from core.settings import Settings
from customers.legacy_import import import_customers_csv
from models.audit import AuditEvent
from models.cases import Case
from models.onboarding import Customer, ScreeningResult
from models.onboarding_io import RescreenBatchInput, RescreenInput, RescreenSummary
from onboarding.commands import intake
from screening.commands.importer import DEFAULT_LIST_FILE, import_ofac_file
from shared.errors import Invalid
from shared.iban import iban_for
from tests.aml_cases import customer_with_account
from tests.conftest import create_database
from tests.helpers import eventually, new_plan, new_staff, task_of, web_login
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
        # A dismissing reason does not confirm a match (casework.narratives), nor the reverse.
        for outcome, reason in (
            ("confirm_match", "common_name"),
            ("false_positive", "same_person"),
        ):
            with pytest.raises(Invalid) as refused:
                await tasks.decide_task(
                    db, client, analyst.actor, task.id, outcome=outcome, reason=reason, comment=None
                )
            assert list(refused.value.fields) == ["reason"]
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


# A later list naming two customers migrated from a legacy book: a person (listed with a
# date of birth and a nationality the legacy book does not know) and a business.
MIGRATED_LISTED = (
    '990011,"KALINOWSKI, Borys","individual","RUSSIA-EO14024",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,'
    '-0- ,"DOB 03 Mar 1971; nationality Russia."\n'
    '990012,"NORDWIND MARITIME LOGISTICS LLC","-0-","IRAN",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,'
    '-0- ,"Linked To: SOMEONE ELSE."\n'
)
MIGRATED_BOOK = [
    ["M-1", "individual", "Borys Kalinowski", "retail", "DE"],
    ["M-2", "business", "Nordwind Maritime Logistics LLC", "business", "NL"],
    ["M-3", "individual", "Quirin Wendelstein", "retail", "DE"],  # on no list
]


async def _rescreen(
    client: Client, queue: str, run_id: str | None = None, inp: RescreenInput | None = None
) -> RescreenSummary:
    return await client.execute_workflow(
        RescreenWorkflow.run,
        inp or RescreenInput(),
        id=run_id or f"rescreen-{uuid.uuid4()}",
        task_queue=queue,
    )


async def test_migrated_customers_are_screened_by_name_and_a_new_hit_opens_a_case(
    skipping_env: WorkflowEnvironment, own_db: Database, settings: Settings, tmp_path: Path
) -> None:
    db = own_db
    await import_ofac_file(db, DEFAULT_LIST_FILE)
    await new_plan(db, segment="retail", is_default=True)
    await new_plan(db, segment="business", is_default=True)
    book = tmp_path / "customers.csv"
    with book.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["legacy_ref", "kind", "name", "segment", "country", "email", "risk_level",
                      "iban", "currency", "opened_at"])  # fmt: skip
        for n, row in enumerate(MIGRATED_BOOK, start=1):
            iban = iban_for(n, bank_code="50010517")
            out.writerow([*row, "", "low", iban, "EUR", f"2015-01-0{n}"])
    imported = await import_customers_csv(db, book, report_path=tmp_path / "rejected.csv")
    assert imported.customers_created == 3
    async with db.session() as session:
        found = (
            await session.exec(select(Customer).where(col(Customer.legacy_ref).startswith("M-")))
        ).all()
    customers = {c.legacy_ref: c for c in found}
    assert all(c.application_id is None for c in found)

    queue = f"rescreen-{uuid.uuid4().hex[:6]}"
    client = skipping_env.client
    async with build_worker(client, db, queue):
        first = await _rescreen(client, queue)
        assert (first.screened_customers, first.alerts_opened) == (3, 0)

        newer = tmp_path / "ofac_sdn_2024-07-01.csv"
        newer.write_text(MIGRATED_LISTED, encoding="utf-8")
        report = await import_ofac_file(db, newer)
        assert report.created
        second_id = f"rescreen-{uuid.uuid4()}"
        # One customer per batch and one batch per Temporal run: the run continues as new
        # with its cursor and totals, and the summary still counts the whole run.
        second = await _rescreen(
            client, queue, second_id, RescreenInput(batch_size=1, batches_per_run=1)
        )
        assert (second.screened_customers, second.alerts_opened) == (3, 2)
        assert second.list_version == report.list_version
        first_run = await client.get_workflow_handle(second_id).describe()
        assert first_run.run_id != first_run.raw_description.workflow_execution_info.first_run_id

        async with db.session() as session:
            cases = {
                c.customer_id: c
                for c in (
                    await session.exec(select(Case).where(Case.case_type == "screening_alert"))
                ).all()
            }
            results = (
                await session.exec(
                    select(ScreeningResult).where(
                        col(ScreeningResult.customer_id).in_([c.id for c in found])
                    )
                )
            ).all()
            screened = {c.legacy_ref: await session.get(Customer, c.id) for c in found}
        assert set(cases) == {customers["M-1"].id, customers["M-2"].id}  # the clean one: none
        # One result per customer and run, naming the customer alone (no party, no application).
        assert len(results) == 6
        assert all(r.party_id is None and r.application_id is None for r in results)
        latest = [r for r in results if r.list_version == report.list_version]
        hits = {r.customer_id: [h["list_entry_id"] for h in r.hits] for r in latest}
        assert hits[customers["M-1"].id] == [990011]
        assert hits[customers["M-2"].id] == [990012]
        assert hits[customers["M-3"].id] == []
        for customer in screened.values():
            assert customer is not None and customer.last_list_version == report.list_version
            assert customer.last_screened_at is not None
        # One audit event per page, naming every customer screened with its hits.
        async with db.session() as session:
            events = (
                await session.exec(
                    select(AuditEvent).where(
                        AuditEvent.action == "screening.customers_screened",
                        AuditEvent.workflow_id == second_id,
                    )
                )
            ).all()
        audited = {s["customer_id"]: s["entries"] for e in events for s in e.details["screened"]}
        assert audited == {
            str(customers["M-1"].id): [990011],
            str(customers["M-2"].id): [990012],
            str(customers["M-3"].id): [],
        }
        person_case = cases[customers["M-1"].id]
        task = await task_of(db, person_case.workflow_id, "alert-review")
        assert task.candidate_role == "kyc_analyst"

        # The second run's batch again, as when a worker dies after the batch committed and
        # before it reported: its own results do not count as seen, so the alerts come out
        # again (the same cases, for the same alert workflows), and nothing is stored twice.
        retried = await ActivityEnvironment().run(
            ScreeningActivities(db).rescreen_batch,
            RescreenBatchInput(workflow_id=second_id, batch_size=100),
        )
        assert {a.case_id for a in retried.alerts} == {c.id for c in cases.values()}
        async with db.session() as session:
            stored = (
                await session.exec(
                    select(func.count())
                    .select_from(ScreeningResult)
                    .where(col(ScreeningResult.idempotency_key).startswith(f"{second_id}/"))
                )
            ).one()
        assert stored == 3
        # The same run again in one batch: both alerts come out of the page together, and
        # their workflows, already started, are not started or counted twice.
        again = await _rescreen(client, queue, second_id)
        assert (again.screened_customers, again.alerts_opened) == (3, 0)

        # Once seen, the same entries do not open second cases.
        third = await _rescreen(client, queue)
        assert (third.screened_customers, third.alerts_opened) == (3, 0)

        # The case page shows the hit beside the listed entry under the customer's name; the
        # customer 360 shows the results like an onboarded customer's.
        analyst = await new_staff(db, "kyc_analyst")
        local = settings.model_copy(update={"task_queue": queue})
        app = create_app(local, db=db, temporal=client)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
                await web_login(web, analyst.username)
                case_page = (await web.get(f"/cases/{person_case.id}")).text
                customer_page = (await web.get(f"/customers/{customers['M-1'].id}")).text
    assert "Re-screening hit" in case_page and "#990011" in case_page
    assert "<h4>Borys Kalinowski</h4>" in case_page
    assert "KALINOWSKI, Borys" in case_page  # the listed entry beside the hit
    assert "screened by name alone" in case_page
    assert "Not screened" not in customer_page
    assert "<strong>Borys Kalinowski</strong> — 1 hit against " + report.list_version in (
        customer_page
    )
    assert "History (3 screenings)" in customer_page
    assert person_case.reference in customer_page


async def test_a_screening_result_names_a_party_or_a_customer(db: Database) -> None:
    """The table refuses a result about nobody, or a party without its application."""
    customer, _ = await customer_with_account(db)
    for about in ({}, {"customer_id": customer.id, "application_id": uuid.uuid4()}):
        with pytest.raises(IntegrityError, match="ck_screening_result_subject"):
            async with db.transaction() as session:
                session.add(
                    ScreeningResult(
                        idempotency_key=f"test-{uuid.uuid4()}",
                        context="rescreen",
                        list_version="OFAC-SDN 2024-01-01",
                        **about,
                    )
                )
