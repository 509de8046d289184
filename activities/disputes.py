"""Activities of the dispute workflow: policy, stages, money, the card processor, the outcome,
and delivery of what waits in the customer outbox.

Each is one short transaction, idempotent under retry, with its audit event inside it.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.outage import not_committed_yet, retry_on_outage
from aml.engines.monitoring_data import to_eur
from audit import trail as audit
from audit.trail import SYSTEM, ActorRef
from casework import store
from casework.notifications import queue_notification
from configuration.documents import load_typed
from core.db import Database, run_sql
from core.mail import MailServer, send_mail
from disputes.commands.messages import queue_customer_message
from disputes.engines.processor import CardProcessor
from disputes.policy import DisputePolicy
from disputes.rules import CUSTOMER_KEEPS, STAGES
from models.aml import Transaction
from models.base import utcnow
from models.cases import Case
from models.dispute_io import (
    STAGE_DEADLINES,
    AdjustmentInput,
    ConcludeDisputeInput,
    DeadlineWarningInput,
    DeliverMessagesInput,
    DisputePlan,
    DisputeRef,
    DisputeStageInput,
    ProcessorAck,
    ProcessorFiling,
    ProcessorRequest,
    RecordWithdrawalInput,
)
from models.disputes import AccountAdjustment, CustomerMessage, Dispute
from models.money import format_amount

DELIVERABLE = ("queued", "failed")


class DisputeActivities:
    def __init__(self, db: Database, processor: CardProcessor, mail: MailServer | None):
        self.db = db
        self.processor = processor
        self.mail = mail

    @activity.defn
    @retry_on_outage
    async def load_dispute_policy(self, inp: DisputeRef) -> DisputePlan:
        """The policy version this dispute runs under, and whether its credit is automatic."""
        version, policy = await load_typed(self.db, "disputes", DisputePolicy)
        async with self.db.transaction() as session:
            dispute = await _dispute(session, inp.case_id)
            dispute.policy_version = version
            session.add(dispute)
            amount_eur = to_eur(dispute.amount, dispute.currency)
        return DisputePlan(
            version=version,
            auto_credit=amount_eur < Decimal(policy.provisional_credit_threshold_eur),
            filing_deadline_at=dispute.filing_deadline_at,
            **policy.model_dump(exclude={"filing_window_days", "provisional_credit_threshold_eur"}),
        )

    @activity.defn
    @retry_on_outage
    async def move_dispute(self, inp: DisputeStageInput) -> None:
        """The dispute enters a stage: the previous one ends, the new one starts its clock."""
        now = utcnow()
        async with self.db.transaction() as session:
            entered = (
                await run_sql(
                    session,
                    "INSERT INTO dispute_stage (id, case_id, stage, entered_at, due_at) "
                    "VALUES (:id, :case, :stage, :now, :due) "
                    "ON CONFLICT (case_id, stage) DO NOTHING RETURNING id",
                    {
                        "id": uuid.uuid4(),
                        "case": inp.case_id,
                        "stage": inp.stage,
                        "now": now,
                        "due": inp.due_at,
                    },
                )
            ).first()
            if entered is None:
                return  # a retry after our own commit
            await run_sql(
                session,
                "UPDATE dispute_stage SET left_at = :now "
                "WHERE case_id = :case AND left_at IS NULL AND stage <> :stage",
                {"now": now, "case": inp.case_id, "stage": inp.stage},
            )
            await store.move_stage(session, inp.case_id, inp.stage)
            await audit.record(
                session,
                action="dispute.stage_entered",
                actor=SYSTEM,
                object_type="case",
                object_id=inp.case_id,
                workflow_id=inp.workflow_id,
                details={
                    "stage": inp.stage,
                    "due_at": inp.due_at.isoformat() if inp.due_at else None,
                    "deadline": STAGE_DEADLINES[inp.stage][1],
                    "deadline_owner": STAGE_DEADLINES[inp.stage][0],
                },
            )

    @activity.defn
    @retry_on_outage
    async def post_adjustment(self, inp: AdjustmentInput) -> None:
        """Book the provisional credit on the customer's account, and tell the customer."""
        async with self.db.transaction() as session:
            dispute = await _dispute(session, inp.case_id)
            case = await _case(session, inp.case_id)
            booked = await _book(
                session,
                dispute,
                dedupe_key=f"{inp.workflow_id}:{inp.kind}",
                kind=inp.kind,
                amount=dispute.amount,
                description=f"Provisional credit, dispute {case.reference} ({inp.note})",
            )
            if booked is None:
                return
            await queue_customer_message(
                session,
                dedupe_key=f"{inp.workflow_id}:message:{inp.kind}",
                customer_id=dispute.customer_id,
                case_id=case.id,
                subject=f"Provisional credit for your dispute {case.reference}",
                body=(
                    f"We have credited {format_amount(dispute.amount, dispute.currency)} to "
                    "your account while we pursue your dispute with the merchant. The credit "
                    "becomes final if the dispute is decided in your favour."
                ),
            )
            await audit.record(
                session,
                action="dispute.provisional_credit",
                actor=SYSTEM,
                object_type="case",
                object_id=inp.case_id,
                workflow_id=inp.workflow_id,
                details={"adjustment_id": booked, "note": inp.note},
            )

    @activity.defn
    @retry_on_outage
    async def file_with_processor(self, inp: ProcessorRequest) -> ProcessorAck:
        """File a scheme stage with the card processor (idempotent by workflow id + stage)."""
        async with self.db.session() as session:
            dispute = await _dispute(session, inp.case_id)
            case = await _case(session, inp.case_id)
            txn = await session.get(Transaction, dispute.transaction_id)
            assert txn is not None
        ack = await self.processor.file(
            ProcessorFiling(
                case_id=inp.case_id,
                reference=case.reference,
                stage=inp.stage,
                idempotency_key=f"{inp.workflow_id}:{inp.stage}",
                transaction_external_id=txn.external_id,
                amount=dispute.amount,
                currency=dispute.currency,
                scheme=dispute.scheme,
                scheme_reason_code=dispute.scheme_reason_code,
                processor_ref=dispute.processor_ref,
            )
        )
        async with self.db.transaction() as session:
            filed_before = (
                await run_sql(
                    session,
                    "SELECT 1 FROM audit_event WHERE workflow_id = :wf "
                    "AND action = 'dispute.filed' AND details->>'stage' = :stage",
                    {"wf": inp.workflow_id, "stage": inp.stage},
                )
            ).first()
            if filed_before is None:
                if inp.stage == "chargeback":
                    await run_sql(
                        session,
                        "UPDATE dispute SET processor_ref = :ref WHERE case_id = :case",
                        {"ref": ack.processor_ref, "case": inp.case_id},
                    )
                await audit.record(
                    session,
                    action="dispute.filed",
                    actor=SYSTEM,
                    object_type="case",
                    object_id=inp.case_id,
                    workflow_id=inp.workflow_id,
                    details={
                        "stage": inp.stage,
                        "processor": self.processor.name,
                        "processor_ref": ack.processor_ref,
                    },
                )
        return ack

    @activity.defn
    @retry_on_outage
    async def warn_deadline(self, inp: DeadlineWarningInput) -> None:
        """One of our scheme deadlines is close: the dispute and its task turn urgent."""
        async with self.db.transaction() as session:
            case = await _case(session, inp.case_id)
            fresh = await queue_notification(
                session,
                dedupe_key=f"dispute-deadline:{inp.case_id}:{inp.stage}",
                subject=f"Dispute {case.reference}: scheme deadline approaching",
                body=(
                    f"{STAGES.get(inp.stage, inp.stage)}: our deadline is "
                    f"{inp.due_at:%Y-%m-%d %H:%M} UTC. If it passes, the dispute expires and "
                    "the bank bears the loss."
                ),
                case_id=inp.case_id,
                role="disputes_agent",
            )
            if not fresh:
                return
            if inp.task_id is not None:
                await store.make_urgent(session, inp.case_id, task_id=inp.task_id)
            else:
                await store.make_urgent(session, inp.case_id, tasks=False)
            await audit.record(
                session,
                action="dispute.deadline_warning",
                actor=SYSTEM,
                object_type="case",
                object_id=inp.case_id,
                workflow_id=inp.workflow_id,
                details={"stage": inp.stage, "due_at": inp.due_at.isoformat()},
            )

    @activity.defn
    @retry_on_outage
    async def record_withdrawal(self, inp: RecordWithdrawalInput) -> None:
        """The customer withdrew: audited now, with the request that said so."""
        w = inp.withdrawal
        async with self.db.transaction() as session:
            case = await _case(session, inp.case_id)
            if case.status != "open":
                raise ApplicationError(
                    "This dispute is already concluded.", type="case_closed", non_retryable=True
                )
            recorded = (
                await run_sql(
                    session,
                    "SELECT 1 FROM audit_event WHERE workflow_id = :wf "
                    "AND action = 'dispute.withdrawn'",
                    {"wf": inp.workflow_id},
                )
            ).first()
            if recorded is not None:
                return
            await audit.record(
                session,
                action="dispute.withdrawn",
                actor=ActorRef(w.actor_id, w.actor_name),
                object_type="case",
                object_id=inp.case_id,
                origin=w.origin,
                workflow_id=inp.workflow_id,
                reason=w.comment,
                details={"reason_code": w.reason_code, "stage": case.stage},
            )

    @activity.defn
    @retry_on_outage
    async def conclude_dispute(self, inp: ConcludeDisputeInput) -> None:
        """The outcome: money settled on the account, the case closed, the customer told."""
        now = utcnow()
        async with self.db.transaction() as session:
            await run_sql(
                session, "SELECT 1 FROM dispute WHERE case_id = :c FOR UPDATE", {"c": inp.case_id}
            )
            case = await _case(session, inp.case_id)
            if case.status != "open":
                return  # a retry after our own commit
            dispute = await _dispute(session, inp.case_id)
            credit = (
                await session.exec(
                    select(AccountAdjustment).where(
                        AccountAdjustment.case_id == inp.case_id,
                        AccountAdjustment.kind == "provisional_credit",
                    )
                )
            ).first()
            booked: uuid.UUID | None = None
            customer_wins = inp.outcome in CUSTOMER_KEEPS
            if customer_wins and credit is None:
                booked = await _book(
                    session,
                    dispute,
                    dedupe_key=f"{inp.workflow_id}:final_credit",
                    kind="final_credit",
                    amount=dispute.amount,
                    description=f"Dispute {case.reference} {inp.outcome}: amount credited",
                )
            elif not customer_wins and credit is not None:
                booked = await _book(
                    session,
                    dispute,
                    dedupe_key=f"{inp.workflow_id}:credit_reversal",
                    kind="credit_reversal",
                    amount=-credit.amount,
                    description=f"Dispute {case.reference} {inp.outcome}: provisional credit reversed",
                    reverses=credit.id,
                )
            await store.close_case(
                session, inp.case_id, outcome=inp.outcome, reason=inp.why, now=now
            )
            await run_sql(
                session,
                "UPDATE dispute_stage SET left_at = :now WHERE case_id = :case AND left_at IS NULL",
                {"now": now, "case": inp.case_id},
            )
            await run_sql(
                session,
                "INSERT INTO dispute_stage (id, case_id, stage, entered_at) "
                "VALUES (:id, :case, 'closed', :now) ON CONFLICT DO NOTHING",
                {"id": uuid.uuid4(), "case": inp.case_id, "now": now},
            )
            await queue_customer_message(
                session,
                dedupe_key=f"{inp.workflow_id}:message:outcome",
                customer_id=dispute.customer_id,
                case_id=case.id,
                subject=f"Your dispute {case.reference}: {inp.outcome}",
                body=_outcome_message(inp.outcome, dispute, credit is not None),
            )
            await audit.record(
                session,
                action="dispute.concluded",
                actor=SYSTEM,
                object_type="case",
                object_id=inp.case_id,
                workflow_id=inp.workflow_id,
                reason=inp.why,
                details={
                    "outcome": inp.outcome,
                    "reason_code": inp.reason_code,
                    "decided_by": str(inp.decided_by) if inp.decided_by else None,
                    "adjustment_id": str(booked) if booked else None,
                },
            )

    @activity.defn
    async def deliver_customer_messages(self, inp: DeliverMessagesInput) -> int:
        """Send the case's waiting messages by e-mail; without SMTP they wait, saying why.

        The mail server is talked to outside any database transaction (it may take seconds
        per message, or time out). One dispute's deliveries run one at a time (the
        workflow's mailer), so nothing else sends these rows meanwhile. A crash between
        sending and recording sends that message again on the retry: at least once.
        """
        async with self.db.session() as session:
            rows = await session.exec(
                select(CustomerMessage)
                .where(
                    CustomerMessage.case_id == inp.case_id,
                    col(CustomerMessage.status).in_(DELIVERABLE),
                )
                .order_by(col(CustomerMessage.created_at))
            )
            waiting = [(m.id, m.status, m.to_address, m.subject, m.body) for m in rows]
        results: list[tuple[uuid.UUID, str, str | None]] = []  # message id, status, error
        for message_id, status, to_address, subject, body in waiting:
            if not to_address:
                results.append((message_id, "no_address", "no e-mail address on file"))
            elif self.mail is None:
                waits = "SMTP is not configured: the message waits in the outbox"
                results.append((message_id, status, waits))
            else:
                try:
                    await send_mail(self.mail, to_address, subject, body)
                except OSError as exc:  # smtplib errors are OSErrors too
                    results.append((message_id, "failed", str(exc)[:500]))
                else:
                    results.append((message_id, "sent", None))
        async with self.db.transaction() as session:
            for message_id, status, error in results:
                await run_sql(
                    session,
                    "UPDATE customer_message SET status = :status, last_error = :error, "
                    "attempts = attempts + 1, sent_at = CASE WHEN :sent THEN now() ELSE sent_at END "
                    "WHERE id = :id",
                    {"status": status, "error": error, "sent": status == "sent", "id": message_id},
                )
        failures = sum(status == "failed" for _, status, _ in results)
        if failures:
            # Stored as failed; Temporal retries the delivery with backoff.
            raise ApplicationError(f"{failures} message(s) could not be sent", type="smtp")
        return sum(status == "sent" for _, status, _ in results)


