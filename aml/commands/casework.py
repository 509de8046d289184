"""Alerts of one customer gather into one open AML case.

`route_alerts` runs inside the ingest's transaction, after the alerts are flushed: per
customer it takes an advisory lock, finds the open case (the database allows only one:
`uq_aml_case_open_customer`) or opens one, attaches the alerts, recomputes the case's
priority from all its alerts (`aml.engines.priority`) and hands the alerts to the case's
workflow by signal-with-start. The case's close step takes the same lock, so an alert
attached just before a case closes keeps it open rather than being lost.

When the signal goes out is the caller's choice:

- **the API ingest** signals before its transaction commits (`signal=True`): a refused
  signal rolls the ingest back and the sender retries, so nothing is half-done; an ingest
  that fails after the signal leaves the workflow with alert ids it will not find and
  ignores. A new case's workflow may run its first activity before the commit and retries
  it (`not_committed_yet`): rare for one API batch.
- **the bulk import** routes with `signal=False`, commits the slice, then calls
  `signal_cases` with the routes: every workflow starts on a committed case (no retries,
  however many cases one slice opens). A failed signal after the commit cannot roll the
  slice back, so it is retried (`SIGNAL_ATTEMPTS`) and then reported with the cases it
  left unsignalled; `signal_cases` is idempotent (signal-with-start, alert ids as a set),
  so signalling those again later is safe.

The priority only rises here: an alert never makes a case less urgent, and an escalation's
priority is not undone by the next batch.
"""

from __future__ import annotations

import asyncio
import json
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

from aml.engines.priority import CaseFacts, CasePriority, case_priority
from audit import trail as audit
from audit.trail import ActorRef
from casework import priority as priority_rule
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
    signal: bool = True,
) -> list[CaseRoute]:
    """Attach new alerts to their customer's open case (opening one if needed), recompute
    its priority, and signal it (with `signal=False`, the caller signals the routes with
    `signal_cases` once its transaction has committed)."""
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
        ranked = await reprioritise(session, case.id)
        events.append(
            {
                "action": "aml.alerts_attached",
                "object_id": case.id,
                "workflow_id": case.workflow_id,
                "details": {
                    "alerts": [str(a.id) for a in mine],
                    "rules": sorted({a.rule_key for a in mine}),
                    "priority_score": ranked.score,
                    "priority": ranked.priority,
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
    if signal:
        await signal_cases(temporal, task_queue, routes)
    for event in events:
        await audit.record(session, actor=actor, object_type="case", **event)
    return routes


_FACTS_SQL = """
SELECT count(*) AS alerts,
       max(CASE a.severity WHEN 'high' THEN 3 WHEN 'medium' THEN 2 WHEN 'low' THEN 1
           ELSE 0 END) AS severity,
       max(CASE WHEN jsonb_typeof(a.details->'score') = 'number'
           THEN (a.details->>'score')::numeric END) AS rule_score,
       max(CASE WHEN jsonb_typeof(a.details->'network'->'accounts') = 'array'
           THEN jsonb_array_length(a.details->'network'->'accounts') END) AS reach,
       (SELECT coalesce(sum(t.amount_eur), 0) FROM transaction t
        WHERE t.id IN (SELECT unnest(b.transaction_ids) FROM aml_alert b
                       WHERE b.case_id = :case_id)) AS amount_eur,
       (SELECT cu.risk_level FROM aml_case ac JOIN customer cu ON cu.id = ac.customer_id
        WHERE ac.case_id = :case_id) AS risk
FROM aml_alert a WHERE a.case_id = :case_id
"""
_SEVERITY_NAMES = {3: "high", 2: "medium", 1: "low"}
# A stored priority's rank (casework.priority.RANK), unknown ones as normal.
_RANK_SQL = (
    "CASE priority "
    + " ".join(f"WHEN '{name}' THEN {rank}" for name, rank in priority_rule.RANK.items())
    + f" ELSE {priority_rule.rank(None)} END"
)


async def reprioritise(session: AsyncSession, case_id: uuid.UUID) -> CasePriority:
    """Score the case from all its alerts and its customer; store the score and reasons,
    and raise (never lower) the case's and its open tasks' priority to what it implies
    when that is above normal."""
    row = (await run_sql(session, _FACTS_SQL, {"case_id": case_id})).one()
    ranked = case_priority(
        CaseFacts(
            alerts=int(row.alerts),
            top_severity=_SEVERITY_NAMES.get(int(row.severity or 0)),
            top_rule_score=int(row.rule_score) if row.rule_score is not None else None,
            amount_eur=row.amount_eur,
            network_accounts=int(row.reach or 0),
            customer_risk=row.risk,
        )
    )
    await run_sql(
        session,
        "UPDATE aml_case SET priority_score = :score, priority_reasons = CAST(:reasons AS jsonb) "
        "WHERE case_id = :case_id",
        {"score": ranked.score, "reasons": json.dumps(ranked.reasons), "case_id": case_id},
    )
    if ranked.priority == priority_rule.DEFAULT_PRIORITY:
        return ranked  # nothing to raise: a task opened low stays low
    rank_sql = _RANK_SQL
    params = {"p": ranked.priority, "r": priority_rule.rank(ranked.priority), "case_id": case_id}
    await run_sql(
        session,
        f'UPDATE "case" SET priority = :p WHERE id = :case_id AND {rank_sql} < :r',  # noqa: S608 (fixed fragment)
        params,
    )
    await run_sql(
        session,
        f"UPDATE task SET priority = :p WHERE case_id = :case_id "  # noqa: S608 (fixed fragment)
        f"AND status IN ('open', 'claimed') AND {rank_sql} < :r",
        params,
    )
    return ranked


SIGNAL_ATTEMPTS = 5


class CasesNotSignalled(Exception):
    """Signals that failed after their alerts were committed: the cases to signal again."""

    def __init__(self, references: Sequence[str], cause: BaseException) -> None:
        self.references = list(references)
        super().__init__(
            f"{len(self.references)} case(s) have new alerts their workflow was not told about "
            f"({', '.join(self.references[:10])}{', ...' if len(self.references) > 10 else ''}): "
            f"{cause}"
        )


async def signal_committed(
    temporal: Client, task_queue: str, routes: Sequence[CaseRoute], *, pause: float = 1.0
) -> None:
    """Signal cases whose alerts are committed: retried, then `CasesNotSignalled`."""
    for attempt in range(1, SIGNAL_ATTEMPTS + 1):
        try:
            await signal_cases(temporal, task_queue, routes)
            return
        except Exception as exc:
            if attempt == SIGNAL_ATTEMPTS:
                raise CasesNotSignalled([r.reference for r in routes], exc) from exc
            await asyncio.sleep(pause * attempt)


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
