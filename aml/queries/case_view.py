"""The AML section of a case page (alerts, chart, transactions, profile, previous cases,
decisions, SAR clock) and the filed SAR report."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import col, select

from aml.commands.casework import CASE_TYPE_AML
from aml.queries.queue import CHART_DAYS, KIND_TIER, TABLE_TRANSACTIONS
from aml.queries.restriction_views import CaseRestrictions, case_restrictions
from aml.rules import REASONS_BY_KIND, TIER_LABELS
from casework.need_to_know import MLRO_DECIDED, NeedToKnow
from core.db import Database, run_sql
from identity.access import can, require
from identity.actors import Actor
from models.aml import AmlAlert, AmlCase, SarReport, Transaction
from models.base import utcnow
from models.cases import Case, Decision, Task
from models.onboarding import Account, Customer
from models.staff import StaffUser
from shared.charts import FlowChart, flow_chart
from shared.days import day_bounds
from shared.iban import format_iban


# ----------------------------------------------------------------------------- case section
@dataclass
class AlertItem:
    alert: AmlAlert
    transactions: list[Transaction]
    is_new: bool  # arrived after the current task was opened


@dataclass
class TierDecision:
    tier_label: str
    decided_by: str
    outcome: str
    reason_code: str | None
    reason_label: str | None
    rationale: str | None
    decided_at: datetime


@dataclass
class SarClock:
    detected_at: datetime
    due_at: datetime
    state: str  # running | breached | decided | stopped (closed before the MLRO)
    days_left: int | None
    decision: str | None
    decided_at: datetime | None
    on_time: bool | None
    breached_at: datetime | None


@dataclass
class PreviousCase:
    id: uuid.UUID
    reference: str
    status: str
    opened_at: datetime
    closed_at: datetime | None
    outcome: str | None


@dataclass
class AmlCaseView:
    aml: AmlCase
    tier_label: str
    clock: SarClock
    customer: Customer | None  # None when the roles may not read customers
    accounts: list[Account]
    ibans: dict[uuid.UUID, str]  # print form, by account id
    alerts: list[AlertItem]
    current_task_opened: datetime | None
    sees_transactions: bool
    window_start: date
    window_end: date
    charts: list[FlowChart] = field(default_factory=list)
    transactions: list[Transaction] = field(default_factory=list)
    transactions_total: int = 0
    alerted_transaction_ids: set[uuid.UUID] = field(default_factory=set)
    previous: list[PreviousCase] = field(default_factory=list)
    decisions: list[TierDecision] = field(default_factory=list)
    sar_reference: str | None = None  # only for readers of SARs (need-to-know: sar)
    # False for readers of the case's metadata only (engineers): no alert texts, no activity
    # examined, no reasons or rationales, no restriction reasons.
    sees_narrative: bool = True
    # The restrictions panel (partials/restriction_panel.html, swapped by its own forms).
    restrictions: CaseRestrictions | None = None


def sar_clock(aml: AmlCase, now: datetime, *, sees_sar: bool = True) -> SarClock:
    """The regulatory clock; without `sees_sar` the decision is only "the MLRO decided"."""
    if aml.sar_decided_at is not None:
        state = "decided"
    elif aml.closed_at is not None:
        state = "stopped"
    elif now > aml.sar_due_at or aml.sar_breached_at is not None:
        state = "breached"
    else:
        state = "running"
    days_left = None
    if state in ("running", "breached"):
        days_left = (
            (aml.sar_due_at - now).days
            if now <= aml.sar_due_at
            else -((now - aml.sar_due_at).days + 1)
        )
    return SarClock(
        detected_at=aml.detected_at,
        due_at=aml.sar_due_at,
        state=state,
        days_left=days_left,
        decision=aml.sar_decision if sees_sar or aml.sar_decision is None else MLRO_DECIDED,
        decided_at=aml.sar_decided_at,
        on_time=(aml.sar_decided_at <= aml.sar_due_at) if aml.sar_decided_at else None,
        breached_at=aml.sar_breached_at,
    )


def reason_label(kind: str, outcome: str, code: str | None) -> str | None:
    if not code:
        return None
    return REASONS_BY_KIND.get(kind, {}).get(outcome, {}).get(code, code)


async def aml_case_view(db: Database, actor: Actor, case: Case) -> AmlCaseView | None:
    """The AML section of a case page (the caller has checked the actor may see the case),
    through need-to-know: the narrative and the SAR decision only for those who may read them."""
    now = utcnow()
    know = NeedToKnow.of(actor)
    async with db.session() as session:
        aml = await session.get(AmlCase, case.id)
        if aml is None:
            return None
        customer = await session.get(Customer, aml.customer_id)
        accounts = list(
            (
                await session.exec(
                    select(Account)
                    .where(Account.customer_id == aml.customer_id)
                    .order_by(col(Account.opened_at))
                )
            ).all()
        )
        alert_rows = list(
            (
                await session.exec(
                    select(AmlAlert)
                    .where(AmlAlert.case_id == case.id)
                    .order_by(col(AmlAlert.detected_at).desc())
                )
            ).all()
        )
        current = (
            await session.exec(
                select(Task)
                .where(Task.case_id == case.id, col(Task.status).in_(["open", "claimed"]))
                .order_by(col(Task.created_at).desc())
            )
        ).first()
        alerted_ids = {tid for a in alert_rows for tid in a.transaction_ids}
        involved: dict[uuid.UUID, Transaction] = {}
        if alerted_ids:
            for t in (
                await session.exec(select(Transaction).where(col(Transaction.id).in_(alerted_ids)))
            ).all():
                involved[t.id] = t
        end_day = (case.closed_at or now).astimezone(UTC).date()
        start_day = end_day - timedelta(days=CHART_DAYS - 1)
        first, after = day_bounds(start_day, end_day)
        window = {"c": aml.customer_id, "start": first, "end": after}
        sums = (
            await run_sql(
                session,
                "SELECT (booked_at AT TIME ZONE 'UTC')::date, currency, direction, sum(amount), count(*) "
                'FROM "transaction" WHERE customer_id = :c AND booked_at >= :start AND booked_at < :end '
                "GROUP BY 1, 2, 3",
                window,
            )
        ).all()
        table = list(
            (
                await session.exec(
                    select(Transaction)
                    .where(
                        Transaction.customer_id == aml.customer_id,
                        col(Transaction.booked_at) >= window["start"],
                        col(Transaction.booked_at) < window["end"],
                    )
                    .order_by(col(Transaction.booked_at).desc())
                    .limit(TABLE_TRANSACTIONS)
                )
            ).all()
        )
        previous = [
            PreviousCase(
                c.id,
                c.reference,
                c.status,
                c.opened_at,
                c.closed_at,
                know.case_outcome(c.case_type, c.outcome),
            )
            for c in (
                await session.exec(
                    select(Case)
                    .where(
                        Case.case_type == CASE_TYPE_AML,
                        Case.customer_id == aml.customer_id,
                        Case.id != case.id,
                    )
                    .order_by(col(Case.opened_at).desc())
                    .limit(20)
                )
            ).all()
        ]
        decisions = [
            TierDecision(
                tier_label=TIER_LABELS.get(KIND_TIER.get(kind, ""), kind),
                decided_by=who or "?",
                outcome=d.outcome,
                reason_code=d.reason_code,
                reason_label=reason_label(kind, d.outcome, d.reason_code),
                rationale=d.comment,
                decided_at=d.decided_at,
            )
            for d, kind, who in (
                (know.decision(CASE_TYPE_AML, d), kind, who)
                for d, kind, who in (
                    await session.exec(
                        select(Decision, Task.kind, StaffUser.display_name)
                        .join(Task, col(Task.id) == Decision.task_id)
                        .outerjoin(StaffUser, col(StaffUser.id) == Decision.actor_id)
                        .where(Decision.case_id == case.id)
                        .order_by(col(Decision.decided_at))
                    )
                ).all()
            )
        ]
        sar_reference = (
            await session.exec(select(SarReport.reference).where(SarReport.case_id == case.id))
        ).first()
        restrictions = await case_restrictions(session, case.id)
    if restrictions is not None:
        restrictions.restrictions = know.case_restrictions(restrictions.restrictions)
    if not know.sar:
        sar_reference = None
    ibans = {a.id: format_iban(a.iban) for a in accounts}
    # The customer's activity examined is part of the case's narrative.
    sees_transactions = can(actor, "transaction", "read") and know.aml_narrative
    opened = current.created_at if current else None
    view = AmlCaseView(
        aml=aml,
        tier_label=TIER_LABELS.get(case.stage, case.stage.replace("_", " ")),
        clock=sar_clock(aml, now, sees_sar=know.sar),
        customer=customer if can(actor, "customer", "read") else None,
        accounts=accounts,
        ibans=ibans,
        alerts=[
            AlertItem(
                alert=know.alert(a),
                transactions=sorted(
                    (involved[t] for t in a.transaction_ids if t in involved),
                    key=lambda t: t.booked_at,
                )
                if sees_transactions
                else [],
                is_new=opened is not None and a.detected_at > opened,
            )
            for a in alert_rows
        ],
        current_task_opened=opened,
        sees_transactions=sees_transactions,
        window_start=start_day,
        window_end=end_day,
        previous=previous,
        decisions=decisions,
        sar_reference=sar_reference,
        sees_narrative=know.aml_narrative,
        restrictions=restrictions,
    )
    if sees_transactions:
        view.transactions = table
        view.transactions_total = sum(int(n) for *_, n in sums)
        view.alerted_transaction_ids = alerted_ids
        view.charts = _flow_charts(sums, alert_rows, end_day)
    return view


def _flow_charts(sums: Any, alerts: list[AmlAlert], end_day: date) -> list[FlowChart]:
    """One chart per currency (amounts of different currencies are never added up)."""
    per_currency: dict[str, dict[date, list[Decimal]]] = defaultdict(dict)
    counts: dict[str, int] = defaultdict(int)
    for day, currency, direction, total, n in sums:
        slot = per_currency[currency].setdefault(day, [Decimal(0), Decimal(0)])
        slot[0 if direction == "in" else 1] += Decimal(total)
        counts[currency] += int(n)
    alert_days = {a.detected_at.astimezone(UTC).date() for a in alerts}
    busiest = sorted(counts, key=lambda c: (-counts[c], c))[:3]
    return [
        flow_chart(
            {d: (v[0], v[1]) for d, v in per_currency[c].items()},
            alert_days,
            end=end_day,
            currency=c,
            span_days=CHART_DAYS,
        )
        for c in busiest
    ] or [flow_chart({}, alert_days, end=end_day, currency="", span_days=CHART_DAYS)]


# ----------------------------------------------------------------------------- SAR
def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def sar_times(data: dict[str, Any]) -> dict[str, Any]:
    """The report's stored ISO timestamps as datetimes, for display (the data stays as filed)."""
    return {
        "filed_at": _when(data.get("filed_at")),
        "detected_at": _when(data.get("detected_at")),
        "sar_due_at": _when(data.get("sar_due_at")),
        "alerts": [_when(a.get("detected_at")) for a in data.get("alerts", [])],
        "transactions": [_when(t.get("booked_at")) for t in data.get("transactions", [])],
    }


async def sar_report(db: Database, actor: Actor, case_id: uuid.UUID) -> SarReport | None:
    """The SAR filed on the case; None when there is none.

    Need-to-know: the MLRO and auditors only (`sar:read`). Everyone else is refused (403,
    audited) before anything is looked up, so the answer says nothing about the case."""
    await require(
        db, actor, "sar", "read", action="aml.sar.read", object_type="case", object_id=case_id
    )
    async with db.session() as session:
        return (await session.exec(select(SarReport).where(SarReport.case_id == case_id))).first()