async def _dispute(session: AsyncSession, case_id: uuid.UUID) -> Dispute:
    dispute = await session.get(Dispute, case_id)
    if dispute is None:  # started inside the opening's transaction, not committed yet
        raise not_committed_yet(f"dispute {case_id}")
    return dispute


async def _case(session: AsyncSession, case_id: uuid.UUID) -> Case:
    case = await session.get(Case, case_id)
    assert case is not None
    return case


async def _book(
    session: AsyncSession,
    dispute: Dispute,
    *,
    dedupe_key: str,
    kind: str,
    amount: Decimal,
    description: str,
    reverses: uuid.UUID | None = None,
) -> uuid.UUID | None:
    """One adjustment per dedupe key: the id booked now, or None when it already was."""
    row = (
        await session.exec(
            pg_insert(AccountAdjustment)
            .values(
                id=uuid.uuid4(),
                dedupe_key=dedupe_key,
                account_id=dispute.account_id,
                customer_id=dispute.customer_id,
                case_id=dispute.case_id,
                kind=kind,
                amount=amount,
                currency=dispute.currency,
                description=description[:300],
                reverses_id=reverses,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(col(AccountAdjustment.id))
        )
    ).first()
    return None if row is None else row[0]


def _outcome_message(outcome: str, dispute: Dispute, had_credit: bool) -> str:
    amount = format_amount(dispute.amount, dispute.currency)
    if outcome in CUSTOMER_KEEPS:
        money = (
            f"The provisional credit of {amount} is now final."
            if had_credit
            else f"We have credited {amount} to your account."
        )
        return f"Your dispute was decided in your favour. {money}"
    reversal = f" The provisional credit of {amount} has been reversed." if had_credit else ""
    if outcome == "withdrawn":
        return f"As you asked, we have withdrawn your dispute.{reversal}"
    return (
        "The merchant showed that the payment was valid, so the dispute was decided in the "
        f"merchant's favour.{reversal} Contact us if you have new information."
    )
