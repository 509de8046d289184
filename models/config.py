"""Configuration documents (screening thresholds, risk weights, onboarding policy), versioned.

Every version is kept; `current_version` applies now. A new version is written only by an
approved maker-checker change (`change_id`), except version 1: the defaults at installation.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import jsonb, tz_now, uuid_pk


class ConfigSetting(SQLModel, table=True):
    __tablename__ = "config_setting"

    id: uuid.UUID = uuid_pk()
    key: str = Field(max_length=40, unique=True)
    current_version: int = 1


class ConfigSettingVersion(SQLModel, table=True):
    __tablename__ = "config_setting_version"
    __table_args__ = (UniqueConstraint("setting_id", "version", name="uq_config_setting_version"),)

    id: uuid.UUID = uuid_pk()
    setting_id: uuid.UUID = Field(foreign_key="config_setting.id", index=True)
    version: int
    values: dict[str, Any] = jsonb()
    created_at: datetime = tz_now()
    change_id: uuid.UUID | None = Field(default=None, unique=True)
    note: str | None = Field(default=None, max_length=300)


class ConfigFieldPublic(BaseModel):
    name: str
    value: Any
    default: Any
    description: str | None
    minimum: int | None
    maximum: int | None


class ConfigPendingPublic(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    reference: str
    status: str
    maker: str
    changed: dict[str, tuple[Any, Any]]  # field -> (now, proposed)
    created_at: datetime


class ConfigVersionPublic(BaseModel):
    version: int
    values: dict[str, Any]
    changed: dict[str, tuple[Any, Any]]  # field -> (previous version's value, this one's)
    created_at: datetime
    note: str | None
    change_id: uuid.UUID | None
    case_id: uuid.UUID | None
    change_reference: str | None
    maker: str | None
    approvers: list[str]
    reason: str | None


class ConfigPublic(BaseModel):
    """A configuration document as the API and pages show it."""

    id: uuid.UUID | None  # None until the migration installed version 1
    key: str
    label: str
    version: int
    values: dict[str, Any]
    fields: list[ConfigFieldPublic]
    pending: list[ConfigPendingPublic] = []
