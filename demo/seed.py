"""Demo data, so a fresh `make run` shows a living back office rather than empty pages.

Staff for every role, three tariff plans (EUR, USD, GBP) with fees and limits, and change
requests in every state. The changes go through the real entry points (propose, claim,
decide, withdraw) with a short-lived worker of our own, so the seed exercises the same
workflow, audit and segregation paths as a person would.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from decimal import Decimal

from sqlmodel import select
from temporalio.client import Client

from casework import tasks as task_service
from casework.registry import task_id_for
from changes.commands import requests as change_service
from core.db import Database
from core.settings import Settings
from demo.mfa import stepped_up
from identity import staff as staff_service
from identity.actors import Actor
from identity.auth import roles_of
from models.base import utcnow
from models.cases import Task
from models.changes import ChangeCreate, ChangeCreated, ChangeRequest, ChangeValue
from models.staff import StaffUser
from models.tariffs import Fee, FeeVersion, Limit, LimitVersion, TariffPlan
from models.workflow_io import Origin

log = logging.getLogger(__name__)

DEMO_PASSWORD = "demo-password"  # noqa: S105 (printed by `make run`; seed refuses production)

DEMO_STAFF: list[tuple[str, str, list[str]]] = [
    ("pm.paula", "Paula Moreau", ["product_manager"]),
    ("pm.pedro", "Pedro Alves", ["product_manager"]),
    ("ops.olga", "Olga Berg", ["ops_manager"]),
    ("ops.omar", "Omar Haddad", ["ops_manager"]),
    ("risk.rita", "Rita Kowalski", ["risk_manager"]),
    ("risk.raj", "Raj Mehta", ["risk_manager"]),
    ("dual.dana", "Dana Fischer", ["product_manager", "ops_manager"]),
    ("audit.ada", "Ada Laurent", ["auditor"]),
    ("eng.eli", "Eli Novak", ["engineer"]),
    # A second engineer: a repair of a process ended outside backoffice is four-eyes.
    ("eng.emi", "Emi Tanaka", ["engineer"]),
    ("admin.alex", "Alex Smith", ["admin"]),
    # A second admin: role grants are four-eyes (alex proposes, ava approves, or the reverse).
    ("admin.ava", "Ava Reyes", ["admin"]),
    ("support.sam", "Sam Okafor", ["support"]),
    ("kyc.kim", "Kim Tanaka", ["kyc_analyst"]),
    ("kyc.ken", "Ken Adeyemi", ["kyc_senior"]),
    ("kyc.kai", "Kai Lindqvist", ["kyc_analyst", "kyc_senior"]),
    ("svc.corebank", "Core banking (service account)", ["upstream_system"]),
    ("aml.ana", "Ana Silva", ["aml_analyst"]),
    ("aml.alba", "Alba Costa", ["aml_analyst"]),
    ("aml.ivan", "Ivan Petrov", ["aml_investigator"]),
    ("aml.ines", "Ines Moreau", ["aml_investigator"]),
    ("mlro.max", "Max Weber", ["mlro"]),
    ("mlro.mia", "Mia Jensen", ["mlro"]),
    ("disputes.dee", "Dee Murphy", ["disputes_agent"]),
    ("disputes.dan", "Dan Ortega", ["disputes_agent"]),
    ("finance.fay", "Fay Chen", ["finance_ops"]),
    # Team leads (casework/teams.py): assign their team's tasks, see its workload.
    ("aml.lena", "Lena Novak", ["aml_lead"]),
    ("kyc.kira", "Kira Holm", ["kyc_lead"]),
    ("disputes.dora", "Dora Quinn", ["disputes_lead"]),
    ("finance.finn", "Finn Larsen", ["finance_lead"]),
]

D = Decimal
# (code, name, segment, currency, default, domestic transfer type)
PLANS = [
    ("RETAIL-EUR", "Retail Standard (EUR)", "retail", "EUR", True, "sepa_transfer"),
    ("BUSINESS-USD", "Business Plus (USD)", "business", "USD", True, "ach_transfer"),
    ("PRIVATE-GBP", "Private Premier (GBP)", "private", "GBP", True, "faster_payment"),
]
# transaction type -> (fixed, percent, min, max); "domestic" is the plan's own rail
FEES: dict[str, dict[str, tuple[Decimal, Decimal, Decimal | None, Decimal | None]]] = {
    "RETAIL-EUR": {
        "card_purchase": (D("0"), D("0"), None, None),
        "card_purchase_fx": (D("0"), D("1.75"), D("0.50"), None),
        "atm_withdrawal": (D("2.00"), D("0"), None, None),
        "domestic": (D("0"), D("0"), None, None),
        "sepa_instant": (D("0.50"), D("0"), None, None),
        "swift_transfer": (D("15.00"), D("0.10"), D("15.00"), D("75.00")),
        "account_maintenance": (D("4.90"), D("0"), None, None),
    },
    "BUSINESS-USD": {
        "card_purchase": (D("0"), D("0.20"), None, D("5.00")),
        "card_purchase_fx": (D("0"), D("1.50"), D("0.50"), None),
        "atm_withdrawal": (D("3.00"), D("0"), None, None),
        "domestic": (D("0.25"), D("0"), None, None),
        "wire_transfer": (D("15.00"), D("0"), None, None),
        "swift_transfer": (D("25.00"), D("0.10"), D("25.00"), D("120.00")),
        "account_maintenance": (D("15.00"), D("0"), None, None),
    },
    "PRIVATE-GBP": {
        "card_purchase": (D("0"), D("0"), None, None),
        "card_purchase_fx": (D("0"), D("0.50"), None, None),
        "atm_withdrawal": (D("0"), D("0"), None, None),
        "domestic": (D("0"), D("0"), None, None),
        "swift_transfer": (D("10.00"), D("0"), None, None),
        "account_maintenance": (D("25.00"), D("0"), None, None),
    },
}
# (transaction type, period, amount)
LIMITS = {
    "RETAIL-EUR": [
        ("card_purchase", "per_transaction", D("5000")),
        ("card_purchase", "daily", D("10000")),
        ("atm_withdrawal", "daily", D("1000")),
        ("atm_withdrawal", "monthly", D("5000")),
        ("domestic", "daily", D("25000")),
        ("swift_transfer", "per_transaction", D("50000")),
    ],
    "BUSINESS-USD": [
        ("card_purchase", "per_transaction", D("25000")),
        ("card_purchase", "daily", D("50000")),
        ("atm_withdrawal", "daily", D("3000")),
        ("domestic", "daily", D("250000")),
        ("wire_transfer", "per_transaction", D("500000")),
        ("swift_transfer", "monthly", D("2000000")),
    ],
    "PRIVATE-GBP": [
        ("card_purchase", "per_transaction", D("20000")),
        ("card_purchase", "daily", D("5000")),
        ("atm_withdrawal", "daily", D("1000")),
        ("domestic", "daily", D("100000")),
        ("swift_transfer", "per_transaction", D("250000")),
    ],
}


async def seed_staff(db: Database) -> int:
    created = 0
    async with db.session() as session:
        existing = set((await session.exec(select(StaffUser.username))).all())
    for username, name, roles in DEMO_STAFF:
        if username in existing:
            continue
        await staff_service.create_user(
            db,
            username=username,
            password=DEMO_PASSWORD,
            roles=roles,
            display_name=name,
            email=f"{username}@example.com",
        )
        created += 1
    return created


async def seed_tariffs(db: Database) -> int:
    async with db.transaction() as session:
        if (await session.exec(select(TariffPlan.id))).first():
            return 0
        for code, name, segment, currency, default, domestic in PLANS:
            plan = TariffPlan(
                id=uuid.uuid4(),
                code=code,
                name=name,
                segment=segment,
                currency=currency,
                is_default=default,
            )
            session.add(plan)
            await session.flush()
            for tx_type, (fixed, pct, lo, hi) in FEES[code].items():
                fee = Fee(
                    id=uuid.uuid4(),
                    plan_id=plan.id,
                    transaction_type=domestic if tx_type == "domestic" else tx_type,
                    currency=currency,
                )
                session.add(fee)
                await session.flush()
                session.add(
                    FeeVersion(
                        fee_id=fee.id,
                        version=1,
                        fixed_amount=fixed,
                        percent=pct,
                        min_amount=lo,
                        max_amount=hi,
                        note="initial tariff",
                    )
                )
            for tx_type, period, amount in LIMITS[code]:
                limit = Limit(
                    id=uuid.uuid4(),
                    plan_id=plan.id,
                    transaction_type=domestic if tx_type == "domestic" else tx_type,
                    period=period,
                    currency=currency,
                )
                session.add(limit)
                await session.flush()
                session.add(
                    LimitVersion(limit_id=limit.id, version=1, amount=amount, note="initial tariff")
                )
        return len(PLANS)


async def actor_named(db: Database, username: str) -> Actor:
    async with db.session() as session:
        user = (await session.exec(select(StaffUser).where(StaffUser.username == username))).one()
        roles = await roles_of(session, user.id)
    actor = Actor(
        user.id,
        user.username,
        user.display_name,
        roles,
        Origin(channel="system", request_id=f"seed-{uuid.uuid4().hex[:12]}"),
    )
    # The seed plays this person, second factor included (approvals need a step-up).
    return await stepped_up(db, actor)


async def _target(
    db: Database, plan_code: str, kind: str, tx_type: str, period: str | None = None
) -> uuid.UUID:
    async with db.session() as session:
        plan = (await session.exec(select(TariffPlan).where(TariffPlan.code == plan_code))).one()
        if kind == "fee":
            row = (
                await session.exec(
                    select(Fee.id).where(Fee.plan_id == plan.id, Fee.transaction_type == tx_type)
                )
            ).one()
        else:
            row = (
                await session.exec(
                    select(Limit.id).where(
                        Limit.plan_id == plan.id,
                        Limit.transaction_type == tx_type,
                        Limit.period == period,
                    )
                )
            ).one()
    return row


async def seed_changes(db: Database, temporal: Client, settings: Settings) -> int:
    """Change requests in every state, made through the real entry points."""
    async with db.session() as session:
        if (await session.exec(select(ChangeRequest.id))).first():
            return 0

    async def propose(
        maker: str,
        kind: str,
        plan: str,
        tx: str,
        changes: dict[str, ChangeValue],
        reason: str,
        period: str | None = None,
        effective_in: timedelta | None = None,
    ) -> ChangeCreated:
        data = ChangeCreate(
            target_type="fee" if kind == "fee" else "limit",
            target_id=await _target(db, plan, kind, tx, period),
            changes=changes,
            reason=reason,
            effective_at=utcnow() + effective_in if effective_in else None,
        )
        return await change_service.propose_change(
            db, temporal, settings, await actor_named(db, maker), data
        )

    async def decide(
        checker: str,
        task_key: str,
        created: ChangeCreated,
        outcome: str,
        reason: str | None = None,
        comment: str | None = None,
    ) -> None:
        actor = await actor_named(db, checker)
        await work_task(
            db,
            temporal,
            actor,
            created.workflow_id,
            task_key,
            outcome or None,
            reason=reason,
            comment=comment,
        )

    c1 = await propose(
        "pm.paula",
        "fee",
        "RETAIL-EUR",
        "card_purchase_fx",
        {"percent": "1.50"},
        "Match competitor FX pricing for the winter travel campaign.",
    )
    c2 = await propose(
        "pm.pedro",
        "fee",
        "BUSINESS-USD",
        "swift_transfer",
        {"fixed_amount": "30.00"},
        "Correspondent bank raised its charges by USD 5 per payment.",
    )
    await decide("ops.omar", "approve", c2, "")  # claimed, still being reviewed
    c3 = await propose(
        "risk.rita",
        "limit",
        "PRIVATE-GBP",
        "atm_withdrawal",
        {"amount": "2000.00"},
        "Private clients travelling ask for higher cash access.",
        period="daily",
    )
    await decide(
        "risk.raj", "risk_approve", c3, "approve", comment="Within risk appetite for the segment."
    )
    c4 = await propose(
        "pm.paula",
        "fee",
        "RETAIL-EUR",
        "atm_withdrawal",
        {"fixed_amount": "2.50"},
        "Interchange on out-of-network ATMs increased.",
    )
    await decide(
        "ops.olga", "approve", c4, "approve", comment="Checked against the interchange notice."
    )
    c5 = await propose(
        "pm.pedro",
        "fee",
        "BUSINESS-USD",
        "account_maintenance",
        {"fixed_amount": "25.00"},
        "Align the monthly fee with the premium business segment.",
    )
    await decide(
        "ops.olga",
        "approve",
        c5,
        "reject",
        reason="policy_breach",
        comment="A 67% increase needs a customer notice period first.",
    )
    c6 = await propose(
        "pm.paula",
        "fee",
        "RETAIL-EUR",
        "sepa_transfer",
        {"fixed_amount": "0.20"},
        "Recover SEPA processing costs for retail customers.",
    )
    await change_service.withdraw_change(
        db,
        temporal,
        await actor_named(db, "pm.paula"),
        c6.id,
        "Marketing wants free SEPA to stay in the campaign.",
    )
    c7 = await propose(
        "pm.pedro",
        "limit",
        "PRIVATE-GBP",
        "card_purchase",
        {"amount": "6000.00"},
        "Seasonal spending uplift from 1 December.",
        period="daily",
        effective_in=timedelta(days=7),
    )
    await decide("ops.olga", "approve", c7, "approve", comment="Fine from the effective date.")
    # Two proposals for one fee: applying the second voids the first (bound to version 1).
    await propose(
        "pm.pedro",
        "fee",
        "RETAIL-EUR",
        "swift_transfer",
        {"fixed_amount": "17.00"},
        "Pass on the correspondent bank's new charge.",
    )
    c9 = await propose(
        "pm.paula",
        "fee",
        "RETAIL-EUR",
        "swift_transfer",
        {"fixed_amount": "18.00", "max_amount": "80.00"},
        "New SWIFT pricing agreed with treasury, cap included.",
    )
    await decide("ops.omar", "approve", c9, "approve", comment="Matches the treasury memo.")
    del c1
    return 9


async def work_task(
    db: Database,
    temporal: Client,
    actor: Actor,
    workflow_id: str,
    task_key: str,
    outcome: str | None,
    *,
    reason: str | None = None,
    comment: str | None = None,
) -> None:
    """Claim a workflow's task once it exists and, unless `outcome` is None, decide it."""
    task_id = task_id_for(workflow_id, task_key)
    for _ in range(200):
        async with db.session() as session:
            if await session.get(Task, task_id):
                break
        await asyncio.sleep(0.05)
    else:
        raise RuntimeError(f"task {task_id} was not created; is a worker running?")
    await task_service.claim_task(db, actor, task_id)
    if outcome is not None:
        actor = await stepped_up(db, actor)  # a fresh second factor (step-up), as a person would
        await task_service.decide_task(
            db, temporal, actor, task_id, outcome=outcome, reason=reason, comment=comment
        )
