"""Test data for transaction monitoring: customers with accounts (made directly in the
database, unique names and IBANs) and transaction rows as the API takes them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.db import Database, run_sql
from models.base import utcnow
from models.onboarding import Account, Customer
from shared.iban import iban_for
from tests.helpers import new_plan

_plans: dict[int, uuid.UUID] = {}


@dataclass(frozen=True)
class AccountRef:
    id: uuid.UUID
    iban: str
    currency: str


@dataclass(frozen=True)
class CustomerRef:
    id: uuid.UUID
    reference: str
    name: str
    accounts: tuple[AccountRef, ...]

    @property
    def iban(self) -> str:
        return self.accounts[0].iban

    @property
    def account_id(self) -> uuid.UUID:
        return self.accounts[0].id


async def _plan(db: Database) -> uuid.UUID:
    """One tariff plan per database, made on first use (accounts need one)."""
    if id(db) not in _plans:
        _plans[id(db)] = (await new_plan(db, segment="retail")).id
    return _plans[id(db)]


async def new_customers(
    db: Database,
    count: int,
    *,
    prefix: str = "AML Test",
    currency: str = "EUR",
    opened_days_ago: int = 400,
    risk_level: str = "low",
    name: str | None = None,
    accounts: int = 1,
) -> list[CustomerRef]:
    """`count` customers with `accounts` accounts each, in one transaction (named `name`,
    or `prefix` and a unique tag)."""
    plan_id = await _plan(db)
    opened = utcnow() - timedelta(days=opened_days_ago)
    made: list[CustomerRef] = []
    async with db.transaction() as session:
        for _ in range(count):
            number = (
                await run_sql(session, "SELECT nextval('customer_reference_seq')")
            ).scalar_one()
            tag = uuid.uuid4().hex[:8]
            customer = Customer(
                reference=f"CUS-{number}",
                kind="individual",
                name=name or f"{prefix} {tag}",
                segment="retail",
                country="DE",
                risk_level=risk_level,
                legacy_ref=f"AMLT-{tag}-{number}",
                created_at=opened,
            )
            session.add(customer)
            await session.flush()
            opened_accounts = []
            for _ in range(accounts):
                serial = (
                    await run_sql(session, "SELECT nextval('account_number_seq')")
                ).scalar_one()
                account = Account(
                    customer_id=customer.id,
                    iban=iban_for(serial),
                    currency=currency,
                    tariff_plan_id=plan_id,
                    opened_at=opened,
                )
                session.add(account)
                opened_accounts.append(account)
            await session.flush()
            made.append(
                CustomerRef(
                    customer.id,
                    customer.reference,
                    customer.name,
                    tuple(AccountRef(a.id, a.iban, currency) for a in opened_accounts),
                )
            )
    return made


async def new_customer(db: Database, **kwargs: Any) -> CustomerRef:
    return (await new_customers(db, 1, **kwargs))[0]


def row(
    iban: str,
    amount: str,
    *,
    booked_at: datetime | None = None,
    direction: str = "out",
    channel: str = "sepa",
    currency: str = "EUR",
    name: str | None = "Stadtwerke Berlin GmbH",
    cp_account: str | None = None,
    country: str | None = "DE",
    description: str | None = None,
    external_id: str | None = None,
) -> dict[str, Any]:
    """One transaction as `POST /api/v1/transactions` takes it."""
    counterparty = (
        None
        if name is None and cp_account is None and country is None
        else {"name": name, "account": cp_account, "country": country}
    )
    return {
        "external_id": external_id or f"tx-{uuid.uuid4().hex}",
        "account": iban,
        "booked_at": (booked_at or utcnow()).isoformat(),
        "amount": amount,
        "currency": currency,
        "direction": direction,
        "channel": channel,
        "counterparty": counterparty,
        "description": description,
    }


def cash_deposit(iban: str, amount: str, *, booked_at: datetime) -> dict[str, Any]:
    return row(
        iban,
        amount,
        booked_at=booked_at,
        direction="in",
        channel="cash",
        name=None,
        country=None,
        description="Cash deposit",
    )


EMPLOYERS = ("Siemens AG", "Deutsche Bahn AG", "SAP SE", "Charité Berlin", "Zalando SE")
SHOPS = ("REWE Markt", "dm-drogerie markt", "Lidl", "Amazon EU", "Deutsche Bahn Fernverkehr")


def normal_month(
    iban: str, index: int, *, start: datetime, days: int = 30, salary: str = "3200.00"
) -> list[dict[str, Any]]:
    """A salaried person's month from `start`: salary in, rent out, card spend every other day."""
    employer = EMPLOYERS[index % len(EMPLOYERS)]
    landlord = f"Hausverwaltung {index:03d} GmbH"
    rows = [
        row(
            iban,
            salary,
            booked_at=start + timedelta(hours=9),
            direction="in",
            name=employer,
            cp_account=iban_for(900_000 + index % len(EMPLOYERS), bank_code="10070000"),
            description="Gehalt",
        ),
        row(
            iban,
            "1150.00",
            booked_at=start + timedelta(days=1, hours=8),
            name=landlord,
            cp_account=iban_for(800_000 + index, bank_code="10020000"),
            description="Miete",
        ),
    ]
    for day in range(2, days, 2):
        rows.append(
            row(
                iban,
                f"{23 + (day * 7 + index) % 60}.{(day + index) % 100:02d}",
                booked_at=start + timedelta(days=day, hours=17),
                channel="card",
                name=SHOPS[(day + index) % len(SHOPS)],
                description="Kartenzahlung",
            )
        )
    return rows
