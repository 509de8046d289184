"""Rules written without code as the rules page and the API show them."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from aml.commands.expression_store import current_rules
from aml.commands.monitoring_store import load_rules
from aml.expression_policy import ExpressionRule, rule_key, slug_of
from aml.rule_language import RuleSyntaxError, explain
from aml.rule_templates import BUILDERS, Template, templates
from configuration.documents import read_config
from core.db import Database, run_sql
from identity.access import require
from identity.actors import Actor
from models.base import utcnow
from models.config import ConfigPendingPublic

TEMPLATE_RULES = frozenset(BUILDERS)  # the built-in rules offered as templates


class ExpressionRulePublic(BaseModel):
    slug: str
    key: str = Field(description="The configuration document: aml_expr_<slug>.")
    rule_key: str = Field(description="What its alerts say: expr_<slug>.")
    version: int
    status: str = Field(
        description="live, shadow, shadow until <date>, disabled or awaiting approval."
    )
    title: str
    expression: str
    meaning: str = Field(description="The expression in words.")
    severity: str
    score: int
    alerts_30d: int
    pending: list[ConfigPendingPublic] = []


class RuleMeaning(BaseModel):
    meaning: str | None = None
    problem: str | None = None


def meaning(expression: str) -> RuleMeaning:
    """What an expression means in words, or what is wrong with it (never evaluated)."""
    try:
        return RuleMeaning(meaning=explain(expression))
    except RuleSyntaxError as exc:
        return RuleMeaning(problem=str(exc))


def _status(config: ExpressionRule, version: int, since: datetime) -> str:
    if not config.enabled:
        return "awaiting approval" if version == 1 else "disabled"
    if config.mode == "live":
        return "live"
    if config.shadow_days == 0:
        return "shadow"
    until = since + timedelta(days=config.shadow_days)
    return "live" if until <= utcnow() else f"shadow until {until:%Y-%m-%d}"


async def alerts_last_30_days(db: Database) -> dict[str, int]:
    """Alerts per rule key (built-in and written) detected in the last 30 days."""
    async with db.session() as session:
        rows = (
            await run_sql(
                session,
                "SELECT rule_key, count(*) FROM aml_alert WHERE detected_at > :since GROUP BY 1",
                {"since": utcnow() - timedelta(days=30)},
            )
        ).all()
    return {r[0]: int(r[1]) for r in rows}


async def expression_rules(db: Database, actor: Actor) -> list[ExpressionRulePublic]:
    """Every rule written without code: version, status, alerts in the last 30 days, pending."""
    await require(db, actor, "config", "read", action="aml.rules", object_type="config")
    rows = await current_rules(db)
    counts = await alerts_last_30_days(db)
    async with db.session() as session:
        out = []
        for key, version, _values, since in rows:
            slug = slug_of(key)
            doc = await read_config(session, key)
            if slug is None or doc is None:
                continue
            config = ExpressionRule.model_validate(doc.values)
            state = _status(config, version, since)
            if not config.enabled and doc.pending:
                # Not running yet: show what the first pending change proposes.
                after = {k: v[1] for k, v in doc.pending[0].changed.items()}
                config = config.model_copy(update=after)
            out.append(
                ExpressionRulePublic(
                    slug=slug,
                    key=key,
                    rule_key=rule_key(slug),
                    version=version,
                    status=state,
                    title=config.title or slug,
                    expression=config.expression,
                    meaning=meaning(config.expression).meaning or "" if config.expression else "",
                    severity=config.severity,
                    score=config.score,
                    alerts_30d=counts.get(rule_key(slug), 0),
                    pending=doc.pending,
                )
            )
    return out


async def rule_templates(db: Database) -> list[Template]:
    """The built-in rules as templates, at their current settings."""
    return templates({rule.name: rule.config for rule in await load_rules(db)})
