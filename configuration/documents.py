"""Reading the configuration documents that maker-checker governs, and their history.

A document's current version is a row of `config_setting_version`; only an approved change
(`activities.changes.apply_change`) writes a new one. Readers always go to the database, so
an approved change is seen by the very next call; nothing is cached across calls.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, TypeVar

import annotated_types
from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from changes.queries.open_changes import open_changes
from configuration.schemas import CONFIG_LABELS, CONFIG_SCHEMAS
from core.db import Database
from models.cases import Case, Decision
from models.changes import ChangeRequest
from models.config import (
    ConfigFieldPublic,
    ConfigPendingPublic,
    ConfigPublic,
    ConfigSetting,
    ConfigSettingVersion,
    ConfigVersionPublic,
)
from models.staff import StaffUser

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ConfigVersion:
    key: str
    version: int
    values: BaseModel


def validated(key: str, stored: dict[str, Any]) -> BaseModel:
    """A stored document read through its schema.

    Fields the schema no longer has are dropped and fields it gained take their defaults,
    so a schema change never needs a data migration; values out of today's bounds raise.
    """
    schema = CONFIG_SCHEMAS[key]
    return schema.model_validate({k: v for k, v in stored.items() if k in schema.model_fields})


def config_values(key: str, stored: dict[str, Any]) -> dict[str, Any]:
    """`validated` as the JSON document maker-checker diffs and stores."""
    return validated(key, stored).model_dump(mode="json")


def in_schema_order(key: str, values: dict[str, Any]) -> dict[str, Any]:
    """The document's fields in its schema's order (JSONB keeps keys in its own order)."""
    order = list(CONFIG_SCHEMAS[key].model_fields) if key in CONFIG_SCHEMAS else []
    known = {k: values[k] for k in order if k in values}
    return {**known, **{k: v for k, v in values.items() if k not in known}}


def config_label(key: str) -> str:
    return CONFIG_LABELS.get(key, key.replace("_", " ").capitalize())


async def _current(
    session: AsyncSession, key: str
) -> tuple[ConfigSetting, ConfigSettingVersion] | None:
    row = (
        await session.exec(
            select(ConfigSetting, ConfigSettingVersion)
            .join(
                ConfigSettingVersion,
                (col(ConfigSettingVersion.setting_id) == ConfigSetting.id)
                & (col(ConfigSettingVersion.version) == ConfigSetting.current_version),
            )
            .where(ConfigSetting.key == key)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def load_config(db: Database, key: str, *, version: int | None = None) -> ConfigVersion:
    """The current version of configuration `key` (its defaults, version 0, if not installed),
    or the given `version` of it (a process that recorded the version it runs under)."""
    schema = CONFIG_SCHEMAS[key]
    async with db.session() as session:
        found = await _current(session, key)
        if found is not None and version is not None and version != found[1].version:
            old = (
                await session.exec(
                    select(ConfigSettingVersion).where(
                        ConfigSettingVersion.setting_id == found[0].id,
                        ConfigSettingVersion.version == version,
                    )
                )
            ).first()
            if old is not None:
                found = (found[0], old)
    if found is None:
        return ConfigVersion(key=key, version=0, values=schema())
    row = found[1]
    return ConfigVersion(key=key, version=row.version, values=validated(key, row.values))


async def load_typed(db: Database, key: str, schema: type[M]) -> tuple[int, M]:
    """`load_config` with the model's type, for callers that read its fields."""
    found = await load_config(db, key)
    assert isinstance(found.values, schema)
    return found.version, found.values


def _fields(key: str, values: dict[str, Any]) -> list[ConfigFieldPublic]:
    out = []
    for name, info in CONFIG_SCHEMAS[key].model_fields.items():
        lo = next((m.ge for m in info.metadata if isinstance(m, annotated_types.Ge)), None)
        hi = next((m.le for m in info.metadata if isinstance(m, annotated_types.Le)), None)
        out.append(
            ConfigFieldPublic(
                name=name,
                value=values.get(name),
                # A default built by a factory (a list of lists' settings) is shown built.
                default=to_jsonable_python(info.get_default(call_default_factory=True)),
                description=info.description,
                minimum=lo if isinstance(lo, int) else None,
                maximum=hi if isinstance(hi, int) else None,
            )
        )
    return out


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}


