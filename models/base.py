"""Column helpers shared by every table: UUID keys, timezone-aware timestamps, JSONB, money."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Numeric
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlmodel import Field


def utcnow() -> datetime:
    return datetime.now(UTC)


def uuid_pk() -> Any:
    return Field(default_factory=uuid.uuid4, primary_key=True)


def tz(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index),
    )


def tz_now() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


def jsonb(*, default_factory: Any = dict, nullable: bool = False) -> Any:
    return Field(default_factory=default_factory, sa_column=Column(JSONB, nullable=nullable))


def uuid_array() -> Any:
    return Field(default_factory=list, sa_column=Column(ARRAY(UUID(as_uuid=True)), nullable=False))


def money(*, nullable: bool = False) -> Any:
    # 38 digits with 8 decimals holds every ISO 4217 minor unit and percent precision.
    return Field(default=None, sa_column=Column(Numeric(38, 8), nullable=nullable))
