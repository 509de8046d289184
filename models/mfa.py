"""The second factor: a person's TOTP secret (encrypted) and their one-time recovery codes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

from models.base import tz, tz_now, uuid_pk


class StaffMfa(SQLModel, table=True):
    """One person's TOTP factor; `confirmed_at` is NULL while enrolment waits for a code."""

    __tablename__ = "staff_mfa"

    user_id: uuid.UUID = Field(foreign_key="staff_user.id", primary_key=True)
    secret_encrypted: str = Field(max_length=400)
    created_at: datetime = tz_now()
    confirmed_at: datetime | None = tz(nullable=True)
    # The last TOTP time step a code was accepted for: a code is never accepted twice.
    last_step: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class StaffMfaRecovery(SQLModel, table=True):
    """A recovery code (SHA-256 of it), usable once."""

    __tablename__ = "staff_mfa_recovery"

    id: uuid.UUID = uuid_pk()
    user_id: uuid.UUID = Field(foreign_key="staff_user.id", index=True)
    code_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = tz_now()
    used_at: datetime | None = tz(nullable=True)
