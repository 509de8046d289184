"""Rules running in shadow: the alerts they recorded (never routed) and what they would have done.

A shadow alert (`aml_alert.shadow`) is stored with no case. Had its rule been live, it would
have joined the customer's open AML case, or opened one; an L1 analyst would have spent the
AML case policy's handling time on it. Per rule: alerts, accounts, customers, the cases it
would have opened, customers already in a case that ended in a SAR, and the L1 hours.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from aml.policy import AmlCasePolicy
from casework.need_to_know import NeedToKnow
from configuration.documents import load_typed
from core.db import Database, run_sql
from identity.access import require
from identity.actors import Actor

# Per shadow alert: its customer's AML case open now (if any), and whether any of the
# customer's cases ended in a SAR.
_ROWS = (
    "SELECT a.id, a.detected_at, a.rule_key, a.rule_version, a.severity, a.reason, "
    "a.account_id, a.customer_id, cu.reference AS customer_reference, "
    "open_case.id AS open_case_id, open_case.reference AS open_case_reference, "
    "EXISTS (SELECT 1 FROM aml_case s WHERE s.customer_id = a.customer_id "
    "AND s.sar_decision = 'sar') AS sar_customer "
    "FROM aml_alert a JOIN customer cu ON cu.id = a.customer_id "
    'LEFT JOIN LATERAL (SELECT c.id, c.reference FROM aml_case ac JOIN "case" c '
    "ON c.id = ac.case_id WHERE ac.customer_id = a.customer_id AND ac.closed_at IS NULL "
    "LIMIT 1) open_case ON true "
    "WHERE a.shadow AND (CAST(:rule AS text) IS NULL OR a.rule_key = :rule)"
)

_SUMMARY = (
    "SELECT rule_key, array_agg(DISTINCT rule_version ORDER BY rule_version) AS v, "
    "count(*) AS alerts, count(DISTINCT account_id) AS accounts, "
    "count(DISTINCT customer_id) AS customers, "
    "count(DISTINCT customer_id) FILTER (WHERE open_case_id IS NULL) AS would_open, "
    "count(*) FILTER (WHERE open_case_id IS NOT NULL) AS would_join, "
    "count(DISTINCT customer_id) FILTER (WHERE sar_customer) AS sar_customers, "
    "min(detected_at) AS first_at, max(detected_at) AS last_at "
    "FROM (" + _ROWS + ") r GROUP BY rule_key ORDER BY rule_key"
)
_COUNT = "SELECT count(*) FROM (" + _ROWS + ") r"  # noqa: S608 (constants only)


class ShadowRule(BaseModel):
    rule_key: str
    versions: list[int]
    alerts: int
    accounts: int
    customers: int
    would_open: int = Field(description="Customers with no open AML case: cases it would open.")
    would_join: int = Field(description="Alerts that would join a customer's open AML case.")
    sar_customers: int = Field(description="Its customers whose case once ended in a SAR.")
    l1_hours: float = Field(description="L1 time its alerts would have cost (AML case policy).")
    first_at: datetime
    last_at: datetime


class ShadowAlert(BaseModel):
    id: uuid.UUID
    detected_at: datetime
    rule_key: str
    rule_version: int
    severity: str
    reason: str | None = Field(description="Null for readers of AML metadata only.")
    customer_id: uuid.UUID
    customer_reference: str
    would: str = Field(description="What it would have done had its rule been live.")
    open_case_id: uuid.UUID | None


class ShadowPage(BaseModel):
    rules: list[ShadowRule]
    items: list[ShadowAlert]
    total: int
    page: int
    per_page: int
    l1_minutes_per_alert: int


async def shadow_alerts(
    db: Database, actor: Actor, *, rule: str | None = None, page: int = 1, per_page: int = 25
) -> ShadowPage:
    """Shadow rules' summaries and their alerts, newest first (filtered by rule, paged)."""
    await require(db, actor, "aml", "read", action="aml.shadow.list", object_type="aml_alert")
    _, policy = await load_typed(db, "aml_case", AmlCasePolicy)
    minutes = policy.l1_minutes_per_alert
    async with db.session() as session:
        summary = (
            await run_sql(
                session,
                _SUMMARY,
                {"rule": None},
            )
        ).all()
        total = int(
            (
                await run_sql(
                    session,
                    _COUNT,
                    {"rule": rule},
                )
            ).scalar_one()
        )
        rows = (
            await run_sql(
                session,
                f"{_ROWS} ORDER BY a.detected_at DESC, a.id LIMIT :limit OFFSET :offset",
                {"rule": rule, "limit": per_page, "offset": (max(page, 1) - 1) * per_page},
            )
        ).all()
    know = NeedToKnow.of(actor)
    return ShadowPage(
        rules=[
            ShadowRule(
                rule_key=s.rule_key,
                versions=list(s.v),
                alerts=s.alerts,
                accounts=s.accounts,
                customers=s.customers,
                would_open=s.would_open,
                would_join=s.would_join,
                sar_customers=s.sar_customers,
                l1_hours=round(s.alerts * minutes / 60, 1),
                first_at=s.first_at,
                last_at=s.last_at,
            )
            for s in summary
        ],
        items=[
            ShadowAlert(
                id=r.id,
                detected_at=r.detected_at,
                rule_key=r.rule_key,
                rule_version=r.rule_version,
                severity=r.severity,
                reason=r.reason if know.aml_narrative else None,
                customer_id=r.customer_id,
                customer_reference=r.customer_reference,
                would=(
                    f"join {r.open_case_reference} (open)"
                    if r.open_case_id
                    else "open a new AML case"
                ),
                open_case_id=r.open_case_id,
            )
            for r in rows
        ],
        total=total,
        page=page,
        per_page=per_page,
        l1_minutes_per_alert=minutes,
    )
