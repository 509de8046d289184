"""Every alert the rules raised, searchable: by rule, severity, case state, detection days and
customer (name or reference), newest first, with the case each went to."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import or_
from sqlmodel import col, func, select

from aml.rule_policy import rule_title
from casework.need_to_know import NeedToKnow
from core.db import Database
from identity.access import require
from identity.actors import Actor
from models.aml import AmlAlert
from models.cases import Case
from models.onboarding import Customer
from shared.days import within_days

SEVERITIES = ("high", "medium", "low")
CASE_STATES = ("open", "closed")


class AlertListItem(BaseModel):
    id: uuid.UUID
    detected_at: datetime
    rule_key: str
    rule_title: str
    rule_version: int
    severity: str
    reason: str | None = Field(
        description="The alert's text: part of the case's narrative, null for readers of "
        "AML metadata only (engineers)."
    )
    transactions: int = Field(description="How many transactions the alert involves.")
    customer_id: uuid.UUID
    customer_reference: str
    customer_name: str
    case_id: uuid.UUID | None
    case_reference: str | None
    case_status: str | None
    case_stage: str | None
    case_outcome: str | None = Field(
        description="How the case closed; a SAR decision shows as mlro_decided to everyone "
        "but the MLRO and auditors."
    )


class AlertListPage(BaseModel):
    items: list[AlertListItem]
    total: int
    page: int
    per_page: int


async def list_alerts(
    db: Database,
    actor: Actor,
    *,
    rule: str | None = None,
    severity: str | None = None,
    case_state: str | None = None,
    q: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    page: int = 1,
    per_page: int = 25,
) -> AlertListPage:
    await require(db, actor, "aml", "read", action="aml.alerts.list", object_type="aml_alert")
    conditions: list[Any] = []
    if rule:
        conditions.append(AmlAlert.rule_key == rule)
    if severity:
        conditions.append(AmlAlert.severity == severity)
    if case_state:
        conditions.append(Case.status == case_state)
    conditions += within_days(col(AmlAlert.detected_at), date_from, date_to)
    if q:
        pattern = f"%{q.lower()}%"
        conditions.append(
            or_(
                func.lower(Customer.name).like(pattern),
                func.lower(Customer.reference).like(pattern),
                func.lower(Case.reference).like(pattern),
            )
        )
    base = (
        select(AmlAlert, Customer, Case)
        .join(Customer, col(Customer.id) == AmlAlert.customer_id)
        .outerjoin(Case, col(Case.id) == AmlAlert.case_id)
        .where(*conditions)
    )
    async with db.session() as session:
        total = (await session.exec(select(func.count()).select_from(base.subquery()))).one()
        rows = (
            await session.exec(
                base.order_by(col(AmlAlert.detected_at).desc(), col(AmlAlert.id))
                .offset((max(page, 1) - 1) * per_page)
                .limit(per_page)
            )
        ).all()
    know = NeedToKnow.of(actor)
    items = [
        AlertListItem(
            id=alert.id,
            detected_at=alert.detected_at,
            rule_key=alert.rule_key,
            rule_title=rule_title(alert.rule_key),
            rule_version=alert.rule_version,
            severity=alert.severity,
            reason=alert.reason if know.aml_narrative else None,
            transactions=len(alert.transaction_ids),
            customer_id=customer.id,
            customer_reference=customer.reference,
            customer_name=customer.name,
            case_id=case.id if case else None,
            case_reference=case.reference if case else None,
            case_status=case.status if case else None,
            case_stage=case.stage if case else None,
            case_outcome=know.case_outcome(case.case_type, case.outcome) if case else None,
        )
        for alert, customer, case in rows
    ]
    return AlertListPage(items=items, total=int(total), page=page, per_page=per_page)
