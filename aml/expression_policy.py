"""Rules written without code: one maker-checker configuration document per rule.

A rule `<slug>` is the document `aml_expr_<slug>`, versioned like every configuration
document; its alerts say `expr_<slug>` and the version that raised them. A new rule is a
document created disabled (version 1, nothing runs) with its first real version proposed
as a change: it runs only once a second risk manager or MLRO approved it.

Every field is a whole number, a switch or text, so the change machinery
(`changes.rules.plan_config_change`) validates and diffs it like any other document.
"""

from __future__ import annotations

import re

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from aml.rule_language import RuleSyntaxError, parse_rule

CONFIG_PREFIX = "aml_expr_"
RULE_PREFIX = "expr_"
SLUG = re.compile(r"[a-z][a-z0-9_]{1,30}")
SEVERITIES = ("low", "medium", "high")
MODES = ("live", "shadow")
_CHOICES = {"severity": SEVERITIES, "mode": MODES}
WHY_FIELDS = ("values", "title", "segment", "customer")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class ExpressionRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        default=False, description="Whether the rule runs on new transactions (live or shadow)."
    )
    title: str = Field(default="", description="What alerts call the rule, e.g. 'Many senders'.")
    expression: str = Field(
        default="",
        description="The condition over windowed aggregates, e.g. "
        'distinct_counterparties(days=60, direction="in") >= 8.',
    )
    why: str = Field(
        default="{values}",
        description="The alert's reason; {values} is the rule's figures in words, "
        "{title}, {segment} and {customer} may be used too.",
    )
    severity: str = Field(default="medium", description="low, medium or high.")
    score: int = Field(
        default=50, ge=0, le=100, description="How much an alert weighs in the case's priority."
    )
    mode: str = Field(
        default="shadow",
        description="live (alerts open cases) or shadow (alerts are recorded, not routed).",
    )
    shadow_days: int = Field(
        default=14,
        ge=0,
        le=365,
        description="In shadow mode: days after approval the rule stays in shadow, then runs live "
        "(0: stays in shadow until changed).",
    )
    cooldown_days: int = Field(
        default=30,
        ge=0,
        le=365,
        description="Days after an alert during which the rule stays quiet on that account.",
    )

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        value = " ".join(value.split())
        if len(value) > 80:
            raise ValueError("must be at most 80 characters")
        return value

    @field_validator("severity", "mode")
    @classmethod
    def _one_of(cls, value: str, info: ValidationInfo) -> str:
        choices = _CHOICES[info.field_name or ""]
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    @field_validator("why")
    @classmethod
    def _why(cls, value: str) -> str:
        value = " ".join(value.split()) or "{values}"
        for name in _PLACEHOLDER.findall(value):
            if name not in WHY_FIELDS:
                raise ValueError(
                    f"unknown placeholder {{{name}}}; use {', '.join('{' + f + '}' for f in WHY_FIELDS)}"
                )
        return value

    @field_validator("expression")
    @classmethod
    def _expression(cls, value: str) -> str:
        value = " ".join(value.split())
        if value:
            try:
                parse_rule(value)
            except RuleSyntaxError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _runnable(self) -> ExpressionRule:
        if self.enabled and not self.expression:
            raise ValueError("an enabled rule needs an expression")
        if self.enabled and not self.title:
            raise ValueError("an enabled rule needs a title")
        return self


def config_key(slug: str) -> str:
    return f"{CONFIG_PREFIX}{slug}"


def rule_key(slug: str) -> str:
    """What the rule's alerts say (`aml_alert.rule_key`)."""
    return f"{RULE_PREFIX}{slug}"


def slug_of(key: str) -> str | None:
    """`many_senders` for `aml_expr_many_senders`, None for any other key."""
    if not key.startswith(CONFIG_PREFIX):
        return None
    slug = key.removeprefix(CONFIG_PREFIX)
    return slug if SLUG.fullmatch(slug) else None


def render_why(template: str, fields: dict[str, str]) -> str:
    """The template with its placeholders filled (a plain substitution: no format language)."""
    return _PLACEHOLDER.sub(lambda m: fields.get(m.group(1), m.group(0)), template)
