"""Delta re-screening after a list import, hits that lapse, and whitelisting under four-eyes.

Each test runs in a database of its own with small lists of its own (OFAC SDN CSV layout):
a newer version made current must not change what the rest of the suite screens against.
"""

from __future__ import annotations

import csv
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from app import create_app
from casework import tasks
from core.db import Database, run_sql
from core.schedules import delta_rescreen_id, start_delta_rescreen
from core.settings import Settings
from customers.legacy_import import import_customers_csv
from models.audit import AuditEvent
from models.cases import Case
from models.onboarding import Customer
from models.onboarding_io import RescreenInput, RescreenSummary
from models.screening_io import DeltaRescreenSummary
from models.workflow_io import DecisionInput
from screening.commands import suppressions
from screening.commands.importer import import_ofac_file
from shared.errors import Forbidden
from shared.iban import iban_for
from tests.conftest import create_database
from tests.helpers import api_headers, new_plan, new_staff, task_of, web_login
from tests.workflows.test_replay import HISTORIES, replayer
from worker import build_worker
from workflows.rescreening import DeltaRescreenWorkflow, RescreenWorkflow, ScreeningAlertWorkflow

KALINOWSKI = (
    '990011,"KALINOWSKI, Borys","individual","RUSSIA-EO14024",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,'
    '-0- ,"DOB 03 Mar 1971; nationality Russia."\n'
)
SCHMIDT = (
    '990001,"SCHMIDT, Anna","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,'
    "\"DOB 12 Apr 1988; nationality Germany; a.k.a. 'SCHMIDT, Anja'.\"\n"
)
SCHMIDT_CHANGED = SCHMIDT.replace('"SDGT"', '"SDGT] [IRGC"')
VESSEL = (
    '990020,"ZEPHYRUS ORBITAL","vessel","IRAN",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,'
    '"Vessel Registration Identification IMO 9999999."\n'
)
BOOK = [
    ["D-1", "individual", "Borys Kalinowski", "retail", "DE"],
    ["D-2", "individual", "Anna Schmidt", "retail", "DE"],
    ["D-3", "individual", "Quirin Wendelstein", "retail", "DE"],
    ["D-4", "individual", "Hedwig Obermaier", "retail", "AT"],
    ["D-5", "business", "Lindenhof Baeckerei GmbH", "business", "DE"],
]


@pytest.fixture
async def own_db(pg_socket: Path) -> AsyncIterator[Database]:
    urls = create_database(pg_socket, f"bo_delta_{uuid.uuid4().hex[:6]}")
    database = Database(urls.app, pool_size=4, application_name="tests-delta-rescreen")
    yield database
    await database.dispose()


async def _book(db: Database, tmp_path: Path) -> dict[str, Customer]:
    await new_plan(db, segment="retail", is_default=True)
    await new_plan(db, segment="business", is_default=True)
    book = tmp_path / "customers.csv"
    with book.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["legacy_ref", "kind", "name", "segment", "country", "email", "risk_level",
                      "iban", "currency", "opened_at"])  # fmt: skip
        for n, row in enumerate(BOOK, start=1):
            out.writerow([*row, "", "low", iban_for(n, bank_code="50010517"), "EUR", "2015-01-01"])
    await import_customers_csv(db, book, report_path=tmp_path / "rejected.csv")
    async with db.session() as session:
        found = (
            await session.exec(select(Customer).where(col(Customer.legacy_ref).startswith("D-")))
        ).all()
    return {c.legacy_ref or "": c for c in found}


async def _list(db: Database, tmp_path: Path, day: str, *rows: str) -> tuple[int, str]:
    path = tmp_path / f"ofac_sdn_{day}.csv"
    path.write_text("".join(rows), encoding="utf-8")
    report = await import_ofac_file(db, path)
    async with db.session() as session:
        version_id = (
            await run_sql(
                session,
                "SELECT id FROM watchlist_version WHERE list_name = 'OFAC-SDN' AND list_date = :d",
                {"d": report.list_date},
            )
        ).scalar_one()
    return version_id, report.list_version


async def _full(client: Client, queue: str) -> RescreenSummary:
    return await client.execute_workflow(
        RescreenWorkflow.run, RescreenInput(), id=f"rescreen-{uuid.uuid4()}", task_queue=queue
    )


