"""Reading cases: the list, and one case with its tasks, decisions and audit timeline."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from aml.queries.case_view import CASE_TYPE_AML, AmlCaseView, aml_case_view
from casework import priority as priority_rule
from casework.catalog import CASE_TYPE_LABELS, find_kind
from casework.inbox import task_public
from casework.narratives import comment_requirement
from casework.need_to_know import CASE_TYPE_CHANGE, MLRO_DECIDED, RESTRICTION_TARGET, NeedToKnow
from casework.process_watch import OUTCOME_LABELS as REPAIR_OUTCOME_LABELS
from casework.segregation import check_claim
from casework.snooze import snoozed_case
from casework.tags import tagged_with
from casework.tasks import case_parties, task_facts, task_permissions
from changes.queries.views import get_change_of_case
from core.db import Database, fetch_page
from disputes.queries.case_view import DisputeCaseView, dispute_case_view
from disputes.rules import CASE_TYPE_DISPUTE
from disputes.rules import OUTCOME_LABELS as DISPUTE_OUTCOME_LABELS
from identity.access import can, can_see_case
from identity.actors import Actor
from models.audit import AuditEvent
from models.base import utcnow
from models.cases import Case, Decision, Task, TaskPublic
from models.changes import ChangePublic
from models.onboarding import ApplicationParty
from models.staff import StaffUser
from onboarding.queries.case_view import (
    AlertView,
    OnboardingView,
    onboarding_case_view,
    screening_alert_view,
)
from onboarding.rules import CASE_TYPE_ONBOARDING, CASE_TYPE_SCREENING_ALERT
from reconciliation.queries.case_view import ReconCaseView, recon_case_view
from reconciliation.rules import CASE_TYPE_RECON, RESOLVE
from reconciliation.rules import OUTCOME_LABELS as RECON_OUTCOME_LABELS

# Every case type by its label (the registry, live).
CASE_TYPES = CASE_TYPE_LABELS
OUTCOME_LABELS = {
    "approve": "approve",
    "reject": "reject",
    "request_info": "request information",
    "confirm_match": "confirm match",
    "false_positive": "false positive",
    "approve_whitelist": "approve whitelisting",
    "reject_whitelist": "reject: back to review",
    "close": "close",
    "escalate": "escalate",
    "sar": "file a SAR",
    "no_sar": "decide no SAR",
    MLRO_DECIDED: "MLRO decision recorded",  # a SAR decision, to those who may not know it
    **DISPUTE_OUTCOME_LABELS,
    # approve / reject keep their generic labels; the write-off step's title says what they do.
    **{o: RECON_OUTCOME_LABELS[o] for o in RESOLVE.outcomes},
    **REPAIR_OUTCOME_LABELS,
}


@dataclass
class TaskActions:
    task: TaskPublic
    can_claim: bool = False
    can_release: bool = False
    can_decide: bool = False
    blocked_reason: str | None = None
    # The reason codes offered per outcome (outcome -> code -> label).
    reasons: dict[str, dict[str, str]] = field(default_factory=dict)
    reason_label: str = "Reason"
    comment_label: str = "Comment"
    # The shortest comment (or rationale) each outcome takes (casework.narratives), if any.
    comment_min: dict[str, int] = field(default_factory=dict)


def decision_choices(task: TaskPublic) -> tuple[dict[str, dict[str, str]], str, str]:
    """What the decision form offers for this task: reason codes per outcome and labels."""
    entry = find_kind(task.kind)
    declared = entry.reasons if entry is not None else {}
    reasons = {o: dict(codes) for o, codes in declared.items() if o in task.allowed_outcomes}
    needed = [OUTCOME_LABELS.get(o, o) for o in task.reason_required_for]
    reason_label = f"Reason (required to {' or '.join(needed)})" if needed else "Reason"
    comment_label = "Comment"
    if "request_info" in task.allowed_outcomes:
        comment_label = "Comment — to request information: what the applicant must send"
    if "sar" in task.allowed_outcomes:
        comment_label = "Rationale: why a SAR is or is not filed"
    return reasons, reason_label, comment_label


def comment_minimums(task: TaskPublic, *, high_risk: bool) -> dict[str, int]:
    """outcome -> the shortest comment it takes on this task (only outcomes that need one)."""
    needed = {
        o: comment_requirement(task.kind, o, high_risk=high_risk) for o in task.allowed_outcomes
    }
    return {o: n for o, n in needed.items() if n}


@dataclass
class CaseDecision:
    decision: Decision
    decided_by: str


@dataclass
class CaseView:
    case: Case
    change: ChangePublic | None
    tasks: list[TaskActions]
    timeline: list[AuditEvent]
    can_withdraw: bool = False
    onboarding: OnboardingView | None = None
    alert: AlertView | None = None
    decisions: list[CaseDecision] = field(default_factory=list)
    aml: AmlCaseView | None = None
    dispute: DisputeCaseView | None = None
    recon: ReconCaseView | None = None
    priority: str = "normal"  # under the one rule (casework/priority.py)


def visible_case_types(actor: Actor) -> list[str]:
    return [t for t in CASE_TYPES if can_see_case(actor, t)]


async def list_cases(
    db: Database,
    actor: Actor,
    *,
    case_type: str | None = None,
    status: str | None = None,
    q: str | None = None,
    ended_outside: bool | None = None,
    snoozed: bool | None = None,
    tag: str | None = None,
    page: int = 1,
    per_page: int = 25,
) -> tuple[list[Case], int]:
    types = visible_case_types(actor)
    if case_type:
        types = [t for t in types if t == case_type]
    if not types:
        return [], 0
    conditions: list[Any] = [col(Case.case_type).in_(types)]
    know = NeedToKnow.of(actor)
    if not know.sees_change_target(RESTRICTION_TARGET):  # a lift names the AML case and why
        conditions.append(
            ~(
                (col(Case.case_type) == CASE_TYPE_CHANGE)
                & (col(Case.subject_type) == RESTRICTION_TARGET)
            )
        )
    if status:
        conditions.append(Case.status == status)
    if ended_outside is not None:  # its workflow ended outside backoffice, repair pending
        conditions.append(Case.process_ended_outside == ended_outside)
    if q:
        conditions.append(or_(col(Case.reference).ilike(f"%{q}%"), col(Case.title).ilike(f"%{q}%")))
    if snoozed is not None:  # a snooze in force (casework/snooze.py) on an open case
        conditions.append(
            snoozed_case() & (col(Case.status) == "open") if snoozed else ~snoozed_case()
        )
    if tag:
        conditions.append(tagged_with(tag.strip().lower()))
    async with db.session() as session:
        rows, total = await fetch_page(
            session, Case, conditions, col(Case.opened_at).desc(), page=page, per_page=per_page
        )
        ranks = await open_task_ranks(session, [c.id for c in rows])
    # An AML case's SAR outcome only for those who may know it.
    shown = [know.case(c) for c in rows]
    for c in shown:  # the priority every queue shows (casework/priority.py); not written back
        c.priority = priority_rule.case_priority(c.priority, c.risk_level, ranks.get(c.id, []))
    return shown, total


async def open_task_ranks(
    session: AsyncSession, case_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[int]]:
    """The urgency ranks of each case's open and claimed tasks."""
    found: dict[uuid.UUID, list[int]] = {}
    if case_ids:
        for case_id, urgency in (
            await session.exec(
                select(Task.case_id, Task.urgency).where(
                    col(Task.case_id).in_(case_ids), col(Task.status).in_(("open", "claimed"))
                )
            )
        ).all():
            found.setdefault(case_id, []).append(urgency)
    return found


