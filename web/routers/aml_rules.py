"""AML rules written without code: list, write a new one (validated and explained), propose.

A new rule is proposed like every configuration change (`aml.commands.rule_authoring`);
a second risk manager or MLRO approves it on the change's page, where its backtest shows.
Editing a rule is the document's own settings page (`/settings/aml_expr_<slug>`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from aml.commands.rule_authoring import NewRule, check_new_rule, propose_new_rule
from aml.expression_policy import ExpressionRule
from aml.queries.expression_views import (
    ExpressionRulePublic,
    RuleMeaning,
    expression_rules,
    meaning,
    rule_templates,
)
from identity.access import require
from models.changes import ChangeCreated
from shared.errors import Invalid
from web.deps import CurrentActor, ServicesDep, TemporalDep
from web.deps import require as guard
from web.responses import API_ERRORS, WRITE_ERRORS
from web.templating import render

api = APIRouter(prefix="/api/v1/aml/rules", tags=["aml"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)
FIELDS = tuple(f for f in ExpressionRule.model_fields if f != "enabled")
# Guards refuse before the body is read (403, audited); the domain checks again.
Reader = Depends(guard("config", "read", action="aml.rule.explain"))
Proposer = Depends(guard("change", "propose_config", action="aml.rule.create"))


class ExpressionCheck(BaseModel):
    expression: str = Field(max_length=2000)


# ----------------------------------------------------------------------------- JSON API
@api.get("/expressions", response_model=list[ExpressionRulePublic])
async def list_expression_rules(
    services: ServicesDep, actor: CurrentActor
) -> list[ExpressionRulePublic]:
    """Every rule written without code: version, status, alerts in the last 30 days."""
    return await expression_rules(services.db, actor)


@api.post("/explain", response_model=RuleMeaning, dependencies=[Reader])
async def explain_expression(
    services: ServicesDep, actor: CurrentActor, body: ExpressionCheck
) -> RuleMeaning:
    """An expression in words, or what is wrong with it; nothing is saved or evaluated."""
    await require(services.db, actor, "config", "read", action="aml.rule.explain")
    return meaning(body.expression)


@api.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ChangeCreated,
    responses=WRITE_ERRORS,
    dependencies=[Proposer],
)
async def propose_rule(
    services: ServicesDep, temporal: TemporalDep, actor: CurrentActor, body: NewRule
) -> ChangeCreated:
    """Propose a new rule (`values`: title, expression, why, severity, score, mode,
    shadow_days, cooldown_days); it runs once a second risk manager or MLRO approves it.
    Change it later with `POST /api/v1/changes` on its document `aml_expr_<slug>`."""
    return await propose_new_rule(services.db, temporal, services.settings, actor, body)


# ----------------------------------------------------------------------------- pages
async def _form_page(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    form: dict[str, Any],
    status_code: int = 200,
    **extra: Any,
) -> Response:
    await require(services.db, actor, "config", "read", action="aml.rule.new")
    expression = str(form.get("expression") or "")
    return render(
        request,
        "aml_rule_new.html",
        {
            "form": form,
            "templates": await rule_templates(services.db),
            "explained": meaning(expression) if expression.strip() else None,
            "errors": {},
            "error": None,
            **extra,
        },
        status_code=status_code,
    )


@pages.get("/aml/rules/new")
async def new_rule_page(
    request: Request, services: ServicesDep, actor: CurrentActor, template: str = ""
) -> Response:
    form: dict[str, Any] = {"mode": "shadow", "shadow_days": 14, "cooldown_days": 30}
    chosen = next((t for t in await rule_templates(services.db) if t.name == template), None)
    if chosen is not None:
        form |= {
            "title": chosen.title,
            "expression": chosen.expression,
            "severity": chosen.severity,
            "score": chosen.score,
            "template_note": chosen.note,
        }
    return await _form_page(request, services, actor, form)


@pages.post("/aml/rules/new", dependencies=[Proposer])
async def new_rule_form(
    request: Request,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    action: Annotated[str, Form(max_length=10)] = "check",
) -> Response:
    raw = await request.form()
    form = {k: str(v) for k, v in raw.items() if k != "csrf_token"}
    values: dict[str, str | int | None] = {f: form.get(f, "") for f in FIELDS if f in form}
    data = NewRule.model_construct(
        slug=form.get("slug", ""), values=values, reason=form.get("reason", "")
    )
    try:
        if action != "propose":
            check_new_rule(data)
            return await _form_page(request, services, actor, form, checked=True)
        data = NewRule.model_validate(
            {"slug": form.get("slug", ""), "values": values, "reason": form.get("reason", "")}
        )
        created = await propose_new_rule(services.db, temporal, services.settings, actor, data)
    except Invalid as exc:
        errors = {k.removeprefix("changes."): v for k, v in exc.fields.items()}
        return await _form_page(
            request, services, actor, form, errors=errors, error=exc.message, status_code=422
        )
    except ValueError as exc:  # pydantic: the reason too short
        return await _form_page(
            request,
            services,
            actor,
            form,
            errors={"reason": "at least 10 characters: why the rule is needed"},
            error=str(exc).splitlines()[0],
            status_code=422,
        )
    url = str(request.url_for("read_case", case_id=created.case_id)) + "?notice=proposed"
    return RedirectResponse(url, status_code=303)
