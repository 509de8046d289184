"""Activities of the AML case workflow: policy, tier moves, closing, the SAR clock and report.

Each is one short transaction, idempotent under retry, with its audit event inside it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity

from activities.outage import not_committed_yet, retry_on_outage
from aml.commands.casework import lock_customer
from aml.policy import AmlCasePolicy
from audit import trail as audit
from audit.trail import SYSTEM, ActorRef
from casework import store
from casework.notifications import queue_notification
from configuration.documents import load_typed
from core.db import Database, run_sql
from models.aml import AmlAlert, AmlCase, SarReport, Tier, Transaction
from models.aml_io import (
    AlertsNoticeInput,
    AmlPolicyValues,
    AmlStageInput,
    CloseAmlCaseInput,
    CloseAmlCaseResult,
    FileSarInput,
    LoadAmlPolicyInput,
    SarClockInput,
)
from models.base import utcnow
from models.cases import Case, Task, TaskStatus
from models.money import quantize
from models.onboarding import Account, Customer
from models.staff import StaffUser


class AmlActivities:
    def __init__(self, db: Database):
        self.db = db

    @activity.defn
    @retry_on_outage
    async def load_aml_policy(self, inp: LoadAmlPolicyInput) -> AmlPolicyValues:
        """The policy version this case runs under; sets the case's SAR deadline from it."""
        version, policy = await load_typed(self.db, "aml_case", AmlCasePolicy)
        async with self.db.transaction() as session:
            updated = (
                await run_sql(
                    session,
                    "UPDATE aml_case SET sar_due_at = detected_at + make_interval(days => :days) "
                    "WHERE case_id = :id RETURNING case_id",
                    {"days": policy.sar_deadline_days, "id": inp.case_id},
                )
            ).first()
        if updated is None:  # signalled inside the ingest's transaction, not committed yet
            raise not_committed_yet(f"AML case {inp.case_id}")
        return AmlPolicyValues(version=version, **policy.model_dump())

    @activity.defn
    @retry_on_outage
    async def move_case(self, inp: AmlStageInput) -> None:
        async with self.db.transaction() as session:
            moved = await store.move_stage(
                session,
                inp.case_id,
                inp.tier,
                raise_priority_to=inp.priority,
                only_if_changed=True,
            )
            if not moved:
                return  # a retry after our own commit
            if inp.automatic:
                await queue_notification(
                    session,
                    dedupe_key=f"aml-auto-escalation:{inp.case_id}:{inp.tier}",
                    subject="AML case escalated automatically",
                    body=f"The case moved to {inp.tier.upper()}: {inp.note}.",
                    case_id=inp.case_id,
                    role="aml_investigator" if inp.tier == Tier.L2 else "mlro",
                )
            await audit.record(
                session,
                action="aml.case_escalated" if inp.tier in ("l2", "mlro") else "aml.case_moved",
                actor=SYSTEM,
                object_type="case",
                object_id=inp.case_id,
                workflow_id=inp.workflow_id,
                details={
                    "tier": inp.tier,
                    "priority": inp.priority,
                    "note": inp.note,
                    "automatic": inp.automatic,
                },
            )

    @activity.defn
    @retry_on_outage
    async def note_new_alerts(self, inp: AlertsNoticeInput) -> None:
        """New alerts joined the open case: the person holding a claim on its task is told.

        Only a claimed task's holder: an unclaimed case shows its alerts in the queue, not
        in the inbox of everyone who might pick it up. One notice per case per import: the
        alerts of one bulk import (its transactions share `received_at`) arrive slice by
        slice, and the holder hears of them once; each API batch is its own notice.
        """
        async with self.db.transaction() as session:
            known = (
                await session.exec(
                    select(AmlAlert.id).where(
                        col(AmlAlert.id).in_(inp.alert_ids), AmlAlert.case_id == inp.case_id
                    )
                )
            ).all()
            if not known:
                # Signalled inside the ingest's transaction: not visible until it commits
                # (retried), and refused for good if it plainly never will (rolled back).
                raise not_committed_yet(f"alerts {sorted(inp.alert_ids)[:1]} of case {inp.case_id}")
            holders = (
                await session.exec(
                    select(Task.id, Task.assignee_id).where(
                        col(Task.id).in_(inp.open_task_ids),
                        Task.status == TaskStatus.CLAIMED,
                        col(Task.assignee_id).is_not(None),
                    )
                )
            ).all()
            batch = await _arrival(session, known)
            fresh = [
                await queue_notification(
                    session,
                    dedupe_key=f"aml-new-alerts:{task_id}:{batch}",
                    subject="New alerts on your AML case",
                    body="New alerts were added to the case you are working; review them.",
                    case_id=inp.case_id,
                    recipient=assignee,
                )
                for task_id, assignee in holders
            ]
            if holders and not any(fresh):
                return  # told already: a later slice of the same import, or a retry
            await audit.record(
                session,
                action="aml.alerts_added",
                actor=SYSTEM,
                object_type="case",
                object_id=inp.case_id,
                workflow_id=inp.workflow_id,
                details={
                    "alerts": [str(a) for a in known],
                    "notified": [str(a) for _, a in holders],
                },
            )

    @activity.defn
    @retry_on_outage
    async def close_aml_case(self, inp: CloseAmlCaseInput) -> CloseAmlCaseResult:
        """Close the case unless alerts joined it that the workflow has not seen yet.

        Under the customer's lock, the same one ingest takes to attach alerts: an alert is
        either seen here (the case stays open) or attached to a new case afterwards.
        """
        async with self.db.transaction() as session:
            aml = await session.get(AmlCase, inp.case_id)
            assert aml is not None
            await lock_customer(session, aml.customer_id)
            await session.refresh(aml)
            if aml.closed_at is not None:
                return CloseAmlCaseResult(closed=True)
            attached = (
                await session.exec(select(AmlAlert.id).where(AmlAlert.case_id == inp.case_id))
            ).all()
            unseen = [a for a in attached if a not in set(inp.known_alert_ids)]
            if unseen:
                return CloseAmlCaseResult(closed=False, unseen_alert_ids=unseen)
            now = utcnow()
            aml.closed_at = now
            session.add(aml)
            await store.close_case(
                session,
                inp.case_id,
                outcome=inp.outcome,
                reason=inp.comment or inp.reason_code or "",
                now=now,
            )
            await audit.record(
                session,
                action="aml.case_closed",
                actor=ActorRef(inp.decided_by, "decider") if inp.decided_by else SYSTEM,
                object_type="case",
                object_id=inp.case_id,
                workflow_id=inp.workflow_id,
                details={
                    "outcome": inp.outcome,
                    "reason_code": inp.reason_code,
                    "alerts": len(attached),
                },
            )
            return CloseAmlCaseResult(closed=True)

    @activity.defn
    @retry_on_outage
    async def record_sar_decision(self, inp: FileSarInput) -> None:
        """Store the MLRO's decision; a SAR also produces its report (once per case)."""
        async with self.db.transaction() as session:
            aml = (
                await session.exec(
                    select(AmlCase).where(AmlCase.case_id == inp.case_id).with_for_update()
                )
            ).one()
            if aml.sar_decision is not None:
                return  # a retry after our own commit
            now = utcnow()
            aml.sar_decision = inp.decision
            aml.sar_decided_at = now
            session.add(aml)
            report_ref = None
            if inp.decision == "sar":
                report = await _sar_report(session, aml, inp, now)
                session.add(report)
                report_ref = report.reference
            await session.flush()
            await audit.record(
                session,
                action="aml.sar_filed" if inp.decision == "sar" else "aml.no_sar_decided",
                actor=ActorRef(inp.decided_by, "mlro"),
                object_type="case",
                object_id=inp.case_id,
                workflow_id=inp.workflow_id,
                details={
                    "reason_code": inp.reason_code,
                    "report": report_ref,
                    "on_time": now <= aml.sar_due_at,
                },
            )

    @activity.defn
    @retry_on_outage
    async def sar_clock_event(self, inp: SarClockInput) -> None:
        """The SAR deadline approaches (reminder) or passed (breach: urgent, MLRO told)."""
        async with self.db.transaction() as session:
            breach = inp.event == "breach"
            days_left = max((inp.due_at - utcnow()).days, 0)
            queued = await queue_notification(
                session,
                dedupe_key=f"sar-{inp.event}:{inp.case_id}",
                subject=("SAR deadline breached" if breach else "SAR decision due soon"),
                body=(
                    f"The SAR decision was due {inp.due_at:%Y-%m-%d %H:%M} UTC and is overdue."
                    if breach
                    else f"The SAR decision is due {inp.due_at:%Y-%m-%d %H:%M} UTC "
                    f"(in {days_left} day(s))."
                ),
                case_id=inp.case_id,
                role="mlro",
            )
            if not queued:
                return  # a retry after our own commit
            if breach:
                await run_sql(
                    session,
                    "UPDATE aml_case SET sar_breached_at = now() "
                    "WHERE case_id = :id AND sar_breached_at IS NULL",
                    {"id": inp.case_id},
                )
                await store.make_urgent(session, inp.case_id)
            await audit.record(
                session,
                action=f"aml.sar_deadline_{inp.event}",
                actor=SYSTEM,
                object_type="case",
                object_id=inp.case_id,
                workflow_id=inp.workflow_id,
                details={"due_at": inp.due_at},
            )


