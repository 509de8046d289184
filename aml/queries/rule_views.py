"""The monitoring rules' configuration documents as the rules page shows them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from aml.rule_policy import CONFIG_PREFIX
from configuration.documents import list_configs
from core.db import Database
from identity.access import require
from identity.actors import Actor
from models.config import ConfigPublic, ConfigSettingVersion


# ----------------------------------------------------------------------------- rules
@dataclass
class RuleDocument:
    doc: ConfigPublic
    rule_key: str | None  # None for the case policy document
    enabled: bool | None
    summary: list[tuple[str, str]]
    versions: int


def _short(value: Any) -> str:
    if isinstance(value, list):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, dict):
        text = ", ".join(f"{k}: {v}" for k, v in value.items())
    else:
        text = str(value)
    return text if len(text) <= 80 else text[:77] + "…"


async def rule_documents(db: Database, actor: Actor) -> list[RuleDocument]:
    """Every monitoring rule document (and the case policy) with versions and pending changes."""
    await require(db, actor, "aml", "read", action="aml.rules", object_type="aml")
    await require(db, actor, "config", "read", action="aml.rules", object_type="config")
    async with db.session() as session:
        docs = [
            d
            for d in await list_configs(session)
            if d.key.startswith(CONFIG_PREFIX) or d.key == "aml_case"
        ]
        counts: dict[uuid.UUID, int] = {
            setting_id: int(n)
            for setting_id, n in (
                await session.exec(
                    select(ConfigSettingVersion.setting_id, func.count()).group_by(
                        col(ConfigSettingVersion.setting_id)
                    )
                )
            ).all()
        }
    out = []
    for doc in sorted(docs, key=lambda d: (d.key == "aml_case", d.key)):
        enabled = doc.values.get("enabled")
        out.append(
            RuleDocument(
                doc=doc,
                rule_key=doc.key.removeprefix(CONFIG_PREFIX)
                if doc.key.startswith(CONFIG_PREFIX)
                else None,
                enabled=enabled if isinstance(enabled, bool) else None,
                summary=[(k, _short(v)) for k, v in doc.values.items() if k != "enabled"],
                versions=counts.get(doc.id, 0) if doc.id else 0,
            )
        )
    return out
