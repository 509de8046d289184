"""Rules written without code as stored: their documents, and their judge at the current
configuration or with proposed versions (`aml.commands.judges.LOADERS`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from aml.engines.expression_rules import CompiledRule, ExpressionJudge, compile_rule
from aml.engines.judging import Judge
from aml.expression_policy import CONFIG_PREFIX, ExpressionRule, slug_of
from aml.rule_language import RuleSyntaxError
from core.db import Database, run_sql

Overrides = Mapping[str, dict[str, Any] | None]  # as aml.commands.judges.Overrides


def _config(values: dict[str, Any]) -> ExpressionRule | None:
    try:
        return ExpressionRule.model_validate(
            {k: v for k, v in values.items() if k in ExpressionRule.model_fields}
        )
    except (ValidationError, RuleSyntaxError):
        return None  # a document today's schema refuses runs nothing (it was valid once)


async def current_rules(db: Database) -> list[tuple[str, int, dict[str, Any], datetime]]:
    """(key, version, values, since) of every expression rule document as it stands."""
    async with db.session() as session:
        rows = (
            await run_sql(
                session,
                "SELECT s.key, v.version, v.values, v.created_at FROM config_setting s "
                "JOIN config_setting_version v ON v.setting_id = s.id "
                "AND v.version = s.current_version WHERE s.key LIKE :prefix ORDER BY s.key",
                {"prefix": CONFIG_PREFIX + "%"},
            )
        ).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows if slug_of(r[0])]


async def expression_judges(db: Database, overrides: Overrides) -> list[Judge]:
    """The `expression` family's judge; `overrides` name proposed versions (a backtest)."""
    compiled: list[CompiledRule] = []
    seen: set[str] = set()
    for key, version, values, since in await current_rules(db):
        seen.add(key)
        approved_at: datetime | None = since
        if key in overrides:
            proposed = overrides[key]
            if proposed is None:
                continue
            values, version, approved_at = proposed, version + 1, None
        config = _config(values)
        slug = slug_of(key)
        if config is not None and config.enabled and slug is not None:
            compiled.append(compile_rule(slug, version, config, approved_at))
    for key, proposed in overrides.items():
        slug = slug_of(key)
        if key in seen or slug is None or proposed is None:
            continue
        config = _config(proposed)
        if config is not None and config.enabled:
            compiled.append(compile_rule(slug, 1, config, None))
    if not compiled:
        return []
    async with db.session() as session:
        references = (
            {
                row[0]: row[1]
                for row in (await run_sql(session, "SELECT id, reference FROM customer")).all()
            }
            if any("{customer}" in c.config.why for c in compiled)
            else {}
        )
    return [ExpressionJudge(compiled, references)]