async def _delta(
    client: Client, settings: Settings, version_id: int, label: str
) -> DeltaRescreenSummary:
    workflow_id = await start_delta_rescreen(client, settings, version_id, label)
    assert workflow_id == delta_rescreen_id(label)
    return await client.get_workflow_handle_for(DeltaRescreenWorkflow.run, workflow_id).result()


async def _replays_and_keep(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """The run replays on the current code; RECORD_HISTORIES=1 keeps a copy
    (tests/workflows/histories/sealed-<name>__<workflow id>.json, replayed by test_replay)."""
    history = await handle.fetch_history()
    await replayer().replay_workflow(history)
    if os.environ.get("RECORD_HISTORIES") in ("1", name):
        for old in HISTORIES.glob(f"sealed-{name}__*.json"):
            old.unlink()
        (HISTORIES / f"sealed-{name}__{handle.id}.json").write_text(history.to_json())


async def _matches(db: Database, customer: Customer) -> dict[str, tuple[str, str]]:
    async with db.session() as session:
        rows = (
            await run_sql(
                session,
                "SELECT entry_key, status, entry_hash FROM screening_match WHERE customer_id = :c",
                {"c": customer.id},
            )
        ).all()
    return {r.entry_key: (r.status, r.entry_hash) for r in rows}


async def _events(db: Database, action: str) -> list[AuditEvent]:
    async with db.session() as session:
        return list(
            (await session.exec(select(AuditEvent).where(AuditEvent.action == action))).all()
        )


async def _case_of(db: Database, customer: Customer) -> Case:
    async with db.session() as session:
        return (
            await session.exec(
                select(Case)
                .where(Case.case_type == "screening_alert", Case.customer_id == customer.id)
                .order_by(col(Case.opened_at).desc())
            )
        ).first()  # type: ignore[return-value]


async def test_new_version_rescreens_only_touched_customers_opens_the_new_hit_and_lapses_the_old(
    skipping_env: WorkflowEnvironment, own_db: Database, settings: Settings, tmp_path: Path
) -> None:
    db = own_db
    customers = await _book(db, tmp_path)
    await _list(db, tmp_path, "2024-05-01", KALINOWSKI, VESSEL)
    queue = f"delta-{uuid.uuid4().hex[:6]}"
    local = settings.model_copy(update={"task_queue": queue})
    client = skipping_env.client
    async with build_worker(client, db, queue):
        first = await _full(client, queue)
        assert (first.screened_customers, first.alerts_opened) == (5, 1)
        before = await _matches(db, customers["D-1"])
        assert list(before) == ["OFAC-SDN:990011"] and before["OFAC-SDN:990011"][0] == "open"
        old_case = await _case_of(db, customers["D-1"])

        # The next version: Schmidt added, Kalinowski removed, the vessel unchanged.
        version_id, label = await _list(db, tmp_path, "2024-06-01", SCHMIDT, VESSEL)
        summary = await _delta(client, local, version_id, label)

        # The old alert, its hit lapsed, is dismissed: nothing left to whitelist, it closes.
        analyst = await new_staff(db, "kyc_analyst")
        review = await task_of(db, old_case.workflow_id or "", "alert-review")
        await tasks.claim_task(db, analyst.actor, review.id)
        await tasks.decide_task(
            db,
            client,
            analyst.actor,
            review.id,
            outcome="false_positive",
            reason="other",
            comment="The entry left the list before this review.",
        )
        old_handle = client.get_workflow_handle_for(
            ScreeningAlertWorkflow.run, old_case.workflow_id or ""
        )
        assert await old_handle.result() == "false_positive"

    assert (summary.added, summary.changed, summary.removed) == (1, 0, 1)
    assert summary.previous_version == "OFAC-SDN 2024-05-01"
    # Only Anna Schmidt's name reaches the added entry: 1 of the 5 customers re-screened.
    assert (summary.customers, summary.screened_customers) == (5, 1)
    assert summary.alerts_opened == 1 and summary.hits_lapsed == 1
    assert "re-screened 1 of 5 customers" in summary.text
    new_case = await _case_of(db, customers["D-2"])
    assert new_case is not None and new_case.status == "open"
    assert (await _matches(db, customers["D-2"]))["OFAC-SDN:990001"][0] == "open"
    # The old hit lapsed, audited; its alert stays open for the analyst, the hit marked lapsed.
    assert (await _matches(db, customers["D-1"]))["OFAC-SDN:990011"][0] == "lapsed"
    lapsed = await _events(db, "screening.hit_lapsed")
    assert [(e.object_id, e.details["entry_key"]) for e in lapsed] == [
        (str(customers["D-1"].id), "OFAC-SDN:990011")
    ]
    assert lapsed[0].details["case_id"] == str(old_case.id)
    # Only Schmidt was screened by the delta run (stored and audited).
    async with db.session() as session:
        screened = (
            await run_sql(
                session,
                "SELECT customer_id FROM screening_result WHERE idempotency_key LIKE :k",
                {"k": f"{delta_rescreen_id(label)}/%"},
            )
        ).all()
    assert [r.customer_id for r in screened] == [customers["D-2"].id]


async def test_whitelisted_by_two_analysts_stays_quiet_until_the_entry_changes(
    skipping_env: WorkflowEnvironment, own_db: Database, settings: Settings, tmp_path: Path
) -> None:
    db = own_db
    customers = await _book(db, tmp_path)
    await _list(db, tmp_path, "2024-05-01", SCHMIDT, VESSEL)
    queue = f"delta-{uuid.uuid4().hex[:6]}"
    local = settings.model_copy(update={"task_queue": queue})
    client = skipping_env.client
    schmidt = customers["D-2"]
    first_analyst = await new_staff(db, "kyc_analyst")
    second_analyst = await new_staff(db, "kyc_analyst")
    async with build_worker(client, db, queue):
        first = await _full(client, queue)
        assert first.alerts_opened == 1
        case = await _case_of(db, schmidt)
        review = await task_of(db, case.workflow_id or "", "alert-review")
        await tasks.claim_task(db, first_analyst.actor, review.id)
        result = await tasks.decide_task(
            db,
            client,
            first_analyst.actor,
            review.id,
            outcome="false_positive",
            reason="different_dob",
            comment="Our Anna Schmidt was born in 1994, not 1988.",
        )
        assert result.case_status == "open"  # waits for a second analyst
        approval = await task_of(db, case.workflow_id or "", "whitelist-review#1")
        assert approval.candidate_role == "kyc_analyst|kyc_senior"
        proposed = await _events(db, "screening.suppression_proposed")
        assert [e.details["entry_key"] for e in proposed] == ["OFAC-SDN:990001"]

        # The proposer cannot approve, at any door: API, web form, Temporal update, SQL.
        app = create_app(local, db=db, temporal=client)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
                headers = await api_headers(api, first_analyst.username)
                claim = await api.post(f"/api/v1/tasks/{approval.id}/claim", headers=headers)
                assert claim.status_code == 403, claim.text
                decide = await api.post(
                    f"/api/v1/tasks/{approval.id}/decision",
                    json={"outcome": "approve_whitelist"},
                    headers=headers,
                )
                assert decide.status_code == 403, decide.text
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
                csrf = await web_login(web, first_analyst.username)
                page = (await web.get(f"/cases/{case.id}")).text
                assert "awaits a second analyst" in page and "OFAC-SDN:990001" in page
                form = await web.post(
                    f"/tasks/{approval.id}/decision",
                    data={"csrf_token": csrf, "outcome": "approve_whitelist"},
                )
                assert form.status_code == 403
        handle = client.get_workflow_handle_for(ScreeningAlertWorkflow.run, case.workflow_id or "")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                ScreeningAlertWorkflow.decide,
                DecisionInput(
                    task_id=approval.id,
                    actor_id=first_analyst.actor.user_id,
                    actor_name=first_analyst.username,
                    actor_roles=["kyc_analyst"],
                    outcome="approve_whitelist",
                ),
            )
        # Segregation of duties in the validator: the dismisser decided the other step.
        assert "decided_other_step" in str(refused.value.cause)
        async with db.session() as session:
            with pytest.raises(IntegrityError, match="ck_screening_suppression_four_eyes"):
                await run_sql(
                    session,
                    "UPDATE screening_suppression SET status = 'active', "
                    "decided_by = proposed_by, decided_at = now() WHERE customer_id = :c",
                    {"c": schmidt.id},
                )
        async with db.transaction() as session:
            with pytest.raises(Forbidden):
                await suppressions.decide(
                    session, case.id, first_analyst.actor.user_id, approve=True
                )

        # A second analyst approves: the alert closes, the pair is whitelisted.
        await tasks.claim_task(db, second_analyst.actor, approval.id)
        await tasks.decide_task(
            db,
            client,
            second_analyst.actor,
            approval.id,
            outcome="approve_whitelist",
            reason=None,
            comment=None,
        )
        assert await handle.result() == "false_positive"
        await _replays_and_keep(handle, "screening-whitelist-approved")
        assert (await _matches(db, schmidt))["OFAC-SDN:990001"][0] == "suppressed"
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
                await web_login(web, second_analyst.username)
                page = (await web.get(f"/cases/{case.id}")).text
        assert "whitelisted: proposed by" in page

        # The next run is quiet.
        quiet = await _full(client, queue)
        assert quiet.alerts_opened == 0

        # The entry changes in a new version: the whitelisting lapses, the hit alerts again.
        version_id, label = await _list(db, tmp_path, "2024-06-01", SCHMIDT_CHANGED, VESSEL)
        summary = await _delta(client, local, version_id, label)
        await _replays_and_keep(
            client.get_workflow_handle(delta_rescreen_id(label)), "delta-rescreen-changed"
        )
    assert (summary.added, summary.changed, summary.removed) == (0, 1, 0)
    assert (summary.screened_customers, summary.alerts_opened) == (1, 1)
    status, _ = (await _matches(db, schmidt))["OFAC-SDN:990001"]
    assert status == "open"
    lapsed = await _events(db, "screening.suppression_lapsed")
    assert [(e.details["entry_key"], e.details["reason"]) for e in lapsed] == [
        ("OFAC-SDN:990001", "entry_changed")
    ]
    # Lapsed by the delta re-screen itself, as the new version's diff named the change.
    assert lapsed[0].workflow_id == delta_rescreen_id(label)
    again = await _case_of(db, schmidt)
    assert again.id != case.id and again.status == "open"


