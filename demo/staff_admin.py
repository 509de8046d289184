"""Demo staff administration: a person admin.alex invited who has not set a password yet."""

from __future__ import annotations

from sqlmodel import col, select

from audit.trail import ActorRef
from core.db import Database
from identity import invitations
from models.staff import StaffUser
from models.workflow_io import Origin

INVITED = ("new.nadia", "Nadia Brooks", "new.nadia@example.com")


async def seed_staff_admin(db: Database) -> dict[str, int]:
    """The invitation's link is not kept (only its hash): on her staff page an admin sends a
    new one ("Send a new invitation link") and sees it once."""
    username, name, email = INVITED
    async with db.session() as session:
        users = {
            u.username: u
            for u in (
                await session.exec(
                    select(StaffUser).where(col(StaffUser.username).in_([username, "admin.alex"]))
                )
            ).all()
        }
    if username in users or "admin.alex" not in users:
        return {"staff invitations": 0}
    alex = users["admin.alex"]
    await invitations.invite(
        db,
        username=username,
        display_name=name,
        email=email,
        actor=ActorRef(alex.id, alex.username),
        origin=Origin(channel="system"),
    )
    return {"staff invitations": 1}
