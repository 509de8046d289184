"""Jinja templates (autoescaped) rendered whole or by block, with our formatting filters."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from jinja2_fragments.fastapi import Jinja2Blocks

from aml.queries.network_view import network_drawing
from aml.rule_policy import rule_title
from casework.catalog import find_kind
from models.money import format_amount
from models.roles import ROLE_LABELS
from models.tariffs import LIMIT_PERIODS, TRANSACTION_TYPES
from onboarding.rules import FUNDS_EVIDENCE, SOURCES_OF_FUNDS
from policies.enforcer import allowed
from shared.days import relative
from web import temporal_links

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


def _dt(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _relative(value: datetime | None, now: datetime | None = None) -> str:
    return relative(value, now or datetime.now(UTC))


def _money(value: Any, currency: str) -> str:
    if value is None or value == "":
        return "—"
    return format_amount(Decimal(str(value)), currency)


def _percent(value: Any) -> str:
    if value is None or value == "":
        return "—"
    return f"{Decimal(str(value)).normalize():f} %"


templates = Jinja2Blocks(directory=str(TEMPLATE_DIR))
env = templates.env


def _setting(value: Any) -> Any:
    """A configuration value as a person reads it: a list of named items (the screening
    lists) as "UN-SC on ≤ 7 d · PEP-OS off ≤ 30 d", anything else as it is."""
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(i, dict) and "name" in i for i in value)
    ):
        return " · ".join(
            f"{i['name']} {'on' if i.get('enabled', True) else 'off'}"
            + (f" ≤ {i['max_age_days']} d" if "max_age_days" in i else "")
            for i in value
        )
    return value


env.filters["setting"] = _setting
env.filters["dt"] = _dt
env.filters["relative"] = _relative
env.filters["money"] = _money
env.filters["percent"] = _percent
env.filters["rule_title"] = rule_title
env.filters["network_drawing"] = network_drawing
env.globals["TRANSACTION_TYPES"] = TRANSACTION_TYPES
env.globals["LIMIT_PERIODS"] = LIMIT_PERIODS
env.globals["ROLE_LABELS"] = ROLE_LABELS
env.globals["SOURCES_OF_FUNDS"] = SOURCES_OF_FUNDS
env.globals["FUNDS_EVIDENCE"] = FUNDS_EVIDENCE


def _step_up_for(kind: str) -> tuple[str, ...]:
    """The outcomes of a task kind that need a fresh second factor (identity.mfa)."""
    entry = find_kind(kind)
    return entry.step_up_for if entry is not None else ()


env.globals["step_up_for"] = _step_up_for


def page_context(request: Request) -> dict[str, Any]:
    """Variables every page needs: who is signed in, their CSRF token, what they may open."""
    info = getattr(request.state, "auth", None)
    actor = info.actor if info else None
    roles = actor.roles if actor else frozenset()
    namespace = request.app.state.services.settings.temporal_namespace
    return {
        "actor": actor,
        "csrf_token": info.session.csrf_token if info else "",
        "can": lambda obj, act: bool(actor) and allowed(roles, obj, act),
        "now": datetime.now(UTC),
        # The Temporal UI through our read-only proxy (web/routers/temporal_ui.py).
        "temporal_ui": temporal_links.PREFIX,
        "temporal_workflow": lambda workflow_id: temporal_links.workflow_link(
            namespace, workflow_id
        ),
        "namespace": namespace,
    }


templates.context_processors.append(page_context)


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    block: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Any:
    """The whole page, or only `block` (for an HTMX request that swaps that block)."""
    return templates.TemplateResponse(
        request,
        name,
        context or {},
        status_code=status_code,
        headers=headers,
        block_name=block,
    )
