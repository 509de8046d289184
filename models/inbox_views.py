"""A person's saved inbox views: a name for a filter and sort of /inbox (migration 0017)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel, UniqueConstraint

from models.base import tz_now, uuid_pk


class InboxView(SQLModel, table=True):
    __tablename__ = "inbox_view"
    __table_args__ = (UniqueConstraint("owner_id", "name", name="uq_inbox_view_owner_name"),)

    id: uuid.UUID = uuid_pk()
    owner_id: uuid.UUID = Field(foreign_key="staff_user.id")
    name: str = Field(max_length=60)
    query: str = Field(max_length=1000)
    created_at: datetime = tz_now()


class InboxViewPublic(SQLModel):
    id: uuid.UUID
    name: str
    query: str
    url: str
    created_at: datetime
