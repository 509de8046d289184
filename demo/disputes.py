"""Demo disputes: card payments of migrated customers disputed and worked to every stage.

Made through the real entry points: support opens each dispute (disputes.commands.opening),
disputes agents decide its tasks, and the sandbox card processor's merchant is scripted
per dispute. The result: a provisional credit awaiting an agent, evidence being gathered,
a chargeback waiting on the merchant, a representment to review, a pre-arbitration
waiting on the merchant, one dispute each won, lost and withdrawn, and one filed late by
the customer whose filing deadline is days away (urgent, at risk).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlmodel import select
from temporalio.client import Client

from core.db import Database
from core.settings import Settings
from demo.legacy_samples import sample_iban
from demo.seed import actor_named, work_task
from disputes.commands import evidence
from disputes.commands.opening import open_dispute
from disputes.commands.withdrawal import withdraw_dispute
from disputes.engines import sandbox
from identity.actors import Actor
from models.aml import Transaction
from models.base import utcnow
from models.cases import Case
from models.disputes import Dispute, DisputeCreate
from models.onboarding import Account

# Book positions after the ones the AML demo uses (0-8), so each dispute has its own customer.
FIRST_POSITION = 20


@dataclass(frozen=True)
class DemoDispute:
    merchant: str
    amount: str
    days_ago: int
    category: str
    statement: str


DEMOS = [
    DemoDispute("Electro Shop Online GmbH", "349.00", 12, "fraud",
                "I did not buy this laptop bag; my card was in my wallet the whole time."),
    DemoDispute("Streamly Subscriptions", "45.90", 20, "consumer_dispute",
                "I cancelled the subscription in September and was charged again."),
    DemoDispute("Hotel Adlon Booking", "129.00", 9, "processing_error",
                "The same night was charged twice; the hotel confirmed one booking."),
    DemoDispute("FlyCheap Airlines", "89.99", 30, "consumer_dispute",
                "The flight was cancelled and the refund never came."),
    DemoDispute("Gadget Corner", "210.00", 40, "consumer_dispute",
                "The headphones arrived broken; the shop does not answer my e-mails."),
    DemoDispute("Pizza Roma Lieferdienst", "59.00", 15, "processing_error",
                "I was charged 59.00 for an order of 5.90."),
    DemoDispute("Sportswear Outlet", "74.50", 25, "consumer_dispute",
                "I returned the shoes within 14 days and got no refund."),
    DemoDispute("Music Box Store", "19.99", 6, "authorisation",
                "I do not recognise this payment."),
    DemoDispute("FitLife Studios Berlin", "39.00", 117, "consumer_dispute",
                "I cancelled my membership in July; they kept charging me."),
]  # fmt: skip
(CREDIT_PENDING, EVIDENCE, CHARGEBACK, REPRESENTMENT, PRE_ARB, WON, LOST, WITHDRAWN,
 AT_RISK) = range(9)  # fmt: skip


async def _card_payment(db: Database, position: int, demo: DemoDispute) -> uuid.UUID:
    """A card payment on the migrated customer's account, as core banking booked it."""
    async with db.transaction() as session:
        account = (
            await session.exec(select(Account).where(Account.iban == sample_iban(position)))
        ).one()
        tx = Transaction(
            external_id=f"demo-card-{uuid.uuid4().hex[:12]}",
            account_id=account.id,
            customer_id=account.customer_id,
            booked_at=utcnow() - timedelta(days=demo.days_ago, hours=3),
            amount=Decimal(demo.amount),
            currency=account.currency,
            direction="out",
            channel="card",
            counterparty_name=demo.merchant,
            counterparty_country="DE",
            description="Kartenzahlung",
        )
        session.add(tx)
        await session.flush()
        return tx.id


async def _wait_for_stage(db: Database, case_id: uuid.UUID, stage: str) -> None:
    for _ in range(400):
        async with db.session() as session:
            case = await session.get(Case, case_id)
        if case is not None and case.stage == stage:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"dispute {case_id} did not reach {stage}; is a worker running?")


