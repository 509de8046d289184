"""A new rule written without code, proposed through the configuration change machinery.

A new rule `<slug>` is the document `aml_expr_<slug>` created at version 1 disabled (its
schema's defaults: nothing runs), and its first real version proposed as a change in the
same request; a second risk manager or MLRO approves it like any other configuration
change (and sees its backtest first). Editing a rule is an ordinary proposed change to its
document (`changes.commands.requests.propose_change`).
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlmodel import delete, select
from temporalio.client import Client

from aml.expression_policy import SLUG, ExpressionRule, config_key
from audit.trail import record
from changes.commands.requests import propose_change
from changes.rules import plan_config_change
from core.db import Database
from core.settings import Settings
from identity.access import require
from identity.actors import Actor
from models.changes import ChangeCreate, ChangeCreated
from models.config import ConfigSetting, ConfigSettingVersion
from shared.errors import Conflict, Invalid


class NewRule(BaseModel):
    """A new rule as its maker writes it (form or `POST /api/v1/aml/rules`)."""

    slug: str = Field(
        description="Short name, a-z 0-9 _ (2-31 characters): the document "
        "aml_expr_<slug>, alerts say expr_<slug>."
    )
    values: dict[str, str | int | None] = Field(
        description="The rule's fields (title, expression, …)."
    )
    reason: str = Field(min_length=10, max_length=2000, description="Why the rule is needed.")


def check_new_rule(data: NewRule) -> str:
    """The new document's key once the slug and the values are valid (raises Invalid)."""
    slug = data.slug.strip().lower()
    if not SLUG.fullmatch(slug):
        raise Invalid(
            "The short name is not valid.",
            fields={"slug": "2 to 31 characters: a-z, 0-9 and _, starting with a letter"},
        )
    key = config_key(slug)
    values = {**data.values, "enabled": "true"}
    plan_config_change(key, ExpressionRule().model_dump(mode="json"), values)
    return key


async def propose_new_rule(
    db: Database, temporal: Client, settings: Settings, actor: Actor, data: NewRule
) -> ChangeCreated:
    """Create the rule's document (disabled) and propose its first version for approval."""
    await require(
        db, actor, "change", "propose_config", action="aml.rule.create", object_type="config"
    )
    key = check_new_rule(data)
    async with db.transaction() as session:
        taken = (await session.exec(select(ConfigSetting).where(ConfigSetting.key == key))).first()
        if taken is not None:
            raise Conflict(
                f"A rule named {data.slug!r} exists already: edit it instead.",
                code="rule_exists",
            )
        setting = ConfigSetting(key=key, current_version=1)
        session.add(setting)
        await session.flush()
        session.add(
            ConfigSettingVersion(
                setting_id=setting.id,
                version=1,
                values=ExpressionRule().model_dump(mode="json"),
                note="created disabled for a new rule; its first version awaits approval",
            )
        )
        await record(
            session,
            action="config.created",
            actor=actor.ref,
            origin=actor.origin,
            object_type="config",
            object_id=setting.id,
            details={"key": key},
        )
        setting_id = setting.id
    try:
        return await propose_change(
            db,
            temporal,
            settings,
            actor,
            ChangeCreate(
                target_type="config",
                target_id=setting_id,
                changes={**data.values, "enabled": "true"},
                reason=data.reason,
            ),
        )
    except Exception:
        # Nothing was proposed: the empty document goes again, so the name stays free.
        async with db.transaction() as session:
            await record(
                session,
                action="config.discarded",
                actor=actor.ref,
                origin=actor.origin,
                object_type="config",
                object_id=setting_id,
                details={"key": key, "why": "the first version could not be proposed"},
            )
            await session.exec(
                delete(ConfigSettingVersion).where(ConfigSettingVersion.setting_id == setting_id)  # type: ignore[arg-type]
            )
            await session.exec(delete(ConfigSetting).where(ConfigSetting.id == setting_id))  # type: ignore[arg-type]
        raise
