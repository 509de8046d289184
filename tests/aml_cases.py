"""An AML case with one alert, routed through the real routing code (tests only)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from temporalio.client import Client

from core.db import Database, run_sql
from domain.aml.casework import route_alerts
from domain.audit import SYSTEM
from domain.onboarding.accounts import iban_for
from models.aml import AmlAlert, Transaction
from models.base import utcnow
from models.onboarding import Account, Customer
from tests.helpers import new_plan


@dataclass
class Routed:
    case_id: uuid.UUID
    workflow_id: str
    customer_id: uuid.UUID


async def customer_with_account(
    db: Database, *, name: str | None = None
) -> tuple[Customer, Account]:
    """A (migrated) customer with one EUR account."""
    plan = await new_plan(db, segment="retail")
    async with db.transaction() as session:
        number = (await run_sql(session, "SELECT nextval('customer_reference_seq')")).scalar_one()
        serial = (await run_sql(session, "SELECT nextval('account_number_seq')")).scalar_one()
        customer = Customer(
            reference=f"CUS-{number}",
            kind="individual",
            name=name or f"Test Person {number}",
            segment="retail",
            country="DE",
            risk_level="low",
            legacy_ref=f"T-{uuid.uuid4().hex[:10]}",
        )
        session.add(customer)
        await session.flush()
        account = Account(
            customer_id=customer.id, iban=iban_for(serial), currency="EUR", tariff_plan_id=plan.id
        )
        session.add(account)
    return customer, account


async def alerted_customer(
    db: Database, client: Client, task_queue: str, *, rule: str = "large_single"
) -> Routed:
    """A customer with one account, one transaction and one alert, routed to a new case."""
    customer, account = await customer_with_account(db)
    async with db.transaction() as session:
        tx = Transaction(
            external_id=f"tx-{uuid.uuid4().hex}",
            account_id=account.id,
            customer_id=customer.id,
            booked_at=utcnow(),
            amount=Decimal("25000.00"),
            currency="EUR",
            direction="out",
            channel="swift",
            counterparty_country="IR",
        )
        session.add(tx)
        await session.flush()
        alert = AmlAlert(
            dedupe_key=f"{rule}:{tx.id}",
            customer_id=customer.id,
            account_id=account.id,
            rule_key=rule,
            rule_version=1,
            transaction_ids=[tx.id],
            reason="test alert",
        )
        session.add(alert)
        await session.flush()
        routes = await route_alerts(session, client, task_queue, [alert], actor=SYSTEM)
    return Routed(routes[0].case_id, routes[0].workflow_id, customer.id)
