"""Demo: an access review in progress.

The `access` document names role owners (risk.rita proposes, risk.raj approves, as any
configuration change), then admin.alex starts a campaign by hand: aml.lena has certified one
of her analysts, kyc.kira has asked the admins to revoke kyc.kai's kyc_analyst role,
admin.alex has certified two grants and proposed revoking dual.dana's ops_manager role (a
role change waiting for a second admin); everything else awaits review.
Made through the real entry points, so the pages show what a reviewer would see.
"""

from __future__ import annotations

import asyncio
import logging

from sqlmodel import select
from temporalio.client import Client

from access_reviews.commands import campaigns, decisions
from core.db import Database
from core.settings import Settings
from demo.config import approved_config_change, config_document
from demo.seed import actor_named
from models.access_reviews import AccessReview, AccessReviewItem
from models.staff import StaffUser
from shared.errors import DomainError

log = logging.getLogger(__name__)

OWNERS = "aml_analyst=aml.lena; kyc_analyst=kyc.kira; disputes_agent=disputes.dora; finance_ops=finance.finn"


async def seed_access_review(db: Database, temporal: Client, settings: Settings) -> dict[str, int]:
    async with db.session() as session:
        if (await session.exec(select(AccessReview.id))).first():
            return {}
    await _name_owners(db, temporal, settings)
    alex = await actor_named(db, "admin.alex")
    workflow_id = await campaigns.start_campaign_now(db, temporal, settings, alex)
    items = await _listed(db, workflow_id)

    async def item_of(username: str, role: str) -> AccessReviewItem | None:
        return next((i for u, i in items if u == username and i.role == role), None)

    decided = 0
    steps = [
        ("aml.lena", "aml.ana", "aml_analyst", "Ana triages L1 alerts every day."),
        ("admin.alex", "eng.eli", "engineer", "On call for the workflow platform."),
        ("admin.alex", "audit.ada", "auditor", "Internal audit, annual plan 2027."),
    ]
    for reviewer, username, role, comment in steps:
        item = await item_of(username, role)
        actor = await actor_named(db, reviewer)
        # Without role owners (the configuration change did not go through) the
        # administrators review every grant: the owner's step is skipped.
        if item is not None and decisions.why_not(actor, item.reviewer_id, item.user_id) is None:
            await decisions.certify_item(db, actor, item.id, comment=comment)
            decided += 1
    # kyc.kira (who may not propose role changes) asks the admins to revoke one.
    kai = await item_of("kyc.kai", "kyc_analyst")
    kira = await actor_named(db, "kyc.kira")
    if kai is not None and decisions.why_not(kira, kai.reviewer_id, kai.user_id) is None:
        await decisions.revoke_item(
            db,
            temporal,
            settings,
            kira,
            kai.id,
            comment="Kai works as senior reviewer only since September.",
        )
        decided += 1
    dana = await item_of("dual.dana", "ops_manager")
    if dana is not None:
        try:
            await decisions.revoke_item(
                db,
                temporal,
                settings,
                alex,
                dana.id,
                comment="Dana proposes tariff changes; approving them too breaks four-eyes.",
            )
            decided += 1
        except DomainError as refused:  # e.g. a role change for her is already pending
            log.warning("demo access review: revocation not proposed: %s", refused.message)
    return {"access review items": len(items), "access review decisions": decided}


async def _name_owners(db: Database, temporal: Client, settings: Settings) -> None:
    """The role owners, through the maker-checker configuration change."""
    try:
        access_id, values = await config_document(db, "access")
        if values.get("review_owners"):
            return
        await approved_config_change(
            db,
            temporal,
            settings,
            access_id,
            {"review_owners": OWNERS},
            reason="Team leads review their analysts' access each quarter (audit finding 2026-07).",
            comment="Agreed with the team leads.",
        )
    except (DomainError, RuntimeError) as refused:
        # Without owners the administrators review every role: still a campaign to show.
        log.warning("demo access review: role owners not configured: %s", refused)


async def _listed(db: Database, workflow_id: str) -> list[tuple[str, AccessReviewItem]]:
    """The campaign's items, once its workflow has opened it (the seed's worker runs it)."""
    for _ in range(400):
        async with db.session() as session:
            review = (
                await session.exec(
                    select(AccessReview).where(AccessReview.workflow_id == workflow_id)
                )
            ).first()
            if review is not None:
                rows = (
                    await session.exec(
                        select(StaffUser.username, AccessReviewItem)
                        .join(StaffUser, StaffUser.id == AccessReviewItem.user_id)  # type: ignore[arg-type]
                        .where(AccessReviewItem.review_id == review.id)
                    )
                ).all()
                return [(u, i) for u, i in rows]
        await asyncio.sleep(0.05)
    raise RuntimeError("the access review did not open; is a worker running?")
