"""Tariff plans with fees and limits. Every version is kept; `current_version` applies now."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import money, tz_now, uuid_pk
from models.config import ConfigSetting, ConfigSettingVersion

TRANSACTION_TYPES: dict[str, str] = {
    "card_purchase": "Card purchase",
    "card_purchase_fx": "Card purchase abroad (FX)",
    "atm_withdrawal": "ATM withdrawal",
    "sepa_transfer": "SEPA transfer",
    "sepa_instant": "SEPA instant transfer",
    "swift_transfer": "SWIFT transfer",
    "faster_payment": "Faster Payments (UK)",
    "ach_transfer": "ACH transfer",
    "wire_transfer": "Domestic wire",
    "cash_deposit": "Cash deposit",
    "account_maintenance": "Account maintenance (monthly)",
}

LIMIT_PERIODS: dict[str, str] = {
    "per_transaction": "Per transaction",
    "daily": "Daily",
    "monthly": "Monthly",
}


class TariffPlan(SQLModel, table=True):
    __tablename__ = "tariff_plan"

    id: uuid.UUID = uuid_pk()
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=200)
    segment: str = Field(max_length=40)  # retail | business | private
    currency: str = Field(max_length=3)
    is_default: bool = False
    created_at: datetime = tz_now()


class Fee(SQLModel, table=True):
    __tablename__ = "fee"
    __table_args__ = (UniqueConstraint("plan_id", "transaction_type", name="uq_fee_plan_type"),)

    id: uuid.UUID = uuid_pk()
    plan_id: uuid.UUID = Field(foreign_key="tariff_plan.id", index=True)
    transaction_type: str = Field(max_length=40)
    currency: str = Field(max_length=3)
    current_version: int = 1


class FeeVersion(SQLModel, table=True):
    __tablename__ = "fee_version"
    __table_args__ = (UniqueConstraint("fee_id", "version", name="uq_fee_version"),)

    id: uuid.UUID = uuid_pk()
    fee_id: uuid.UUID = Field(foreign_key="fee.id", index=True)
    version: int
    fixed_amount: Decimal = money()
    percent: Decimal = money()
    min_amount: Decimal | None = money(nullable=True)
    max_amount: Decimal | None = money(nullable=True)
    created_at: datetime = tz_now()
    change_id: uuid.UUID | None = Field(default=None, unique=True)
    note: str | None = Field(default=None, max_length=300)


class Limit(SQLModel, table=True):
    __tablename__ = "limit_rule"
    __table_args__ = (
        UniqueConstraint("plan_id", "transaction_type", "period", name="uq_limit_plan_type_period"),
    )

    id: uuid.UUID = uuid_pk()
    plan_id: uuid.UUID = Field(foreign_key="tariff_plan.id", index=True)
    transaction_type: str = Field(max_length=40)
    period: str = Field(max_length=20)
    currency: str = Field(max_length=3)
    current_version: int = 1


class LimitVersion(SQLModel, table=True):
    __tablename__ = "limit_version"
    __table_args__ = (UniqueConstraint("limit_id", "version", name="uq_limit_version"),)

    id: uuid.UUID = uuid_pk()
    limit_id: uuid.UUID = Field(foreign_key="limit_rule.id", index=True)
    version: int
    amount: Decimal = money()
    created_at: datetime = tz_now()
    change_id: uuid.UUID | None = Field(default=None, unique=True)
    note: str | None = Field(default=None, max_length=300)


class PendingChangeRef(SQLModel):
    id: uuid.UUID
    reference: str
    status: str
    maker: str
    after: dict[str, str | int | None]
    created_at: datetime


class FeePublic(SQLModel):
    id: uuid.UUID
    plan_id: uuid.UUID
    transaction_type: str
    label: str
    currency: str
    version: int
    fixed_amount: Decimal
    percent: Decimal
    min_amount: Decimal | None
    max_amount: Decimal | None
    pending_changes: list[PendingChangeRef] = []


class LimitPublic(SQLModel):
    id: uuid.UUID
    plan_id: uuid.UUID
    transaction_type: str
    label: str
    period: str
    currency: str
    version: int
    amount: Decimal
    pending_changes: list[PendingChangeRef] = []


class TariffPlanPublic(SQLModel):
    id: uuid.UUID
    code: str
    name: str
    segment: str
    currency: str
    is_default: bool
    fees: list[FeePublic]
    limits: list[LimitPublic]


class TargetVersionPublic(SQLModel):
    version: int
    values: dict[str, str | None]
    created_at: datetime
    change_id: uuid.UUID | None
    change_reference: str | None = None
    note: str | None


@dataclass(frozen=True)
class TargetModels:
    """The tables behind one kind of change target: the target, its versions, the link."""

    target: Any
    version: Any
    version_fk: str  # the version table's column pointing at the target


TARGET_MODELS: dict[str, TargetModels] = {
    "fee": TargetModels(Fee, FeeVersion, "fee_id"),
    "limit": TargetModels(Limit, LimitVersion, "limit_id"),
    "config": TargetModels(ConfigSetting, ConfigSettingVersion, "setting_id"),
}
