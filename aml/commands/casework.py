"""Alerts of one customer gather into one open AML case.

`route_alerts` runs inside the ingest's transaction, after the alerts are flushed: per
customer it takes an advisory lock, finds the open case (the database allows only one:
`uq_aml_case_open_customer`) or opens one, attaches the alerts, and hands them to the
case's workflow by signal-with-start. The signal goes out before the transaction commits,
so a refused signal rolls the ingest back (the sender retries; nothing is half-done), and
an ingest that fails after the signal leaves the workflow with alert ids it will not find
and ignores. The case's close step takes the same lock, so an alert attached just before a
case closes keeps it open rather than being lost.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from audit import trail as audit
from audit.trail import ActorRef
from casework import store
from casework.starting import start_case
from core.db import run_sql
from models.aml import AmlAlert, AmlCase, Tier
from models.aml_io import AlertsAdded, AmlCaseInput
from models.base import utcnow
from models.cases import Case
from models.onboarding import Customer

CASE_TYPE_AML = "aml"
# The SAR deadline at case opening, before the workflow reads the configured policy.
DEFAULT_SAR_DAYS = 30


def customer_lock_key(customer_id: uuid.UUID) -> int:
    """One advisory-lock key per customer (63 bits of its id)."""
    return customer_id.int >> 65


def workflow_id_for(case_id: uuid.UUID) -> str:
    return f"aml-{case_id}"


@dataclass
class CaseRoute:
    case_id: uuid.UUID
    reference: str
    customer_id: uuid.UUID
    workflow_id: str
    opened: bool
    detected_at: datetime
    case: Case
    alert_ids: list[uuid.UUID] = field(default_factory=list)


async def lock_customer(session: AsyncSession, customer_id: uuid.UUID) -> None:
    await run_sql(
        session, "SELECT pg_advisory_xact_lock(:k)", {"k": customer_lock_key(customer_id)}
    )


async def _open_case(session: AsyncSession, customer_id: uuid.UUID) -> AmlCase | None:
    return (
        await session.exec(
            select(AmlCase).where(
                AmlCase.customer_id == customer_id,
                AmlCase.closed_at == None,  # noqa: E711  (SQL IS NULL)
            )
        )
    ).first()


async def _new_case(
    session: AsyncSession, customer: Customer, detected_at: datetime
) -> tuple[Case, AmlCase]:
    case_id = uuid.uuid4()
    case = await store.open_case(
        session,
        case_type=CASE_TYPE_AML,
        case_id=case_id,
        title=f"AML alerts on {customer.reference}",
        stage=Tier.L1,
        priority="high" if customer.risk_level == "high" else "normal",
        risk_level=customer.risk_level,
        subject_type="customer",
        subject_id=str(customer.id),
        workflow_id=workflow_id_for(case_id),
        opened_at=detected_at,
        customer_id=customer.id,
    )
    aml = AmlCase(
        case_id=case_id,
        customer_id=customer.id,
        detected_at=detected_at,
        sar_due_at=detected_at + timedelta(days=DEFAULT_SAR_DAYS),
    )
    session.add(aml)
    await session.flush()
    return case, aml


async def route_alerts(
    session: AsyncSession,
    temporal: Client,
    task_queue: str,
    alerts: Sequence[AmlAlert],
    *,
    actor: ActorRef,
) -> list[CaseRoute]:
    """Attach new alerts to their customer's open case (opening one if needed) and signal it."""
    by_customer: dict[uuid.UUID, list[AmlAlert]] = defaultdict(list)
    for alert in alerts:
        by_customer[alert.customer_id].append(alert)
    routes: list[CaseRoute] = []
    events: list[dict[str, Any]] = []
    now = utcnow()
    # Every customer lock first, in sorted order: two ingests alerting on overlapping
    # customers then never wait on each other in opposite orders. The audit events come
    # last, after the signals: the audit chain's lock is never held across calls to Temporal.
    customers = sorted(by_customer)
    for customer_id in customers:
        await lock_customer(session, customer_id)
    for customer_id in customers:
        mine = by_customer[customer_id]
        aml = await _open_case(session, customer_id)
        opened = aml is None
        if aml is None:
            customer = await session.get(Customer, customer_id)
            assert customer is not None
            case, aml = await _new_case(session, customer, now)
            events.append(
                {
                    "action": "aml.case_opened",
                    "object_id": case.id,
                    "workflow_id": case.workflow_id,
                    "details": {"reference": case.reference, "customer_id": customer.id},
                }
            )
        else:
            found = await session.get(Case, aml.case_id)
            assert found is not None
            case = found
        for alert in mine:
            alert.case_id = case.id
            session.add(alert)
        await session.flush()
        events.append(
            {
                "action": "aml.alerts_attached",
                "object_id": case.id,
                "workflow_id": case.workflow_id,
                "details": {
                    "alerts": [str(a.id) for a in mine],
                    "rules": sorted({a.rule_key for a in mine}),
                },
            }
        )
        routes.append(
            CaseRoute(
                case_id=case.id,
                reference=case.reference,
                customer_id=customer_id,
                workflow_id=case.workflow_id,
                opened=opened,
                detected_at=aml.detected_at,
                case=case,
                alert_ids=[a.id for a in mine],
            )
        )
    await signal_cases(temporal, task_queue, routes)
    for event in events:
        await audit.record(session, actor=actor, object_type="case", **event)
    return routes


async def signal_cases(temporal: Client, task_queue: str, routes: Sequence[CaseRoute]) -> None:
    """Signal-with-start each case's workflow: a running case gets the alerts, no second run starts."""

    async def one(route: CaseRoute) -> None:
        await start_case(
            None,  # audited by the caller once every case is signalled
            temporal,
            route.case,
            AmlCaseInput(
                case_id=route.case_id,
                customer_id=route.customer_id,
                reference=route.reference,
                detected_at=route.detected_at,
            ),
            task_queue=task_queue,
            event=None,
            summary=f"{route.reference} AML case",
            what="the alerts",
            status=Tier.L1.value,
            # A running case gets the alerts; a case whose run ended outside starts again.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            start_signal="add_alerts",
            start_signal_args=[AlertsAdded(alert_ids=route.alert_ids)],
        )

    await asyncio.gather(*(one(r) for r in routes))
