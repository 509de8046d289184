"""Demo configuration changes: one applied, one awaiting approval.

Made through the real entry points (propose, claim, decide) like `demo.seed.seed_changes`,
so the settings pages show a version history with its change request and a pending change.
Call it after `seed_changes`: that one seeds nothing once any change request exists.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import select
from temporalio.client import Client

from changes.commands import requests as change_service
from configuration import documents as config_service
from core.db import Database
from core.settings import Settings
from demo.seed import actor_named, work_task
from models.changes import ChangeCreate, ChangeCreated, ChangeRequest


async def config_document(db: Database, key: str) -> tuple[uuid.UUID, dict[str, Any]]:
    async with db.session() as session:
        doc = await config_service.read_config(session, key)
    if doc is None or doc.id is None:
        raise RuntimeError(f"configuration {key!r} is not installed; run `backoffice migrate`")
    return doc.id, doc.values


async def approved_config_change(
    db: Database,
    temporal: Client,
    settings: Settings,
    target_id: uuid.UUID,
    changes: dict[str, Any],
    *,
    reason: str,
    comment: str,
) -> ChangeCreated:
    """A configuration document changed through maker-checker: risk.rita proposes, risk.raj
    approves."""
    created = await change_service.propose_change(
        db,
        temporal,
        settings,
        await actor_named(db, "risk.rita"),
        ChangeCreate(target_type="config", target_id=target_id, changes=changes, reason=reason),
    )
    await work_task(
        db,
        temporal,
        await actor_named(db, "risk.raj"),
        created.workflow_id,
        "approve",
        "approve",
        comment=comment,
    )
    return created


async def seed_config_changes(db: Database, temporal: Client, settings: Settings) -> int:
    """risk.rita's risk-weight change approved by risk.raj, and her screening change pending."""
    async with db.session() as session:
        seeded = (
            await session.exec(
                select(ChangeRequest.id).where(ChangeRequest.target_type == "config")
            )
        ).first()
    if seeded:
        return 0
    weights_id, weights = await config_document(db, "risk_weights")
    await approved_config_change(
        db,
        temporal,
        settings,
        weights_id,
        {"volume_weight": weights["volume_weight"] + 5},
        reason="Q3 model review: unexpected volumes drove most confirmed mule cases.",
        comment="Consistent with the model review minutes.",
    )

    screening_id, _ = await config_document(db, "screening")
    await change_service.propose_change(
        db,
        temporal,
        settings,
        await actor_named(db, "risk.rita"),
        ChangeCreate(
            target_type="config",
            target_id=screening_id,
            # A list setting, never the hit threshold: that is the benchmark's choice.
            changes={"lists": [{"name": "UN-SC", "max_age_days": 3}]},
            reason="UN designations take effect at once: alert when our copy is 3 days old.",
        ),
    )
    return 2
