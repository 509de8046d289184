"""The version in force of the two access documents (identity.policy), read in the caller's
session. `configuration.documents` reads every governed document, but it sits above
identity (it knows each process's policy), so identity reads its own two here."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.config import ConfigSetting, ConfigSettingVersion

M = TypeVar("M", bound=BaseModel)


def values_in_force(key: str) -> Any:
    """The values of document `key` in force as a scalar subquery (NULL when none was ever
    approved), for a caller that reads it inside a query of its own; `read_values` reads it."""
    return (
        select(ConfigSettingVersion.values)
        .join(ConfigSetting, col(ConfigSetting.id) == ConfigSettingVersion.setting_id)
        .where(
            ConfigSetting.key == key,
            col(ConfigSettingVersion.version) == ConfigSetting.current_version,
        )
        .scalar_subquery()
    )


def read_values(values: dict[str, Any] | None, schema: type[M]) -> M:
    """Stored values read through `schema` as `in_force` reads them (defaults when None)."""
    known = schema.model_fields
    return schema.model_validate({k: v for k, v in (values or {}).items() if k in known})


async def in_force(
    session: AsyncSession, key: str, schema: type[M]
) -> tuple[ConfigSettingVersion | None, M]:
    """The approved version of document `key` in force (None, with the schema's defaults,
    when none was ever approved), its values read through `schema` (fields it no longer has
    dropped, as configuration.documents.validated does)."""
    row = (
        await session.exec(
            select(ConfigSettingVersion)
            .join(ConfigSetting, col(ConfigSetting.id) == ConfigSettingVersion.setting_id)
            .where(
                ConfigSetting.key == key,
                col(ConfigSettingVersion.version) == ConfigSetting.current_version,
            )
        )
    ).first()
    if row is None:
        return None, schema.model_validate({})
    known = schema.model_fields
    return row, schema.model_validate({k: v for k, v in row.values.items() if k in known})
