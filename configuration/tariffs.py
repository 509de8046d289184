"""Reading tariff plans, their fees and limits, and each target's version history."""

from __future__ import annotations

import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from changes.queries.open_changes import open_changes
from configuration.documents import config_label
from models.cases import Case
from models.changes import ChangeRequest
from models.config import ConfigSetting
from models.money import quantize
from models.tariffs import (
    LIMIT_PERIODS,
    TARGET_MODELS,
    TRANSACTION_TYPES,
    Fee,
    FeePublic,
    FeeVersion,
    Limit,
    LimitPublic,
    LimitVersion,
    PendingChangeRef,
    TargetVersionPublic,
    TariffPlan,
    TariffPlanPublic,
)


def fee_values(version: FeeVersion, currency: str) -> dict[str, str | None]:
    return {
        "fixed_amount": _money(version.fixed_amount, currency),
        "percent": format(version.percent.quantize(Decimal("0.0001")), "f"),
        "min_amount": _money(version.min_amount, currency),
        "max_amount": _money(version.max_amount, currency),
    }


def limit_values(version: LimitVersion, currency: str) -> dict[str, str | None]:
    return {"amount": _money(version.amount, currency)}


def current_values(target_type: str, version: Any, currency: str) -> dict[str, str | None]:
    """The values of one fee or limit version, as strings in the currency's minor units."""
    if target_type == "fee":
        return fee_values(version, currency)
    return limit_values(version, currency)


def _money(value: Decimal | None, currency: str) -> str | None:
    return None if value is None else format(quantize(value, currency), "f")


def target_label(target: Any, plan: TariffPlan | None) -> str:
    """How a change target is named on pages: a plan's fee or limit, or a config document."""
    if isinstance(target, ConfigSetting):
        return f"{config_label(target.key)} (configuration)"
    assert plan is not None
    kind = TRANSACTION_TYPES.get(target.transaction_type, target.transaction_type)
    if isinstance(target, Limit):
        return f"{plan.name} · {kind} limit ({LIMIT_PERIODS.get(target.period, target.period).lower()})"
    return f"{plan.name} · {kind} fee"


async def pending_changes(
    session: AsyncSession, target_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[PendingChangeRef]]:
    rows = await open_changes(session, target_ids)
    out: dict[uuid.UUID, list[PendingChangeRef]] = defaultdict(list)
    for change, reference, maker in rows:
        out[change.target_id].append(
            PendingChangeRef(
                id=change.id,
                reference=reference,
                status=change.status,
                maker=maker,
                after=change.after,
                created_at=change.created_at,
            )
        )
    return out


async def list_plans(
    session: AsyncSession, *, plan_id: uuid.UUID | None = None
) -> list[TariffPlanPublic]:
    plan_query = select(TariffPlan).order_by(col(TariffPlan.segment), col(TariffPlan.code))
    if plan_id is not None:
        plan_query = plan_query.where(TariffPlan.id == plan_id)
    plans = (await session.exec(plan_query)).all()
    if not plans:
        return []
    plan_ids = [p.id for p in plans]
    fees = (
        await session.exec(
            select(Fee, FeeVersion)
            .join(
                FeeVersion,
                (col(FeeVersion.fee_id) == Fee.id)
                & (col(FeeVersion.version) == Fee.current_version),
            )
            .where(col(Fee.plan_id).in_(plan_ids))
            .order_by(col(Fee.transaction_type))
        )
    ).all()
    limits = (
        await session.exec(
            select(Limit, LimitVersion)
            .join(
                LimitVersion,
                (col(LimitVersion.limit_id) == Limit.id)
                & (col(LimitVersion.version) == Limit.current_version),
            )
            .where(col(Limit.plan_id).in_(plan_ids))
            .order_by(col(Limit.transaction_type), col(Limit.period))
        )
    ).all()
    pending = await pending_changes(
        session, [f.id for f, _ in fees] + [lim.id for lim, _ in limits]
    )
    result = []
    for plan in plans:
        plan_fees = [
            FeePublic(
                id=fee.id,
                plan_id=plan.id,
                transaction_type=fee.transaction_type,
                label=TRANSACTION_TYPES.get(fee.transaction_type, fee.transaction_type),
                currency=fee.currency,
                version=fee.current_version,
                fixed_amount=quantize(v.fixed_amount, fee.currency),
                percent=v.percent.quantize(Decimal("0.0001")),
                min_amount=None if v.min_amount is None else quantize(v.min_amount, fee.currency),
                max_amount=None if v.max_amount is None else quantize(v.max_amount, fee.currency),
                pending_changes=pending.get(fee.id, []),
            )
            for fee, v in fees
            if fee.plan_id == plan.id
        ]
        plan_limits = [
            LimitPublic(
                id=lim.id,
                plan_id=plan.id,
                transaction_type=lim.transaction_type,
                label=TRANSACTION_TYPES.get(lim.transaction_type, lim.transaction_type),
                period=lim.period,
                currency=lim.currency,
                version=lim.current_version,
                amount=quantize(v.amount, lim.currency),
                pending_changes=pending.get(lim.id, []),
            )
            for lim, v in limits
            if lim.plan_id == plan.id
        ]
        result.append(
            TariffPlanPublic(
                id=plan.id,
                code=plan.code,
                name=plan.name,
                segment=plan.segment,
                currency=plan.currency,
                is_default=plan.is_default,
                fees=plan_fees,
                limits=plan_limits,
            )
        )
    return result


async def load_target(
    session: AsyncSession, target_type: str, target_id: uuid.UUID, *, lock: bool = False
) -> tuple[Any, Any, TariffPlan | None] | None:
    """(target, its current version row, its plan; None for a config document) or None."""
    models = TARGET_MODELS[target_type]
    target_cls, version_cls, fk = models.target, models.version, models.version_fk
    query = select(target_cls).where(target_cls.id == target_id)
    if lock:
        query = query.with_for_update()
    target = (await session.exec(query)).first()
    if target is None:
        return None
    version = (
        await session.exec(
            select(version_cls).where(
                getattr(version_cls, fk) == target_id, version_cls.version == target.current_version
            )
        )
    ).one()
    if target_type == "config":
        return target, version, None
    plan = await session.get(TariffPlan, target.plan_id)
    assert plan is not None
    return target, version, plan


async def history(
    session: AsyncSession, target_type: str, target_id: uuid.UUID
) -> list[TargetVersionPublic]:
    loaded = await load_target(session, target_type, target_id)
    if loaded is None:
        return []
    target, _, _ = loaded
    models = TARGET_MODELS[target_type]
    version_cls, fk = models.version, models.version_fk
    rows = (
        await session.exec(
            select(version_cls, Case.reference)
            .outerjoin(ChangeRequest, col(ChangeRequest.id) == version_cls.change_id)
            .outerjoin(Case, col(Case.id) == ChangeRequest.case_id)
            .where(getattr(version_cls, fk) == target_id)
            .order_by(version_cls.version.desc())
        )
    ).all()
    out = []
    for version, reference in rows:
        out.append(
            TargetVersionPublic(
                version=version.version,
                values=current_values(target_type, version, target.currency),
                created_at=version.created_at,
                change_id=version.change_id,
                change_reference=reference,
                note=version.note,
            )
        )
    return out
