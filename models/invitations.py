"""One-time set-password links: an invitation to a new person, or a password reset."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from models.base import tz, tz_now, uuid_pk


class StaffPasswordLink(SQLModel, table=True):
    """A link that lets one person set their password once, within its lifetime.

    Only the SHA-256 of the random token is stored: the link is shown once to the admin who
    made it and e-mailed to the person, never kept. A person has at most one open link (a new
    one voids the old). Rows are kept after use, as the record of who invited whom."""

    __tablename__ = "staff_password_link"
    __table_args__ = (
        Index(
            "uq_staff_password_link_open",
            "user_id",
            unique=True,
            postgresql_where=text("used_at IS NULL AND voided_at IS NULL"),
        ),
    )

    id: uuid.UUID = uuid_pk()
    user_id: uuid.UUID = Field(foreign_key="staff_user.id", index=True)
    purpose: str = Field(max_length=8)  # invite | reset
    token_hash: str = Field(max_length=64, unique=True)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    created_at: datetime = tz_now()
    expires_at: datetime = tz()
    used_at: datetime | None = tz(nullable=True)
    voided_at: datetime | None = tz(nullable=True)
    # What became of the e-mail: sent | failed: <why> | no SMTP server | no e-mail address.
    delivery: str | None = Field(default=None, max_length=300)
