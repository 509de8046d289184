"""An AML case with one alert, routed through the real routing code (tests only)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from temporalio.client import Client

from aml.commands.casework import route_alerts
from audit.trail import SYSTEM
from core.db import Database
from models.aml import AmlAlert, Transaction
from models.base import utcnow
from models.onboarding import Account, Customer
from tests.aml_data import new_customers


@dataclass
class Routed:
    case_id: uuid.UUID
    workflow_id: str
    customer_id: uuid.UUID


async def customer_with_account(
    db: Database, *, name: str | None = None
) -> tuple[Customer, Account]:
    """A (migrated) customer with one EUR account, as table rows."""
    [made] = await new_customers(db, 1, name=name)
    async with db.session() as session:
        customer = await session.get(Customer, made.id)
        account = await session.get(Account, made.account_id)
    assert customer is not None and account is not None
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
