"""Staff identity: users, role grants, server-side sessions, login attempts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime, Index, text
from sqlmodel import Field, SQLModel

from models.base import tz, tz_now, utcnow, uuid_pk


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"

    id: uuid.UUID = uuid_pk()
    username: str = Field(max_length=64, unique=True, index=True)
    display_name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=254)
    password_hash: str = Field(max_length=255)
    is_active: bool = True
    created_at: datetime = tz_now()
    disabled_at: datetime | None = tz(nullable=True)
    password_changed_at: datetime = tz_now()
    # Notifications created after this are unread (set by "mark all as read").
    notifications_seen_at: datetime | None = tz(nullable=True)


class RoleAssignment(SQLModel, table=True):
    """One grant of one role to one person. Ended grants are kept (never deleted); the
    database refuses a grant nobody approved (trigger role_assignment_door, migration 0021)."""

    __tablename__ = "role_assignment"
    __table_args__ = (
        Index(
            "uq_role_assignment_active",
            "user_id",
            "role",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: uuid.UUID = uuid_pk()
    user_id: uuid.UUID = Field(foreign_key="staff_user.id", index=True)
    role: str = Field(max_length=40)
    granted_at: datetime = tz_now()
    granted_by: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")
    # provisioned (by the table owner) | bootstrap (the first admin) | change | sso
    source: str = Field(default="provisioned", max_length=20)
    change_id: uuid.UUID | None = Field(default=None, foreign_key="change_request.id", index=True)
    expires_at: datetime | None = tz(nullable=True)
    ended_at: datetime | None = tz(nullable=True)
    ended_reason: str | None = Field(default=None, max_length=300)
    ended_by: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id")


class StaffSession(SQLModel, table=True):
    """A server-side session (browser) or API token; the client holds only a random secret."""

    __tablename__ = "staff_session"

    id: uuid.UUID = uuid_pk()
    token_hash: str = Field(max_length=64, unique=True, index=True)
    kind: str = Field(default="web", max_length=8)  # web | api
    user_id: uuid.UUID = Field(foreign_key="staff_user.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = tz_now()
    last_seen_at: datetime = tz_now()
    expires_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    revoked_at: datetime | None = tz(nullable=True)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=300)
    # Opened by a password, waiting for the second factor: not usable until it is entered.
    mfa_pending: bool = False
    # When this session (or API token) last proved the second factor (step-up freshness).
    mfa_at: datetime | None = tz(nullable=True)


class LoginAttempt(SQLModel, table=True):
    __tablename__ = "login_attempt"

    id: uuid.UUID = uuid_pk()
    username: str = Field(max_length=64, index=True)
    ip: str | None = Field(default=None, max_length=64, index=True)
    succeeded: bool
    attempted_at: datetime = tz_now()


class StaffPublic(SQLModel):
    id: uuid.UUID
    username: str
    display_name: str
    roles: list[str]
    is_active: bool
    status: str = "active"  # active | invited (no password set yet) | disabled