async def _arrival(session: AsyncSession, alert_ids: Sequence[uuid.UUID]) -> str:
    """What the alerts arrived with, for a notice's dedupe key: the import whose
    transactions triggered them (`import:<received_at>`), else the first alert's id."""
    marker = (
        await run_sql(
            session,
            "SELECT max(t.received_at) FROM aml_alert a "
            "JOIN transaction t ON t.id = a.transaction_ids[cardinality(a.transaction_ids)] "
            "WHERE a.id = ANY(:ids) AND t.source = 'import'",
            {"ids": list(alert_ids)},
        )
    ).scalar_one_or_none()
    if marker is not None:
        return f"import:{marker.isoformat()}"
    return str(sorted(alert_ids)[0])


async def _sar_report(
    session: AsyncSession, aml: AmlCase, inp: FileSarInput, now: datetime
) -> SarReport:
    """The report's structured data: subject, alerts, transactions, totals, the rationale."""
    case = await session.get(Case, inp.case_id)
    customer = await session.get(Customer, aml.customer_id)
    mlro = await session.get(StaffUser, inp.decided_by)
    assert case is not None and customer is not None
    accounts = (await session.exec(select(Account).where(Account.customer_id == customer.id))).all()
    alerts = (
        await session.exec(
            select(AmlAlert)
            .where(AmlAlert.case_id == inp.case_id)
            .order_by(col(AmlAlert.detected_at))
        )
    ).all()
    tx_ids = sorted({t for a in alerts for t in a.transaction_ids})
    transactions = (
        (
            await session.exec(
                select(Transaction)
                .where(col(Transaction.id).in_(tx_ids))
                .order_by(col(Transaction.booked_at))
            )
        ).all()
        if tx_ids
        else []
    )
    by_currency: dict[str, Decimal] = {}
    for t in transactions:
        by_currency[t.currency] = by_currency.get(t.currency, Decimal(0)) + t.amount
    number = (await run_sql(session, "SELECT nextval('sar_reference_seq')")).scalar_one()
    reference = f"SAR-{number:06d}"
    data = {
        "reference": reference,
        "case_reference": case.reference,
        "filed_at": now.isoformat(),
        "filed_by": {"id": str(inp.decided_by), "name": mlro.display_name if mlro else "MLRO"},
        "reason_code": inp.reason_code,
        "rationale": inp.rationale,
        "subject": {
            "customer_reference": customer.reference,
            "name": customer.name,
            "kind": customer.kind,
            "country": customer.country,
            "segment": customer.segment,
            "risk_level": customer.risk_level,
            "accounts": [{"iban": a.iban, "currency": a.currency} for a in accounts],
        },
        "alerts": [
            {
                "rule_key": a.rule_key,
                "rule_version": a.rule_version,
                "reason": a.reason,
                "detected_at": a.detected_at.isoformat(),
                "severity": a.severity,
            }
            for a in alerts
        ],
        "transactions": [
            {
                "external_id": t.external_id,
                "booked_at": t.booked_at.isoformat(),
                "amount": str(quantize(t.amount, t.currency)),
                "currency": t.currency,
                "direction": t.direction,
                "channel": t.channel,
                "counterparty_name": t.counterparty_name,
                "counterparty_country": t.counterparty_country,
            }
            for t in transactions
        ],
        "totals": {
            "count": len(transactions),
            "by_currency": {c: str(quantize(v, c)) for c, v in sorted(by_currency.items())},
        },
        "detected_at": aml.detected_at.isoformat(),
        "sar_due_at": aml.sar_due_at.isoformat(),
        "on_time": now <= aml.sar_due_at,
    }
    return SarReport(
        id=uuid.uuid4(),
        case_id=inp.case_id,
        reference=reference,
        data=data,
        created_by=inp.decided_by,
        created_at=now,
    )
