"""Demo follow-up and manual cases: a snoozed AML case, tags, an investigation and a complaint
opened by hand — through the same functions the case page and the forms call (audited)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select
from temporalio.client import Client

from casework import manual, snooze, tags
from core.db import Database
from core.settings import Settings
from demo.aml import FAN_IN, STRUCTURING, SWIFT_IR, WATCHLIST, _case_of
from demo.seed import actor_named
from models.base import utcnow
from models.case_follow_up import CaseSnooze, ManualCase
from models.cases import Case
from models.onboarding import Customer


async def seed_follow_up(db: Database, temporal: Client, settings: Settings) -> dict[str, int]:
    """Once: a seeded database that has a snooze or a manual case keeps what it has."""
    async with db.session() as session:
        if (await session.exec(select(CaseSnooze.id))).first() or (
            await session.exec(select(ManualCase.case_id))
        ).first():
            return {}
    ana, ivan = await actor_named(db, "aml.ana"), await actor_named(db, "aml.ivan")
    sam = await actor_named(db, "support.sam")

    # Ana parks the structuring case (its L1 step is hers to take) until the bank answers.
    _, structuring, _ = await _case_of(db, STRUCTURING)
    await snooze.snooze_case(
        db,
        temporal,
        settings.task_queue,
        ana,
        structuring,
        until=utcnow() + timedelta(days=3),
        reason_code="awaiting_third_party",
        comment="Asked the sending bank for the depositor's identity on the cash deposits.",
    )
    made = 1
    labels = {
        STRUCTURING: ("structuring", "cash"),
        SWIFT_IR: ("sanctioned-country", "high-value"),
        FAN_IN: ("money-mule",),
    }
    tagged = 0
    for position, names in labels.items():
        _, case_id, _ = await _case_of(db, position)
        for name in names:
            tagged += (await tags.add_tag(db, ana, case_id, name)).changed

    # Ivan opens an investigation on the watch-list customer's company by hand.
    _, watch_case, _ = await _case_of(db, WATCHLIST)
    async with db.session() as session:
        case = await session.get(Case, watch_case)
        assert case is not None and case.customer_id is not None
        watched = case.customer_id
        other = (
            await session.exec(
                select(Customer.id).where(Customer.id != watched).order_by(Customer.reference)
            )
        ).first()
    investigation = await manual.open_manual_case(
        db,
        temporal,
        settings.task_queue,
        ivan,
        case_type="investigation",
        customer_id=watched,
        title="Director named in adverse media",
        reason_code="adverse_media",
        description="Two newspapers name the customer's director in a procurement fraud "
        "inquiry; check the company's recent payments and its beneficial owners.",
    )
    await tags.add_tag(db, ivan, investigation.case_id, "adverse-media")
    opened = 1
    if other is not None:
        # Sam records a complaint about a fee charged twice; a disputes agent works it.
        await manual.open_manual_case(
            db,
            temporal,
            settings.task_queue,
            sam,
            case_type="complaint",
            customer_id=other,
            title="Card fee charged twice",
            reason_code="fees_charges",
            description="The customer says the annual card fee was taken twice in November "
            "and asks for the second one back.",
        )
        opened += 1
    return {"snoozed cases": made, "case tags": tagged, "manual cases": opened}
