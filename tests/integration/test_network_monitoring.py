"""Network typologies through the real ingest: a round trip through four of our customers'
accounts is raised once, in words, naming the accounts in order, to the customer whose
transaction closes it; the same judge run dry (a backtest) raises it without storing it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from aml.commands.judges import load_judges
from aml.commands.monitoring_store import txn_from_row
from aml.commands.transactions import ingest
from aml.engines.judging import JudgeMemory
from aml.engines.monitoring import judge_all
from aml.engines.priority import HIGH_FROM
from core.db import Database
from core.settings import Settings
from models.aml import AmlAlert, AmlCase, Transaction
from models.base import utcnow
from tests.aml_data import CustomerRef, new_customers, row
from tests.helpers import new_staff, web_login

pytestmark = pytest.mark.usefixtures("onboarding_ready")


def _transfer(
    src: CustomerRef, dst: CustomerRef, amount: str, hours_ago: float, *, leg: str = "out"
) -> dict[str, Any]:
    """One leg of a transfer between two of our customers (the sender's or the receiver's)."""
    at = utcnow().replace(microsecond=0) - timedelta(hours=hours_ago)
    if leg == "out":
        return row(src.iban, amount, booked_at=at, name=dst.name, cp_account=dst.iban)
    return row(dst.iban, amount, booked_at=at, direction="in", name=src.name, cp_account=src.iban)


async def _network_alerts(db: Database, customers: list[CustomerRef]) -> list[AmlAlert]:
    async with db.session() as session:
        found = await session.exec(
            select(AmlAlert).where(
                col(AmlAlert.customer_id).in_([c.id for c in customers]),
                col(AmlAlert.rule_key).startswith("network_"),
            )
        )
        return list(found.all())


async def test_a_four_account_round_trip_is_raised_once_in_words_to_the_closing_customer(
    db: Database, temporal_env: Any, settings: Settings
) -> None:
    service = await new_staff(db, "upstream_system", prefix="svc")
    a, b, c, d = await new_customers(db, 4, prefix="Ring")
    # Two days between legs: slower than a layering chain (96 hours for four accounts).
    first = [
        _transfer(a, b, "4200.00", 150),
        _transfer(b, c, "4150.00", 100, leg="in"),  # only the receiver's leg is booked here
        _transfer(c, d, "4100.00", 50),
    ]
    done = await ingest(db, temporal_env.client, settings, service.actor, first)
    assert done.accepted == 3
    assert await _network_alerts(db, [a, b, c, d]) == []

    # D pays A back: the leg that closes the ring; A's in leg of the same transfer too.
    closing = _transfer(d, a, "4050.00", 1)
    echo = _transfer(d, a, "4050.00", 0.9, leg="in")
    await ingest(db, temporal_env.client, settings, service.actor, [closing, echo])
    # ...and a later batch booking nothing new in the ring raises nothing more.
    await ingest(db, temporal_env.client, settings, service.actor, [_transfer(a, b, "20.00", 0.5)])

    [alert] = await _network_alerts(db, [a, b, c, d])
    assert alert.rule_key == "network_round_trip"
    assert alert.customer_id == d.id and alert.account_id == d.account_id
    assert alert.reason == (
        "Round trip of 4 200 EUR through 4 accounts in 7 days: "
        f"{a.reference} → {b.reference} → {c.reference} → {d.reference} → {a.reference}"
    )
    network = alert.details["network"]
    assert network["typology"] == "round_trip"
    assert network["accounts"] == [str(x.account_id) for x in (a, b, c, d)]
    assert network["references"] == [x.reference for x in (a, b, c, d)]
    assert [e["amount"] for e in network["edges"]] == ["4200.00", "4150.00", "4100.00", "4050.00"]
    assert [(e["from"], e["to"]) for e in network["edges"]] == [
        (str(x.account_id), str(y.account_id)) for x, y in ((a, b), (b, c), (c, d), (d, a))
    ]
    assert len(alert.transaction_ids) == 4 and not alert.shadow
    async with db.session() as session:
        cases = (
            await session.exec(
                select(AmlCase).where(col(AmlCase.customer_id).in_([x.id for x in (a, b, c, d)]))
            )
        ).all()
    assert [case.customer_id for case in cases] == [d.id]
    assert alert.case_id == cases[0].case_id
    # a high-severity pattern through four accounts and 16 500 EUR: a high-priority case
    assert cases[0].priority_score >= HIGH_FROM

    # The same history judged dry, as a backtest does: raised once, nothing stored.
    async with db.session() as session:
        stored = (
            await session.exec(
                select(Transaction)
                .where(col(Transaction.account_id).in_([x.account_id for x in (a, b, c, d)]))
                .order_by(col(Transaction.booked_at))
            )
        ).all()
        txns = [txn_from_row(t) for t in stored]
        judges = await load_judges(db)
        memory = JudgeMemory()
        drafts = [
            draft
            for k in range(len(txns))  # slice by slice, oldest first
            for draft in await judge_all(session, txns[k : k + 1], judges, memory)
        ]
        again = await judge_all(session, txns, judges, memory)
    dry = [x for x in drafts if x.rule.startswith("network_")]
    assert [(x.rule, x.trigger.customer_id, x.dedupe_key) for x in dry] == [
        ("network_round_trip", d.id, alert.dedupe_key)
    ]
    assert dry[0].reason == alert.reason
    assert not [x for x in again if x.rule.startswith("network_")]
    assert len(await _network_alerts(db, [a, b, c, d])) == 1


async def test_the_case_page_draws_the_ring_in_order_with_amounts(
    db: Database, temporal_env: Any, settings: Settings, http: httpx.AsyncClient
) -> None:
    service = await new_staff(db, "upstream_system", prefix="svc")
    analyst = await new_staff(db, "aml_analyst", prefix="l1")
    a, b, c = await new_customers(db, 3, prefix="Drawn")
    legs = [_transfer(a, b, "3000.00", 120), _transfer(b, c, "2900.00", 70)]
    await ingest(db, temporal_env.client, settings, service.actor, legs)
    done = await ingest(
        db, temporal_env.client, settings, service.actor, [_transfer(c, a, "2800.00", 2)]
    )
    [case_id] = {x.case_id for x in done.alerts if x.rule == "network_round_trip"}
    async with httpx.AsyncClient(transport=http._transport, base_url="http://testserver") as web:
        await web_login(web, analyst.username)
        page = await web.get(f"/cases/{case_id}")
    assert page.status_code == 200, page.text
    html = page.text
    drawing = html[
        html.index('<figure class="network-drawing"') : html.index(
            "</figure>", html.index('<figure class="network-drawing"')
        )
    ]
    assert 'data-typology="round_trip"' in drawing
    assert "<svg" in drawing and "style=" not in drawing and "<style" not in drawing
    # the accounts in order, each named by its customer's reference
    order = [drawing.index(f'data-reference="{x.reference}"') for x in (a, b, c)]
    assert order == sorted(order)
    steps = drawing[drawing.index('<ol class="network-steps"') :]
    items = steps.split("<li")[1:]
    assert [item.split(":")[0].split(">")[-1].strip() for item in items] == [
        f"{a.reference} → {b.reference}",
        f"{b.reference} → {c.reference}",
        f"{c.reference} → {a.reference}",
    ]
    assert "3,000.00 EUR" in items[0] and "2,800.00 EUR" in items[2]
    assert "completed the pattern" in items[2]


async def test_network_typologies_in_shadow_are_stored_not_routed(
    db: Database, temporal_env: Any, settings: Settings
) -> None:
    from aml.commands.network_store import NetworkJudge
    from aml.network_policy import NetworkPolicy

    judge = NetworkJudge(NetworkPolicy(fan_out_mode="shadow", fan_out_shadow_days=30), 2, utcnow())
    assert judge.shadow(next(t for t in judge.typologies if t.name == "fan_out"))
    assert not judge.shadow(next(t for t in judge.typologies if t.name == "round_trip"))
    ended = NetworkJudge(
        NetworkPolicy(fan_out_mode="shadow", fan_out_shadow_days=30),
        2,
        utcnow() - timedelta(days=31),
    )
    assert not ended.shadow(next(t for t in ended.typologies if t.name == "fan_out"))


async def test_a_slow_fan_in_over_months_is_raised_when_the_third_sender_pays_again(
    db: Database, temporal_env: Any, settings: Settings
) -> None:
    service = await new_staff(db, "upstream_system", prefix="svc")
    hub, b, c, d = await new_customers(db, 4, prefix="Slow")
    day = 24
    first = [
        _transfer(b, hub, "400.00", 80 * day),
        _transfer(c, hub, "470.00", 79 * day),
        _transfer(d, hub, "520.00", 78 * day, leg="in"),
        _transfer(b, hub, "610.00", 40 * day),
        _transfer(c, hub, "380.00", 39 * day, leg="in"),
    ]
    await ingest(db, temporal_env.client, settings, service.actor, first)
    assert await _network_alerts(db, [hub, b, c, d]) == []
    await ingest(db, temporal_env.client, settings, service.actor, [_transfer(d, hub, "450.00", 1)])
    [alert] = await _network_alerts(db, [hub, b, c, d])
    assert alert.rule_key == "network_fan_in" and alert.customer_id == d.id
    assert alert.details["network"]["accounts"] == [str(x.account_id) for x in (b, c, d, hub)]
    assert alert.reason.startswith(
        f"Fan-in: 3 accounts of ours paid {hub.reference} 2 830 EUR in 80 days"
    )


async def test_a_funnel_account_cash_in_pieces_then_wired_abroad(
    db: Database, temporal_env: Any, settings: Settings
) -> None:
    service = await new_staff(db, "upstream_system", prefix="svc")
    [mule] = await new_customers(db, 1, prefix="Funnel")
    now = utcnow().replace(microsecond=0)
    deposits = [
        row(mule.iban, "2500.00", booked_at=now - timedelta(hours=h), direction="in",
            channel="cash", name=None, country=None)
        for h in (40, 30, 20, 10)
    ]  # fmt: skip
    wire = row(mule.iban, "9800.00", booked_at=now - timedelta(hours=2), channel="swift",
               name="Gulf Horizon Trading FZE", cp_account="AE070331234567890123456",
               country="AE")  # fmt: skip
    await ingest(db, temporal_env.client, settings, service.actor, [*deposits, wire])
    [alert] = await _network_alerts(db, [mule])
    assert alert.rule_key == "network_funnel"
    assert alert.reason == (
        f"Funnel account: 4 cash deposits of 10 000 EUR into {mule.reference} in 38 hours, "
        "then 9 800 EUR wired out (swift) to Gulf Horizon Trading FZE"
    )
    assert alert.details["network"]["accounts"] == [str(mule.account_id)]
    assert len(alert.transaction_ids) == 5


async def test_a_ring_closed_by_the_receivers_leg_is_not_raised_again_by_the_senders_leg(
    db: Database, temporal_env: Any, settings: Settings
) -> None:
    service = await new_staff(db, "upstream_system", prefix="svc")
    a, b, c = await new_customers(db, 3, prefix="Legs")
    legs = [_transfer(a, b, "5000.00", 120), _transfer(b, c, "4900.00", 70)]
    await ingest(db, temporal_env.client, settings, service.actor, legs)
    closing_in = _transfer(c, a, "4800.00", 2, leg="in")  # A's bank posts first
    await ingest(db, temporal_env.client, settings, service.actor, [closing_in])
    closing_out = _transfer(c, a, "4800.00", 2.5)  # C's leg of the same transfer, later
    await ingest(db, temporal_env.client, settings, service.actor, [closing_out])
    alerts = await _network_alerts(db, [a, b, c])
    assert [(x.rule_key, x.customer_id) for x in alerts] == [("network_round_trip", a.id)]
