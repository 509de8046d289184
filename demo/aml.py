"""Demo transaction monitoring: a migrated book, its history, and AML cases at every tier.

Made through the real entry points: the legacy importer loads 40 customers and three
months of their history (so the rules have baselines), core banking's service account
posts today's transactions through `ingest`, the rules raise alerts, and the alerts open
cases that demo staff then work to every tier: L1 open and claimed, L2, a closure waiting
for the second investigator, the MLRO's SAR decision pending, a SAR filed, closures at L1.
One account is restricted and a lift awaits an MLRO; a rule change awaits approval.
"""

from __future__ import annotations

import tempfile
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, select
from temporalio.client import Client

from aml.commands import restrictions
from aml.commands.legacy_transactions import import_transactions_csv
from aml.commands.transactions import ingest
from aml.rule_policy import config_key
from audit.trail import SYSTEM
from changes.commands import requests as change_service
from core.db import Database
from core.schedules import ensure_schedules, trigger_rescreen
from core.settings import Settings
from customers.legacy_import import import_customers_csv
from demo.aml_rules import seed_expression_rules
from demo.config import config_document
from demo.legacy_samples import (
    Flow,
    ordinary_life,
    sample_iban,
    write_customers,
    write_transactions,
)
from demo.seed import actor_named, work_task
from models.aml import AmlAlert, Transaction
from models.base import utcnow
from models.changes import ChangeCreate
from models.onboarding import Account, Customer
from shared.iban import iban_for

BOOK_SIZE = 40
# Which migrated customer (by position) plays which part in today's activity.
STRUCTURING, SWIFT_IR, RAPID, FAN_IN, VELOCITY, WATCHLIST, CASH, NEW_CP, DORMANT = range(9)


def _posted(flows: list[Flow]) -> list[dict[str, Any]]:
    """Transactions as core banking posts them."""
    return [f.api_row(f"demo-{uuid.uuid4().hex[:20]}") for f in flows]


def _today(now: datetime) -> list[Flow]:
    """Today's activity: ordinary for most, suspicious for nine customers."""
    h = timedelta(hours=1)
    rows = [
        Flow(sample_iban(i), "42.90", now - 3 * h, channel="card", name="REWE Markt")
        for i in range(10, BOOK_SIZE)
    ]
    s = sample_iban(STRUCTURING)
    rows += [
        Flow(s, amount, now - timedelta(days=d), direction="in", channel="cash", country=None)
        for amount, d in (("9600.00", 3), ("9850.00", 2), ("9700.00", 1))
    ]
    rows.append(
        Flow(
            sample_iban(SWIFT_IR),
            "48000.00",
            now - 2 * h,
            channel="swift",
            name="Kish Trading Co",
            counterparty="IR580540105180021273113007",
            country="IR",
            description="Invoice 2211",
        )
    )
    r = sample_iban(RAPID)
    rows += [
        Flow(r, "12000.00", now - 20 * h, direction="in", name="Unknown Sender Ltd", country="GB"),
        Flow(r, "11500.00", now - 6 * h, name="Quick FX OÜ", country="EE"),
    ]
    f = sample_iban(FAN_IN)
    rows += [
        Flow(
            f,
            f"{600 + 37 * k}.00",
            now - timedelta(hours=5 + 9 * k),
            direction="in",
            name=f"Sender {k + 1}",
            # Twelve of our own customers: the network fan-in (aml_network) links them.
            counterparty=sample_iban(10 + k),
        )
        for k in range(12)
    ]
    rows.append(
        Flow(
            sample_iban(VELOCITY),
            "24000.00",
            now - 4 * h,
            name="Autohaus Süd GmbH",
            counterparty=iban_for(600_001, bank_code="70020270"),
        )
    )
    rows.append(
        Flow(
            sample_iban(WATCHLIST),
            "6200.00",
            now - 5 * h,
            name="Eduardo Restrepo Victoria",
            counterparty="CO1234567890",
            country="CO",
        )
    )
    rows.append(
        Flow(
            sample_iban(CASH), "24000.00", now - 7 * h, direction="in", channel="cash", country=None
        )
    )
    rows.append(
        Flow(
            sample_iban(NEW_CP),
            "32000.00",
            now - 8 * h,
            name="Baufirma Nord GmbH",
            counterparty=iban_for(600_002, bank_code="20050550"),
        )
    )
    rows.append(
        Flow(
            sample_iban(DORMANT),
            "8000.00",
            now - 9 * h,
            direction="in",
            name="Erbengemeinschaft Wolf",
            counterparty=iban_for(600_003, bank_code="30050110"),
        )
    )
    return rows


async def _case_of(db: Database, position: int) -> tuple[str, uuid.UUID, uuid.UUID]:
    """(workflow id, case id, account id) of the AML case of the customer at `position`."""
    async with db.session() as session:
        account = (
            await session.exec(select(Account).where(Account.iban == sample_iban(position)))
        ).one()
        alert = (
            await session.exec(select(AmlAlert).where(AmlAlert.account_id == account.id))
        ).first()
    if alert is None or alert.case_id is None:
        raise RuntimeError(f"the demo rules raised no alert for customer #{position}")
    return f"aml-{alert.case_id}", alert.case_id, account.id


