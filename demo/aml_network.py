"""Demo network typology: a round trip through four of the migrated customers' accounts.

Core banking posts, through `ingest`, 8 600 EUR leaving one customer and passing through
three others over a week (each leg a little smaller, two days apart: too slow for a
layering chain) until the fourth pays the first back. The leg that closes the ring raises
one `network_round_trip` alert, and one case for the customer who closed it; the case page
draws the ring (accounts and amounts, in order).
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select
from temporalio.client import Client

from aml.commands.transactions import ingest
from core.db import Database
from core.settings import Settings
from demo.legacy_samples import Flow, sample_iban, sample_name
from demo.seed import actor_named
from models.aml import Transaction
from models.base import utcnow

# Migrated customers (by position in demo/aml.py's book) with nothing else planted today.
RING = (34, 35, 36, 37)
AMOUNTS = ("8600.00", "8450.00", "8300.00", "8150.00")
HOURS_AGO = (180, 130, 80, 2)  # legs 50 hours apart: slower than a layering chain


def ring_legs() -> list[Flow]:
    """The four transfers, each booked on the sender's side only, the last one closing."""
    now = utcnow()
    legs = []
    for k, position in enumerate(RING):
        receiver = RING[(k + 1) % len(RING)]
        legs.append(
            Flow(
                sample_iban(position),
                AMOUNTS[k],
                now - timedelta(hours=HOURS_AGO[k]),
                name=sample_name(receiver),
                counterparty=sample_iban(receiver),
                description=("Darlehen", "Rechnung 114", "Auslagen", "Rückzahlung")[k],
            )
        )
    return legs


async def seed_network(db: Database, temporal: Client, settings: Settings) -> dict[str, int]:
    """Post the ring once (a second seed finds its first leg and does nothing)."""
    ids = [f"demo-ring-{k + 1}" for k in range(len(RING))]
    async with db.session() as session:
        found = await session.exec(select(Transaction.id).where(Transaction.external_id == ids[0]))
        if found.first() is not None:
            return {}
    corebank = await actor_named(db, "svc.corebank")
    legs = [leg.api_row(ids[k]) for k, leg in enumerate(ring_legs())]
    await ingest(db, temporal, settings, corebank, legs[:3])
    closed = await ingest(db, temporal, settings, corebank, legs[3:])
    rings = [a for a in closed.alerts if a.rule == "network_round_trip"]
    return {"network round trips": len(rings)}
