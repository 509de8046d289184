"""Our own accounts in the money graph (migration 0025): a transaction's counterparty resolved
to our account by IBAN or bank code + account number, the transfers between our accounts
counted once in `aml_money_flow`, amounts in EUR and counterparty keys set by the database."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from sqlmodel import select

from core.db import Database, run_sql
from models.aml import Transaction
from models.base import utcnow
from tests.aml_data import CustomerRef, new_customers


async def _book(
    db: Database,
    owner: CustomerRef,
    amount: str,
    *,
    direction: str = "out",
    account: str | None = None,
    name: str | None = None,
    currency: str = "EUR",
    days_ago: int = 1,
) -> uuid.UUID:
    async with db.transaction() as session:
        tx = Transaction(
            external_id=f"graph-{uuid.uuid4().hex}",
            account_id=owner.account_id,
            customer_id=owner.id,
            booked_at=utcnow() - timedelta(days=days_ago),
            amount=Decimal(amount),
            currency=currency,
            direction=direction,
            channel="sepa",
            counterparty_name=name,
            counterparty_account=account,
        )
        session.add(tx)
        await session.flush()
        return tx.id


async def _txn(db: Database, tx_id: uuid.UUID) -> Transaction:
    async with db.session() as session:
        found = (await session.exec(select(Transaction).where(Transaction.id == tx_id))).one()
        return found


async def _flows(db: Database, *accounts: uuid.UUID) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
    async with db.session() as session:
        rows = (
            await run_sql(
                session,
                "SELECT from_account_id, to_account_id, amount_eur FROM aml_money_flow "
                "WHERE from_account_id = ANY(:a) OR to_account_id = ANY(:a) "
                "ORDER BY amount_eur",
                {"a": list(accounts)},
            )
        ).all()
    return [(r.from_account_id, r.to_account_id, f"{r.amount_eur:.2f}") for r in rows]


async def test_counterparties_resolve_to_our_accounts_and_transfers_count_once(
    db: Database,
) -> None:
    a, b, c = await new_customers(db, 3, prefix="Graph")
    spaced = " ".join(b.iban[i : i + 4] for i in range(0, len(b.iban), 4)).lower()
    out_leg = await _book(db, a, "700.00", account=spaced, name="B person")
    in_leg = await _book(db, b, "700.00", direction="in", account=a.iban, name="A person")
    assert (await _txn(db, out_leg)).counterparty_account_id == b.account_id
    assert (await _txn(db, in_leg)).counterparty_account_id == a.account_id
    # Bank code + account number, however written, is our account too.
    serial = int(c.iban[12:])
    for written in (f"37040044 {serial}", f"37040044/{serial:010d}", f"37040044{serial:010d}"):
        tx = await _book(db, a, "11.00", account=written)
        assert (await _txn(db, tx)).counterparty_account_id == c.account_id, written
    # An outside account stays outside; a name alone resolves nothing.
    outside = await _book(db, a, "12.00", account="FR7630006000011234567890189")
    assert (await _txn(db, outside)).counterparty_account_id is None
    # A transfer booked on both sides is one flow; a receiver-only leg is a flow too.
    only_in = await _book(db, c, "55.00", direction="in", account=b.iban)
    assert (await _txn(db, only_in)).counterparty_account_id == b.account_id
    flows = await _flows(db, a.account_id, b.account_id, c.account_id)
    assert (a.account_id, b.account_id, "700.00") in flows
    assert flows.count((a.account_id, b.account_id, "700.00")) == 1
    assert (b.account_id, c.account_id, "55.00") in flows
    assert sum(1 for f in flows if f[2] == "11.00") == 3


async def test_amounts_in_eur_keys_and_accounts_opened_later(db: Database) -> None:
    [payer] = await new_customers(db, 1, prefix="Graph later")
    tx = await _book(db, payer, "100.00", currency="USD", name="  Acme   Trading  LTD ")
    stored = await _txn(db, tx)
    assert stored.amount_eur == Decimal("92.0000")
    assert stored.counterparty_key == "acme trading ltd"
    # Paid to an IBAN that is not ours yet; the account opens afterwards.
    [later] = await new_customers(db, 1, prefix="Graph opened later")
    async with db.transaction() as session:
        await run_sql(
            session,
            "UPDATE account SET iban = 'DE' || iban WHERE id = :id",  # park its IBAN
            {"id": later.account_id},
        )
    early = await _book(db, payer, "40.00", account=later.iban)
    assert (await _txn(db, early)).counterparty_account_id is None
    async with db.transaction() as session:
        await run_sql(session, "DELETE FROM account WHERE id = :id", {"id": later.account_id})
    [opened] = await new_customers(db, 1, prefix="Graph reopened")
    assert opened.iban != later.iban  # a new serial: insert the parked IBAN under a new id
    async with db.transaction() as session:
        await run_sql(
            session,
            "INSERT INTO account (id, customer_id, iban, currency, tariff_plan_id, status, "
            "opened_at) SELECT gen_random_uuid(), customer_id, :iban, currency, tariff_plan_id, "
            "status, opened_at FROM account WHERE id = :id",
            {"iban": later.iban, "id": opened.account_id},
        )
    resolved = (await _txn(db, early)).counterparty_account_id
    assert resolved is not None and resolved != opened.account_id