async def seed_disputes(db: Database, temporal: Client, settings: Settings) -> dict[str, int]:
    async with db.session() as session:
        if (await session.exec(select(Dispute.case_id))).first():
            return {}
    sam = await actor_named(db, "support.sam")
    dee, dan = await actor_named(db, "disputes.dee"), await actor_named(db, "disputes.dan")
    opened = []
    for index, demo in enumerate(DEMOS):
        tx_id = await _card_payment(db, FIRST_POSITION + index, demo)
        opened.append(
            await open_dispute(
                db,
                temporal,
                settings,
                sam,
                DisputeCreate(
                    transaction_id=tx_id, category=demo.category, statement=demo.statement
                ),
            )
        )

    async def task(who: Actor, which: int, key: str, outcome: str | None, **kw: str) -> None:
        await work_task(db, temporal, who, opened[which].workflow_id, key, outcome, **kw)

    async def script(which: int, stage: str, response: str, note: str | None = None) -> None:
        await sandbox.set_merchant_response(
            db, temporal, dee, opened[which].case_id, stage=stage, response=response, note=note
        )

    # Above the automatic threshold: provisional credit waits for an agent (unclaimed).
    # Evidence being gathered by Dee, with a note on file.
    await task(dee, EVIDENCE, "agent#evidence", None)
    await evidence.add_evidence(
        db,
        dee,
        opened[EVIDENCE].case_id,
        note="Customer sent the cancellation confirmation e-mail of 28 September.",
    )
    # Credit granted by Dan, chargeback filed: waiting on the merchant (45-day window).
    await task(
        dan, CHARGEBACK, "agent#credit", "grant", comment="Duplicate is visible in the statement."
    )
    await task(dee, CHARGEBACK, "agent#evidence", "submit")
    # The merchant represents: Dee's review is open.
    await script(
        REPRESENTMENT,
        "chargeback",
        "represent",
        "Cancellation was within 24 h of departure; fare is non-refundable.",
    )
    await task(dee, REPRESENTMENT, "agent#evidence", "submit")
    await task(dee, REPRESENTMENT, "agent#representment", None)
    # Represented, and Dan takes it to pre-arbitration: waiting on the merchant again.
    await script(PRE_ARB, "chargeback", "represent", "Goods were shipped intact (carrier photo).")
    await task(dan, PRE_ARB, "agent#credit", "grant", comment="Photos of the damage on file.")
    await task(dan, PRE_ARB, "agent#evidence", "submit")
    await task(dan, PRE_ARB, "agent#representment", "pre_arbitration",
               comment="Customer has photos of the damage on delivery.")  # fmt: skip
    await _wait_for_stage(db, opened[PRE_ARB].case_id, "pre_arbitration")
    # The merchant accepts: won. The merchant represents and Dee accepts the loss: lost.
    await script(WON, "chargeback", "accept")
    await task(dee, WON, "agent#evidence", "submit")
    await script(LOST, "chargeback", "represent", "Return arrived after 30 days; policy allows 14.")
    await task(dee, LOST, "agent#evidence", "submit")
    await task(dee, LOST, "agent#representment", "accept_loss", reason="compelling_evidence",
               comment="Return receipt is dated 31 days after delivery.")  # fmt: skip
    # The customer withdraws: the provisional credit is reversed.
    await _wait_for_stage(db, opened[WITHDRAWN].case_id, "evidence")
    await withdraw_dispute(
        db, temporal, sam, opened[WITHDRAWN].case_id, reason_code="customer_recognised",
        comment="Customer found the purchase: a gift for their son.",
    )  # fmt: skip
    for which in (WON, LOST, WITHDRAWN):
        await _wait_for_stage(db, opened[which].case_id, "closed")
    return {"disputes": len(opened)}