async def test_a_rejected_whitelisting_sends_the_hit_back_for_review(
    skipping_env: WorkflowEnvironment, own_db: Database, tmp_path: Path
) -> None:
    db = own_db
    customers = await _book(db, tmp_path)
    await _list(db, tmp_path, "2024-05-01", SCHMIDT)
    queue = f"delta-{uuid.uuid4().hex[:6]}"
    client = skipping_env.client
    schmidt = customers["D-2"]
    first_analyst = await new_staff(db, "kyc_analyst")
    second_analyst = await new_staff(db, "kyc_analyst")
    async with build_worker(client, db, queue):
        assert (await _full(client, queue)).alerts_opened == 1
        case = await _case_of(db, schmidt)
        wid = case.workflow_id or ""

        async def decide(who: object, key: str, outcome: str, reason: str | None) -> None:
            task = await task_of(db, wid, key)
            await tasks.claim_task(db, who.actor, task.id)  # type: ignore[attr-defined]
            await tasks.decide_task(
                db,
                client,
                who.actor,  # type: ignore[attr-defined]
                task.id,
                outcome=outcome,
                reason=reason,
                comment="Name only; documents on file show a different person." if reason else None,
            )

        await decide(first_analyst, "alert-review", "false_positive", "common_name")
        await decide(second_analyst, "whitelist-review#1", "reject_whitelist", None)
        # Back to an analyst; whoever rejected the whitelisting decided the other step.
        again = await task_of(db, wid, "alert-review#2")
        with pytest.raises(Forbidden):
            await tasks.claim_task(db, second_analyst.actor, again.id)
        await decide(first_analyst, "alert-review#2", "confirm_match", "same_person")
        handle = client.get_workflow_handle_for(ScreeningAlertWorkflow.run, wid)
        assert await handle.result() == "confirmed_match"
    assert (await _matches(db, schmidt))["OFAC-SDN:990001"][0] == "confirmed"
    async with db.session() as session:
        rows = (
            await run_sql(
                session,
                "SELECT status, proposed_by, decided_by FROM screening_suppression "
                "WHERE customer_id = :c",
                {"c": schmidt.id},
            )
        ).all()
    assert [(r.status, r.proposed_by, r.decided_by) for r in rows] == [
        ("rejected", first_analyst.actor.user_id, second_analyst.actor.user_id)
    ]