async def _pending(
    session: AsyncSession, keys: dict[uuid.UUID, str]
) -> dict[uuid.UUID, list[ConfigPendingPublic]]:
    """Open changes per configuration document; `keys` maps each document's id to its key."""
    rows = await open_changes(session, list(keys))
    out: dict[uuid.UUID, list[ConfigPendingPublic]] = defaultdict(list)
    for change, reference, maker in rows:
        out[change.target_id].append(
            ConfigPendingPublic(
                id=change.id,
                case_id=change.case_id,
                reference=reference,
                status=change.status,
                maker=maker,
                changed=_diff(change.before, in_schema_order(keys[change.target_id], change.after)),
                created_at=change.created_at,
            )
        )
    return out


def _public(key: str, found: tuple[ConfigSetting, ConfigSettingVersion] | None) -> ConfigPublic:
    if found is None:
        values = CONFIG_SCHEMAS[key]().model_dump(mode="json")
        return ConfigPublic(
            id=None,
            key=key,
            label=config_label(key),
            version=0,
            values=values,
            fields=_fields(key, values),
        )
    setting, version = found
    values = config_values(key, version.values)
    return ConfigPublic(
        id=setting.id,
        key=key,
        label=config_label(key),
        version=version.version,
        values=values,
        fields=_fields(key, values),
    )


async def list_configs(session: AsyncSession) -> list[ConfigPublic]:
    """Every governed document with its current version and open changes."""
    docs = [_public(key, await _current(session, key)) for key in CONFIG_SCHEMAS]
    pending = await _pending(session, {d.id: d.key for d in docs if d.id is not None})
    for doc in docs:
        if doc.id is not None:
            doc.pending = pending.get(doc.id, [])
    return docs


async def read_config(session: AsyncSession, key: str) -> ConfigPublic | None:
    if key not in CONFIG_SCHEMAS:
        return None
    doc = _public(key, await _current(session, key))
    if doc.id is not None:
        doc.pending = (await _pending(session, {doc.id: key})).get(doc.id, [])
    return doc


async def key_of(session: AsyncSession, setting_id: uuid.UUID) -> str | None:
    setting = await session.get(ConfigSetting, setting_id)
    return setting.key if setting else None


async def config_history(session: AsyncSession, setting_id: uuid.UUID) -> list[ConfigVersionPublic]:
    """Every version, newest first: what changed, who proposed and approved it, and why."""
    key = await key_of(session, setting_id) or ""
    rows = (
        await session.exec(
            select(ConfigSettingVersion, ChangeRequest, Case.reference, StaffUser.username)
            .outerjoin(ChangeRequest, col(ChangeRequest.id) == ConfigSettingVersion.change_id)
            .outerjoin(Case, col(Case.id) == ChangeRequest.case_id)
            .outerjoin(StaffUser, col(StaffUser.id) == ChangeRequest.maker_id)
            .where(ConfigSettingVersion.setting_id == setting_id)
            .order_by(col(ConfigSettingVersion.version))
        )
    ).all()
    case_ids = [change.case_id for _, change, _, _ in rows if change is not None]
    approvers: dict[uuid.UUID, list[str]] = defaultdict(list)
    if case_ids:
        for case_id, username in (
            await session.exec(
                select(Decision.case_id, StaffUser.username)
                .join(StaffUser, col(StaffUser.id) == Decision.actor_id)
                .where(col(Decision.case_id).in_(case_ids), Decision.outcome == "approve")
                .order_by(col(Decision.decided_at))
            )
        ).all():
            approvers[case_id].append(username)
    out: list[ConfigVersionPublic] = []
    previous: dict[str, Any] = {}
    for version, change, reference, maker in rows:
        values = in_schema_order(key, version.values)
        out.append(
            ConfigVersionPublic(
                version=version.version,
                values=values,
                changed=_diff(previous, values) if previous else {},
                created_at=version.created_at,
                note=version.note,
                change_id=version.change_id,
                case_id=change.case_id if change else None,
                change_reference=reference,
                maker=maker,
                approvers=approvers.get(change.case_id, []) if change else [],
                reason=change.reason if change else None,
            )
        )
        previous = values
    out.reverse()
    return out
