"""Single sign-on (OpenID Connect): the IdP account each staff record is linked to, and the
sign-ins sent to the IdP that have not come back yet (migration 0018)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import jsonb, tz, tz_now, uuid_pk


class StaffSsoLink(SQLModel, table=True):
    """One staff record <-> one IdP account (issuer + stable subject)."""

    __tablename__ = "staff_sso_link"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_staff_sso_link_subject"),)

    user_id: uuid.UUID = Field(foreign_key="staff_user.id", primary_key=True)
    issuer: str = Field(max_length=300)
    subject: str = Field(max_length=255)
    linked_at: datetime = tz_now()
    # The groups the IdP sent at the last sign-in (the roles from SSO were computed from them).
    last_groups: list[str] = jsonb(default_factory=list)


class SsoLogin(SQLModel, table=True):
    """A sign-in in flight: what the callback checks the IdP's answer against, used once."""

    __tablename__ = "sso_login"

    id: uuid.UUID = uuid_pk()
    state_hash: str = Field(max_length=64, unique=True)
    nonce: str = Field(max_length=100)
    code_verifier: str = Field(max_length=200)
    next_url: str = Field(max_length=500)
    created_at: datetime = tz_now()
    expires_at: datetime = tz(index=True)
    used_at: datetime | None = tz(nullable=True)
