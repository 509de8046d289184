"""Demo role changes under four-eyes (issue 16), made through the real entry points: one
awaiting a second admin, and one creating a conflicting combination (product_manager +
ops_manager) that a second admin approved and that now waits for a risk manager."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select
from temporalio.client import Client

from changes.commands.role_grants import propose_role_change
from core.db import Database
from core.settings import Settings
from demo.seed import actor_named, work_task
from identity.grants import TARGET_TYPE
from models.base import utcnow
from models.changes import ChangeRequest
from models.staff import StaffUser


async def seed_role_grants(db: Database, temporal: Client, settings: Settings) -> dict[str, int]:
    """Once (neither person has a role change yet), and only when both demo admins exist."""
    names = ["admin.alex", "admin.ava", "support.sam", "pm.pedro"]
    async with db.session() as session:
        people = {
            u.username: u
            for u in (
                await session.exec(select(StaffUser).where(col(StaffUser.username).in_(names)))
            ).all()
        }
        if len(people) < len(names):
            return {"role changes": 0}
        done = (
            await session.exec(
                select(ChangeRequest.id).where(
                    ChangeRequest.target_type == TARGET_TYPE,
                    col(ChangeRequest.target_id).in_(
                        [people["support.sam"].id, people["pm.pedro"].id]
                    ),
                )
            )
        ).first()
    if done:
        return {"role changes": 0}
    alex = await actor_named(db, "admin.alex")
    # Waiting for a second admin (admin.ava): Sam covers KYC over the holidays, for 30 days.
    await propose_role_change(
        db,
        temporal,
        settings,
        alex,
        people["support.sam"].id,
        add=["kyc_analyst"],
        remove=[],
        reason="Covers KYC first reviews during the holiday peak.",
        ends_at=utcnow() + timedelta(days=30),
    )
    # A conflicting combination: admin.ava approved, a risk manager (risk.rita) must too.
    conflict = await propose_role_change(
        db,
        temporal,
        settings,
        alex,
        people["pm.pedro"].id,
        add=["ops_manager"],
        remove=[],
        reason="Stands in as checker while the operations team is short-staffed.",
    )
    ava = await actor_named(db, "admin.ava")
    await work_task(
        db,
        temporal,
        ava,
        conflict.workflow_id,
        "approve",
        "approve",
        comment="Temporary cover agreed with the head of operations.",
    )
    return {"role changes": 2}
