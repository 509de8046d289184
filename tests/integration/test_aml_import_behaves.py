"""The `--alert` import behaves: its judging phase reports progress, each slice's case
workflows start on committed cases, and new-alert notices go only to the person holding a
claim on the case's task, once per case per import."""

from __future__ import annotations

import csv
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import col, func, select
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.aml import AmlActivities
from aml.commands import legacy_transactions
from aml.commands.importing import no_progress
from casework.tasks import claim_task
from core.db import Database
from core.settings import Settings
from models.aml import AmlAlert, AmlCase, Transaction
from models.aml_io import AlertsNoticeInput
from models.cases import Notification, Task
from tests.aml_cases import alerted_customer
from tests.aml_data import new_customer
from tests.helpers import eventually, new_staff
from workflows.aml_case import AmlCaseWorkflow

HEADER = [
    "external_id", "account_iban", "booked_at", "amount", "currency", "direction", "channel",
    "counterparty_name", "counterparty_account", "counterparty_country", "description",
]  # fmt: skip


async def _notices(db: Database, case_id: uuid.UUID) -> list[Notification]:
    async with db.session() as session:
        return list(
            (await session.exec(select(Notification).where(Notification.case_id == case_id))).all()
        )


async def _open_task(db: Database, case_id: uuid.UUID) -> Task:
    async def probe() -> Task | None:
        async with db.session() as session:
            return (
                await session.exec(
                    select(Task).where(
                        Task.case_id == case_id, col(Task.status).in_(("open", "claimed"))
                    )
                )
            ).first()

    task: Task | None = await eventually(probe, what=f"the open task of case {case_id}")
    assert task is not None
    return task


async def test_a_bulk_import_judges_with_progress_starts_committed_cases_and_tells_no_one_without_a_claim(
    db: Database,
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    worker: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(legacy_transactions, "MONITOR_CHUNK", 2)  # three slices of 2, 2, 1
    customer = await new_customer(db, prefix="Bulk Import")
    path = tmp_path / "large.csv"
    start = datetime.now(UTC) - timedelta(hours=2)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        for n in range(5):
            out.writerow([f"BI-{uuid.uuid4().hex}", customer.iban, (start + timedelta(minutes=n)).isoformat(),
                          f"{60_000 + n}.00", "EUR", "out", "sepa", f"Supplier {n}", "", "DE", ""])  # fmt: skip
    judged: list[tuple[int, int, int]] = []
    report = await legacy_transactions.import_transactions_csv(
        db,
        settings,
        path,
        alert=True,
        progress=no_progress,
        report_path=tmp_path / "large.rejected.csv",
        temporal=temporal_env.client,
        judging=lambda done, total, alerts: judged.append((done, total, alerts)),
    )
    assert report.inserted == 5 and report.alerts >= 5
    # Progress: before the first slice, then after each.
    assert [(d, t) for d, t, _ in judged] == [(0, 5), (2, 5), (4, 5), (5, 5)]
    assert judged[-1][2] == report.alerts
    assert [a for _, _, a in judged] == sorted(a for _, _, a in judged)

    async with db.session() as session:
        case = (await session.exec(select(AmlCase).where(AmlCase.customer_id == customer.id))).one()
        alerts = (
            await session.exec(
                select(func.count()).select_from(AmlAlert).where(AmlAlert.case_id == case.case_id)
            )
        ).one()
    assert alerts == report.alerts
    workflow = temporal_env.client.get_workflow_handle(f"aml-{case.case_id}")

    async def all_seen() -> bool:
        state = await workflow.query(AmlCaseWorkflow.current_state)
        return state["alerts"] == alerts

    await eventually(all_seen, what="the case workflow to hold every alert")
    await _open_task(db, case.case_id)
    # The workflow started on a committed case: no activity of it needed a second attempt
    # (before, the first one retried `not_committed_yet` until the import's slice committed).
    attempts = [
        e.activity_task_started_event_attributes.attempt
        async for e in workflow.fetch_history_events()
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert attempts and set(attempts) == {1}
    # Nobody holds the case's task: its alerts are in the queue, not in anyone's inbox.
    assert await _notices(db, case.case_id) == []


async def _imported_alert(
    db: Database,
    case_id: uuid.UUID,
    customer_id: uuid.UUID,
    account_id: uuid.UUID,
    marker: datetime,
) -> uuid.UUID:
    """An alert attached to the case, triggered by a transaction of the import `marker`."""
    async with db.transaction() as session:
        tx = Transaction(
            external_id=f"imp-{uuid.uuid4().hex}",
            account_id=account_id,
            customer_id=customer_id,
            booked_at=marker - timedelta(days=1),
            amount=Decimal("30000.00"),
            currency="EUR",
            direction="out",
            channel="sepa",
            source="import",
            received_at=marker,
        )
        session.add(tx)
        await session.flush()
        alert = AmlAlert(
            dedupe_key=f"large_transaction:{tx.id}",
            customer_id=customer_id,
            account_id=account_id,
            rule_key="large_transaction",
            rule_version=1,
            transaction_ids=[tx.id],
            reason="imported",
            case_id=case_id,
        )
        session.add(alert)
    return alert.id


async def test_new_alert_notices_go_to_the_claimed_holder_once_per_import(
    db: Database, temporal_env: WorkflowEnvironment, settings: Settings, worker: None
) -> None:
    routed = await alerted_customer(db, temporal_env.client, settings.task_queue)
    task = await _open_task(db, routed.case_id)
    async with db.session() as session:
        first = (
            await session.exec(select(AmlAlert).where(AmlAlert.case_id == routed.case_id))
        ).first()
    assert first is not None
    account_id = first.account_id
    one_import, other_import = datetime.now(UTC), datetime.now(UTC) + timedelta(seconds=1)
    alerts = [
        await _imported_alert(db, routed.case_id, routed.customer_id, account_id, marker)
        for marker in (one_import, one_import, one_import, other_import)
    ]
    activities = AmlActivities(db)

    async def note(*alert_ids: uuid.UUID) -> None:
        await ActivityEnvironment().run(
            activities.note_new_alerts,
            AlertsNoticeInput(
                case_id=routed.case_id,
                workflow_id=routed.workflow_id,
                alert_ids=list(alert_ids),
                open_task_ids=[task.id],
            ),
        )

    # Unclaimed: nobody is told (the case is in the queue for whoever picks it up).
    await note(alerts[0])
    assert await _notices(db, routed.case_id) == []

    analyst = await new_staff(db, "aml_analyst")
    await claim_task(db, analyst.actor, task.id)
    # The holder hears of one import once, however many slices bring its alerts ...
    await note(alerts[1])
    await note(alerts[2])
    await note(alerts[1], alerts[2])
    told = await _notices(db, routed.case_id)
    assert len(told) == 1
    assert told[0].recipient_id == analyst.actor.user_id and told[0].recipient_role is None
    # ... and of the next import again.
    await note(alerts[3])
    told = await _notices(db, routed.case_id)
    assert len(told) == 2 and {n.recipient_id for n in told} == {analyst.actor.user_id}