async def seed_aml(db: Database, temporal: Client, settings: Settings) -> dict[str, int]:
    async with db.session() as session:
        if (await session.exec(select(Transaction.id))).first():
            return {}
    now = utcnow()
    with tempfile.TemporaryDirectory(prefix="backoffice-seed-") as tmp:
        folder = Path(tmp)
        write_customers(
            folder / "customers.csv",
            BOOK_SIZE,
            broken=False,
            high_risk=frozenset({SWIFT_IR, WATCHLIST}),
        )
        await import_customers_csv(
            db, folder / "customers.csv", report_path=folder / "customers.rejected.csv"
        )
        # As `backoffice import customers` does: screen the migrated customers now.
        await ensure_schedules(temporal, settings)
        await trigger_rescreen(temporal)
        # Three months of ordinary life up to two days ago; the dormant one went quiet a
        # year ago.
        write_transactions(
            folder / "transactions.csv",
            ordinary_life(
                range(BOOK_SIZE),
                end=now - timedelta(days=2),
                quiet_since={DORMANT: now - timedelta(days=365)},
            ),
            broken=False,
        )
        imported = await import_transactions_csv(
            db,
            settings,
            folder / "transactions.csv",
            alert=False,
            progress=lambda done, total: None,
            report_path=folder / "transactions.rejected.csv",
            actor=SYSTEM,
        )
    corebank = await actor_named(db, "svc.corebank")
    live = await ingest(db, temporal, settings, corebank, _posted(_today(now)))

    ana, alba = await actor_named(db, "aml.ana"), await actor_named(db, "aml.alba")
    ivan, ines = await actor_named(db, "aml.ivan"), await actor_named(db, "aml.ines")
    max_ = await actor_named(db, "mlro.max")

    async def step(who: Any, position: int, key: str, outcome: str | None, **kw: str) -> None:
        wid, _, _ = await _case_of(db, position)
        await work_task(db, temporal, who, wid, key, outcome, **kw)

    # L1 open (structuring); L1 claimed by Ana (SWIFT to Iran).
    await step(ana, SWIFT_IR, "l1#1", None)
    # L2 open (rapid movement); L2 claimed by Ivan, who restricted the account (fan-in).
    await step(ana, RAPID, "l1#1", "escalate", comment="In and out within a day.")
    await step(ana, FAN_IN, "l1#1", "escalate", comment="Twelve new senders this week.")
    await step(ivan, FAN_IN, "l2#1", None)
    _, fan_case, fan_account = await _case_of(db, FAN_IN)
    await restrictions.restrict_account(
        db,
        ivan,
        case_id=fan_case,
        account_id=fan_account,
        reason="Possible money-mule account: block outgoing payments while we investigate.",
    )
    # Money keeps arriving: the new alert joins Ivan's open case and he is told.
    await ingest(
        db,
        temporal,
        settings,
        corebank,
        _posted(
            [
                Flow(
                    sample_iban(FAN_IN),
                    "26500.00",
                    now - timedelta(minutes=30),
                    direction="in",
                    name="Northwind Logistics Ltd",
                    counterparty="GB33BUKB20201555555555",
                    country="GB",
                )
            ]
        ),
    )
    # Closure proposed by Ivan, waiting for a second investigator (velocity).
    await step(alba, VELOCITY, "l1#1", "escalate", comment="Far above the usual turnover.")
    await step(
        ivan,
        VELOCITY,
        "l2#1",
        "close",
        reason="explained_activity",
        comment="Car purchase; invoice from the dealer is on file.",
    )
    # SAR decision pending with the MLRO (watch-list counterparty).
    await step(alba, WATCHLIST, "l1#1", "escalate", comment="Counterparty name is listed.")
    await step(ines, WATCHLIST, "l2#1", "escalate", comment="Name, country and amount fit.")
    # SAR filed (large cash); the account was restricted and a lift awaits an MLRO.
    await step(ana, CASH, "l1#1", "escalate", comment="Cash far above the customer's profile.")
    _, cash_case, cash_account = await _case_of(db, CASH)
    placed = await restrictions.restrict_account(
        db,
        ines,
        case_id=cash_case,
        account_id=cash_account,
        reason="Unexplained cash: outgoing payments blocked pending the MLRO's decision.",
    )
    await step(ines, CASH, "l2#1", "escalate", comment="No source of funds provided.")
    await step(
        max_,
        CASH,
        "mlro#1",
        "sar",
        reason="unexplained_funds",
        comment="24,000 EUR cash with no documented source, unlike any previous activity.",
    )
    await change_service.propose_restriction_lift(
        db,
        temporal,
        settings,
        ines,
        placed.id,
        "SAR filed; the FIU raised no objection within the consent period.",
    )
    # Closed at L1: a false positive and an explained reactivation.
    await step(
        alba,
        NEW_CP,
        "l1#1",
        "close",
        reason="false_positive",
        comment="Builder's invoice for the customer's house renovation.",
    )
    await step(
        ana,
        DORMANT,
        "l1#1",
        "close",
        reason="explained_activity",
        comment="Inheritance payment; probate letter on file.",
    )
    # A monitoring-rule change waiting for a risk manager or the MLRO.
    rule_id, rule = await config_document(db, config_key("large_transaction"))
    await change_service.propose_change(
        db,
        temporal,
        settings,
        await actor_named(db, "risk.rita"),
        ChangeCreate(
            target_type="config",
            target_id=rule_id,
            changes={"threshold_eur": rule["threshold_eur"] + 5_000},
            reason="Too many large-transaction false positives from salaried customers' car buys.",
        ),
    )
    written = await seed_expression_rules(db, temporal, settings)  # demo/aml_rules.py
    async with db.session() as session:
        migrated = len(
            (
                await session.exec(select(Customer.id).where(col(Customer.legacy_ref).is_not(None)))
            ).all()
        )
    return {
        "migrated customers": migrated,
        "transactions": imported.inserted + live.accepted,
        "AML alerts": len(live.alerts),
        "AML cases": len(live.cases),
        "configuration changes": 1 + written,
    }