async def get_case(db: Database, actor: Actor, case_id: uuid.UUID) -> CaseView | None:
    """The case as `actor` may see it; None when it does not exist or is not theirs to see.

    An AML case's outcome, decisions and timeline pass through need-to-know: its narrative
    and its SAR decision reach only those the policy lets read them."""
    know = NeedToKnow.of(actor)
    async with db.session() as session:
        case = await session.get(Case, case_id)
        if case is None or not can_see_case(actor, case.case_type):
            return None
        if case.case_type == CASE_TYPE_CHANGE and not know.sees_change_target(case.subject_type):
            return None
        rows = (
            await session.exec(
                select(Task, StaffUser.username)
                .outerjoin(StaffUser, col(StaffUser.id) == Task.assignee_id)
                .where(Task.case_id == case_id)
                .order_by(col(Task.created_at), col(Task.task_key))
            )
        ).all()
        parties = await case_parties(session, case)
        decisions = [
            CaseDecision(know.decision(case.case_type, d), who or "?")
            for d, who in (
                await session.exec(
                    select(Decision, StaffUser.username)
                    .outerjoin(StaffUser, col(StaffUser.id) == Decision.actor_id)
                    .where(Decision.case_id == case_id)
                    .order_by(col(Decision.decided_at))
                )
            ).all()
        ]
        object_ids = [str(case.id), *(str(task.id) for task, _ in rows)]
        if case.subject_type == "application":
            # Its parties are screened by child workflows: their events name the party.
            party_ids = (
                await session.exec(
                    select(ApplicationParty.id).where(
                        col(ApplicationParty.application_id) == uuid.UUID(case.subject_id)
                    )
                )
            ).all()
            object_ids += [case.subject_id, *(str(p) for p in party_ids)]
        timeline = list(
            (
                await session.exec(
                    select(AuditEvent)
                    .where(
                        or_(
                            AuditEvent.workflow_id == case.workflow_id,
                            col(AuditEvent.object_id).in_(object_ids),
                        )
                    )
                    .order_by(col(AuditEvent.id))
                    .limit(500)
                )
            ).all()
        )
    change = None
    if case.case_type == "change_request":
        change = await get_change_of_case(db, actor, case.id)
    now = utcnow()
    priority = priority_rule.case_priority(
        case.priority,
        case.risk_level,
        [row.urgency for row, _ in rows if row.status in ("open", "claimed")],
    )
    actions = []
    for row, assignee in rows:
        t = task_public(row, case, assignee, now)
        permitted = all(can(actor, obj, act) for obj, act in task_permissions(t.kind))
        refusal = check_claim(task_facts(row), parties, actor.user_id, actor.roles)
        ta = TaskActions(task=t)
        ta.reasons, ta.reason_label, ta.comment_label = decision_choices(t)
        ta.comment_min = comment_minimums(t, high_risk=case.risk_level == "high")
        if ta.comment_min:
            ta.comment_label += " — " + "; ".join(
                f"at least {n} characters to {OUTCOME_LABELS.get(o, o)}"
                for o, n in ta.comment_min.items()
            )
        if t.status == "open":
            ta.can_claim = permitted and refusal is None
        elif t.status == "claimed" and t.assignee_id == actor.user_id:
            ta.can_release = True
            ta.can_decide = permitted and refusal is None
        if t.status in ("open", "claimed") and (not permitted or refusal is not None):
            ta.blocked_reason = (
                refusal.message if refusal else "Your roles do not allow you to decide this task."
            )
        actions.append(ta)
    can_withdraw = bool(
        change
        and change.status == "pending_approval"
        and can(actor, "change", "withdraw")
        and case.opened_by == actor.user_id  # the maker, stored once on the case, by id
    )
    onboarding = alert = None
    if case.case_type == CASE_TYPE_ONBOARDING:
        onboarding = await onboarding_case_view(db, actor, case)
    elif case.case_type == CASE_TYPE_SCREENING_ALERT:
        alert = await screening_alert_view(db, actor, case)
    aml = await aml_case_view(db, actor, case) if case.case_type == CASE_TYPE_AML else None
    dispute = (
        await dispute_case_view(db, actor, case) if case.case_type == CASE_TYPE_DISPUTE else None
    )
    recon = await recon_case_view(db, actor, case) if case.case_type == CASE_TYPE_RECON else None
    return CaseView(
        case=know.case(case),
        change=change,
        tasks=actions,
        timeline=know.timeline(timeline),
        can_withdraw=can_withdraw,
        onboarding=onboarding,
        alert=alert,
        decisions=decisions,
        aml=aml,
        dispute=dispute,
        recon=recon,
        priority=priority,
    )
