"""The dispute section of a case page: the transaction, the claim, the scheme stages with their
deadlines, the provisional credit and the money moved, evidence, the customer outbox, the
card processor (and the sandbox merchant's script), and which forms the reader may use."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select

from aml.queries.queue import countdown
from configuration.documents import load_typed
from core.db import Database
from disputes.commands.adjustments import KINDS as ADJUSTMENT_KINDS
from disputes.commands.adjustments import AdjustmentPublic, case_adjustments
from disputes.commands.evidence import EvidencePublic, evidence_of
from disputes.policy import DisputePolicy
from disputes.queries.detail import stages_of
from disputes.queries.queue import at_risk, category_label, stage_label
from disputes.rules import (
    CREDIT_DECLINE_REASONS,
    MERCHANT_RESPONSES,
    OUTCOMES,
    SCHEMES,
    WITHDRAW_REASONS,
)
from identity.access import can
from identity.actors import Actor
from models.aml import Transaction
from models.base import utcnow
from models.cases import Case, Decision, Task
from models.disputes import (
    CustomerMessage,
    Dispute,
    DisputeStage,
    SandboxMerchantScript,
    SandboxSubmission,
)
from models.onboarding import Account, Customer
from models.staff import StaffUser
from shared.iban import format_iban

SANDBOX = "sandbox"
CREDIT_TASK = "dispute_provisional_credit"
CREDIT_STATES = {
    "automatic": "Automatic — the amount is under the provisional-credit threshold",
    "granted": "Granted by a disputes agent",
    "declined": "Declined by a disputes agent",
    "pending": "Pending",
    "not_given": "Not given — the dispute ended before a decision",
}
# Stages before the chargeback is filed: the scheme's filing deadline still applies.
BEFORE_FILING = ("opened", "provisional_credit", "evidence")
# Stages at which the sandbox merchant's answer to each filing can still be scripted.
SCRIPTABLE = {
    "chargeback": (*BEFORE_FILING, "chargeback"),
    "pre_arbitration": (*BEFORE_FILING, "chargeback", "representment_review", "pre_arbitration"),
}


def response_choices() -> dict[str, str]:
    """The sandbox merchant's answers as one list (the form's stage picks where each applies)."""
    choices: dict[str, list[str]] = {}
    for answers in MERCHANT_RESPONSES.values():
        for code, label in answers.items():
            choices.setdefault(code, [])
            if label not in choices[code]:
                choices[code].append(label)
    only = {
        code: stage
        for stage, answers in MERCHANT_RESPONSES.items()
        for code in answers
        if sum(code in a for a in MERCHANT_RESPONSES.values()) == 1
    }
    return {
        code: " / ".join(labels)
        + (f" ({only[code].replace('_', '-')} only)" if code in only else "")
        for code, labels in choices.items()
    }


@dataclass
class StageRow:
    stage: str
    label: str
    entered_at: datetime
    due_at: datetime | None
    deadline_owner: str | None  # ours | merchant
    deadline_label: str | None
    left_at: datetime | None
    current: bool
    countdown: str | None  # for the current stage's deadline
    overdue: bool
    at_risk: bool
    met: bool | None  # left by its deadline (None: no deadline, or not left yet)


@dataclass
class CreditState:
    state: str  # automatic | granted | declined | pending | not_given
    label: str
    decided_by: str | None = None
    reason: str | None = None  # a decline's reason, in words
    comment: str | None = None


@dataclass
class SandboxPanel:
    script: SandboxMerchantScript | None
    scripted_by: str | None
    submissions: list[SandboxSubmission]
    stages: list[str]  # the stages whose answer may still be scripted


@dataclass
class DisputeCaseView:
    case: Case
    dispute: Dispute
    transaction: Transaction
    customer: Customer | None  # None when the roles may not read customers
    account_iban: str | None
    category_label: str
    scheme_label: str
    stage_label: str
    stages: list[StageRow]
    current: StageRow | None
    filing_open: bool  # the chargeback is not filed yet: the filing deadline still runs
    filing_countdown: str | None
    credit: CreditState
    sees_adjustments: bool
    adjustments: list[AdjustmentPublic] = field(default_factory=list)  # oldest first
    evidence: list[EvidencePublic] = field(default_factory=list)
    messages: list[CustomerMessage] = field(default_factory=list)
    outcome_label: str | None = None
    is_sandbox: bool = False
    sandbox: SandboxPanel | None = None
    can_add_evidence: bool = False
    can_withdraw: bool = False
    can_script_sandbox: bool = False
    adjustment_kinds: dict[str, str] = field(default_factory=lambda: dict(ADJUSTMENT_KINDS))
    withdraw_reasons: dict[str, str] = field(default_factory=lambda: dict(WITHDRAW_REASONS))
    merchant_responses: dict[str, dict[str, str]] = field(
        default_factory=lambda: {k: dict(v) for k, v in MERCHANT_RESPONSES.items()}
    )
    response_choices: dict[str, str] = field(default_factory=response_choices)


def _stage_rows(stages: list[DisputeStage], now: datetime, warning_days: int) -> list[StageRow]:
    rows = []
    for s in stages:
        current = s.left_at is None and s.stage != "closed"
        rows.append(
            StageRow(
                stage=s.stage,
                label=stage_label(s.stage),
                entered_at=s.entered_at,
                due_at=s.due_at,
                deadline_owner=s.deadline_owner,
                deadline_label=s.deadline_label,
                left_at=s.left_at,
                current=current,
                countdown=countdown(s.due_at, now) if current and s.due_at else None,
                overdue=current and s.due_at is not None and s.due_at <= now,
                at_risk=current and at_risk(s.deadline_owner, s.due_at, now, warning_days),
                met=(s.left_at <= s.due_at) if s.left_at and s.due_at else None,
            )
        )
    return rows


def credit_state(
    case: Case,
    has_credit: bool,
    decision: tuple[Decision, str | None] | None,
) -> CreditState:
    """Derived from the adjustments and the provisional-credit decision, never stored."""
    if decision is not None:
        d, who = decision
        if d.outcome == "grant":
            return CreditState("granted", CREDIT_STATES["granted"], who, comment=d.comment)
        reason = CREDIT_DECLINE_REASONS.get(d.reason_code or "", d.reason_code)
        return CreditState("declined", CREDIT_STATES["declined"], who, reason, d.comment)
    if has_credit:
        return CreditState("automatic", CREDIT_STATES["automatic"])
    if case.status == "open":  # an agent's decision, or the automatic credit, is still due
        return CreditState("pending", CREDIT_STATES["pending"])
    return CreditState("not_given", CREDIT_STATES["not_given"])


async def dispute_case_view(db: Database, actor: Actor, case: Case) -> DisputeCaseView | None:
    """The dispute section of a case page (the caller has checked the actor may see the case)."""
    now = utcnow()
    _, policy = await load_typed(db, "disputes", DisputePolicy)
    async with db.session() as session:
        dispute = await session.get(Dispute, case.id)
        if dispute is None:
            return None
        txn = await session.get(Transaction, dispute.transaction_id)
        assert txn is not None
        customer = await session.get(Customer, dispute.customer_id)
        account = await session.get(Account, dispute.account_id)
        stages = await stages_of(session, case.id)
        decision = (
            await session.exec(
                select(Decision, StaffUser.username)
                .join(Task, col(Task.id) == Decision.task_id)
                .outerjoin(StaffUser, col(StaffUser.id) == Decision.actor_id)
                .where(Decision.case_id == case.id, Task.kind == CREDIT_TASK)
            )
        ).first()
        evidence = await evidence_of(session, case.id)
        adjustments = await case_adjustments(session, case.id)
        messages = list(
            (
                await session.exec(
                    select(CustomerMessage)
                    .where(CustomerMessage.case_id == case.id)
                    .order_by(col(CustomerMessage.created_at))
                )
            ).all()
        )
        sandbox = None
        if dispute.processor == SANDBOX:
            script = await session.get(SandboxMerchantScript, case.id)
            scripted_by = (
                await session.get(StaffUser, script.updated_by) if script is not None else None
            )
            submissions = list(
                (
                    await session.exec(
                        select(SandboxSubmission)
                        .where(SandboxSubmission.case_id == case.id)
                        .order_by(col(SandboxSubmission.submitted_at))
                    )
                ).all()
            )
            sandbox = SandboxPanel(
                script=script,
                scripted_by=scripted_by.username if scripted_by else None,
                submissions=submissions,
                stages=[s for s, during in SCRIPTABLE.items() if case.stage in during],
            )
    rows = _stage_rows(stages, now, policy.deadline_warning_days)
    has_credit = any(a.kind == "provisional_credit" for a in adjustments)
    is_open = case.status == "open"
    filing_open = is_open and case.stage in BEFORE_FILING
    view = DisputeCaseView(
        case=case,
        dispute=dispute,
        transaction=txn,
        customer=customer if can(actor, "customer", "read") else None,
        account_iban=format_iban(account.iban) if account else None,
        category_label=category_label(dispute.category),
        scheme_label=SCHEMES.get(dispute.scheme, dispute.scheme),
        stage_label=stage_label(case.stage),
        stages=rows,
        current=next((r for r in rows if r.current), None),
        filing_open=filing_open,
        filing_countdown=countdown(dispute.filing_deadline_at, now) if filing_open else None,
        credit=credit_state(case, has_credit, decision),
        sees_adjustments=can(actor, "adjustment", "read"),
        evidence=evidence,
        messages=messages,
        outcome_label=OUTCOMES.get(case.outcome) if case.outcome else None,
        is_sandbox=sandbox is not None,
        sandbox=sandbox,
        can_add_evidence=is_open and can(actor, "dispute", "evidence"),
        can_withdraw=is_open and can(actor, "dispute", "withdraw"),
        can_script_sandbox=bool(
            is_open and sandbox and sandbox.stages and can(actor, "dispute", "sandbox")
        ),
    )
    if view.sees_adjustments:
        view.adjustments = sorted(adjustments, key=lambda a: a.created_at)
    return view
