"""What a valid proposal is, and who must approve it (pure: no I/O)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from aml.expression_policy import CONFIG_PREFIX as AML_EXPR_PREFIX
from aml.rule_policy import CONFIG_PREFIX as AML_RULE_PREFIX
from casework.registry import CaseType, TaskKind, kind, register
from casework.segregation import FINANCE_OR_OPS, RISK_OR_MLRO
from configuration.schemas import CONFIG_SCHEMAS
from models.money import MoneyError, parse_amount, parse_percent
from models.workflow_io import TaskSpec
from shared.errors import Conflict, Invalid

CASE_TYPE_CHANGE = "change_request"
ROLE_GRANT = "role_grant"  # the target type of a role change (changes.commands.role_grants)
ROLE_GRANT_APPROVAL = "role_grant_approval"
ROLE_GRANT_RISK_APPROVAL = "role_grant_risk_approval"

# What a maker may change on each kind of tariff target (a configuration document's
# editable fields are its schema's: see configuration.schemas).
EDITABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "fee": ("fixed_amount", "percent", "min_amount", "max_amount"),
    "limit": ("amount",),
}

REJECT_REASONS = {
    "incorrect_values": "Values are wrong",
    "insufficient_justification": "Justification is insufficient",
    "policy_breach": "Breaches pricing / risk policy",
    "bad_timing": "Effective date is not acceptable",
    "other": "Other (explain in the comment)",
}


def _approval(name: str, role: str, label: str, permission: str, inbox: str) -> TaskKind:
    return TaskKind(
        kind=name,
        role=role,
        label=label,
        outcomes=("approve", "reject"),
        reason_required_for=("reject",),
        reasons={"reject": REJECT_REASONS},
        permission=(permission.partition(":")[0], permission.partition(":")[2]),
        inbox_label=inbox,
        step_up_for=("approve",),  # approving needs a fresh second factor (identity.mfa)
    )


APPROVALS = (
    _approval("change_approval", "ops_manager", "Approve", "change:approve", "Change approval"),
    _approval(
        "change_risk_approval",
        "risk_manager",
        "Risk approval",
        "change:approve_elevated",
        "Risk approval (large limit raise)",
    ),
    # Monitoring rules are the MLRO's business as much as risk's: either approves those.
    _approval(
        "config_approval",
        RISK_OR_MLRO,
        "Approve",
        "change:approve_config",
        "Configuration approval",
    ),
    _approval(
        "restriction_lift_approval",
        "mlro",
        "Approve lift",
        "change:approve_restriction_lift",
        "Account restriction lift approval",
    ),
    _approval(
        "source_approval",
        FINANCE_OR_OPS,
        "Approve",
        "reconciliation:approve_source",
        "Statement source approval (four-eyes)",
    ),
    # Role grants: a second admin approves (never the maker, never the grantee); a grant that
    # creates a conflicting combination (identity.policy.AccessPolicy) also needs a risk
    # manager. Both need a fresh second factor to approve.
    replace(
        _approval(
            ROLE_GRANT_APPROVAL,
            "admin",
            "Approve roles",
            "staff:approve_roles",
            "Role change approval",
        ),
        step_up_for=("approve",),
    ),
    replace(
        _approval(
            ROLE_GRANT_RISK_APPROVAL,
            "risk_manager",
            "Risk approval of roles",
            "staff:approve_role_conflict",
            "Role change approval (conflicting roles)",
        ),
        step_up_for=("approve",),
    ),
)
register(
    CaseType(
        CASE_TYPE_CHANGE,
        "CHG",
        "Change request",
        "ChangeApprovalWorkflow",
        kinds=tuple(a.kind for a in APPROVALS),
    ),
    *APPROVALS,
)


@dataclass(frozen=True)
class ChangePlan:
    """A validated proposal: what the target looks like now and after, and who must approve."""

    before: dict[str, Any]
    after: dict[str, Any]
    changed: list[str]
    tier: str
    tier_reason: str | None
    approvers: str = "one operations manager (not you)"


def _validate_values(
    target_type: str, currency: str, before: dict[str, str | None], changes: dict[str, Any]
) -> tuple[dict[str, str | None], dict[str, str]]:
    errors: dict[str, str] = {}
    after = dict(before)
    allowed = EDITABLE_FIELDS[target_type]
    for field, raw in changes.items():
        key = f"changes.{field}"
        if field not in allowed:
            errors[key] = f"not a field of a {target_type}; editable: {', '.join(allowed)}"
            continue
        optional = field in ("min_amount", "max_amount")
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if optional:
                after[field] = None
            else:
                errors[key] = "required"
            continue
        try:
            if field == "percent":
                after[field] = format(parse_percent(raw), "f")
            else:
                after[field] = format(parse_amount(raw, currency), "f")
        except MoneyError as exc:
            errors[key] = str(exc)
    if target_type == "fee" and not errors:
        lo, hi = after.get("min_amount"), after.get("max_amount")
        if lo is not None and hi is not None and Decimal(lo) > Decimal(hi):
            errors["changes.min_amount"] = f"minimum {lo} is above the maximum {hi}"
    return after, errors


def plan_change(
    target_type: str,
    currency: str,
    before: dict[str, str | None],
    changes: dict[str, Any],
    *,
    elevated_ratio: Decimal,
) -> ChangePlan:
    after, errors = _validate_values(target_type, currency, before, changes)
    if errors:
        raise Invalid("The proposed change is not valid.", fields=errors)
    changed = [f for f in EDITABLE_FIELDS[target_type] if after.get(f) != before.get(f)]
    if not changed:
        raise Invalid(
            "The proposal changes nothing: every value equals the current one.",
            fields={"changes": "nothing would change"},
        )
    tier, why = "standard", None
    if target_type == "limit":
        old, new = Decimal(before["amount"] or "0"), Decimal(after["amount"] or "0")
        if new > old * (1 + elevated_ratio):
            pct = "∞" if old == 0 else f"{((new - old) / old * 100):.0f}"
            tier = "elevated"
            why = (
                f"raises the limit by {pct}% (more than {elevated_ratio * 100:.0f}%): "
                "two approvers, one a risk manager"
            )
    return ChangePlan(before=before, after=after, changed=changed, tier=tier, tier_reason=why)


_WHOLE_NUMBER = re.compile(r"[+-]?\d+")


def _whole_number(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and _WHOLE_NUMBER.fullmatch(raw.strip()):
        return int(raw.strip())
    return None


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _boolean(raw: Any) -> bool | None:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def _schema_message(err: Any) -> str:
    ctx = err.get("ctx") or {}
    if err["type"] == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if err["type"] == "less_than_equal":
        return f"must be at most {ctx.get('le')}"
    return str(err["msg"]).removeprefix("Value error, ")


def _structured(current: Any) -> bool:
    """A setting that is a list of named objects (the screening lists), not a scalar."""
    return isinstance(current, list | tuple) and all(
        isinstance(item, dict) and "name" in item for item in current
    )


def _merge_items(current: Any, raw: Any) -> list[dict[str, Any]] | str:
    """The proposed items laid over the current ones by name (items not named keep their
    values), or why the proposal cannot be read. JSON text is read as the list."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return "must be a list of objects, each naming its item (e.g. name, enabled)"
    if not isinstance(raw, list) or not all(isinstance(i, dict) and i.get("name") for i in raw):
        return "must be a list of objects, each naming its item (e.g. name, enabled)"
    merged = [dict(item) for item in current]
    by_name = {item["name"]: item for item in merged}
    for item in raw:
        if item["name"] in by_name:
            by_name[item["name"]].update(item)
        else:
            merged.append(dict(item))
    return merged


def _item_prefix(after: dict[str, Any], loc: tuple[Any, ...]) -> str:
    """ "UN-SC: max_age_days " for an error inside one item of a structured setting."""
    items = after.get(loc[0])
    if len(loc) >= 2 and isinstance(loc[1], int) and isinstance(items, list | tuple):
        item = items[loc[1]] if loc[1] < len(items) else {}
        where = f"{item.get('name', loc[1])}"
        return f"{where}: {loc[2]} " if len(loc) >= 3 else f"{where}: "
    return ""


def plan_config_change(key: str, before: dict[str, Any], changes: dict[str, Any]) -> ChangePlan:
    """Validate a proposal against configuration document `key`'s schema.

    Every problem is named `changes.<field>`: an unknown field, a value that is not a whole
    number (true / false for a switch, text for a text field as its schema reads it), a value
    out of the field's bounds, or a rule across fields (named after the changed fields its
    message mentions).
    """
    schema = CONFIG_SCHEMAS[key]
    fields = list(schema.model_fields)
    errors: dict[str, str] = {}
    after = dict(before)
    for field, raw in changes.items():
        name = f"changes.{field}"
        if field not in schema.model_fields:
            errors[name] = f"not a field of {key}; editable: {', '.join(fields)}"
            continue
        annotation = schema.model_fields[field].annotation
        value: int | bool | str | None
        if _structured(before.get(field)):
            merged = _merge_items(before.get(field), raw)
            if isinstance(merged, str):
                errors[name] = merged
            else:
                after[field] = merged
            continue
        if annotation in (str, "str"):
            # A text field (a list in words, e.g. known fees): its schema checks it; empty
            # may be a value (no fees at all).
            if not isinstance(raw, str) or len(raw) > 500:
                errors[name] = "must be text of at most 500 characters"
                continue
            after[field] = raw.strip()
            continue
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            errors[name] = "required"
            continue
        if annotation in (bool, "bool"):
            value = _boolean(raw)
            if value is None:
                errors[name] = f"must be true or false, not {str(raw)[:20]!r}"
                continue
        else:
            value = _whole_number(raw)
            if value is None:
                errors[name] = f"must be a whole number, not {str(raw)[:20]!r}"
                continue
        after[field] = value
    try:
        after = schema.model_validate(after).model_dump(mode="json")
    except ValidationError as exc:
        for err in exc.errors():
            message = _schema_message(err)
            if err["loc"]:
                errors.setdefault(
                    f"changes.{err['loc'][0]}", _item_prefix(after, err["loc"]) + message
                )
                continue
            named = [f for f in changes if f in fields and f in message] or ["changes"]
            for field in named:
                errors.setdefault(field if field == "changes" else f"changes.{field}", message)
    if errors:
        raise Invalid("The proposed change is not valid.", fields=errors)
    changed = [f for f in fields if after.get(f) != before.get(f)]
    if not changed:
        raise Invalid(
            "The proposal changes nothing: every value equals the current one.",
            fields={"changes": "nothing would change"},
        )
    return ChangePlan(
        before=before,
        after=after,
        changed=changed,
        tier="standard",
        tier_reason=None,
        approvers=(
            "one risk manager or MLRO (not you)"
            if key.startswith((AML_RULE_PREFIX, AML_EXPR_PREFIX))
            else "one risk manager (not you)"
        ),
    )


def plan_restriction_lift(before: dict[str, Any]) -> ChangePlan:
    """Lifting an account restriction: only an active one, approved by one MLRO (not you)."""
    if before.get("status") != "active":
        raise Conflict(
            "This restriction was already lifted; there is nothing to lift.",
            code="already_lifted",
        )
    return ChangePlan(
        before=before,
        after={**before, "status": "lifted"},
        changed=["status"],
        tier="standard",
        tier_reason=None,
        approvers="one MLRO (not you)",
    )


def approval_specs(
    workflow_id: str,
    reference: str,
    label: str,
    tier: str,
    maker_id: uuid.UUID,
    sla_seconds: int,
    *,
    target_type: str = "fee",
    config_key: str | None = None,
    grantee_id: uuid.UUID | None = None,
) -> list[TaskSpec]:
    """The approval tasks of a change: who must approve it, never the maker (nor, for a role
    change, the person whose roles change)."""
    excluded = [maker_id] if grantee_id is None else [maker_id, grantee_id]

    def approval(key: str, name: str, role: str | None, priority: str) -> TaskSpec:
        step = kind(name)
        return step.spec(
            workflow_id,
            key,
            reference,
            sla_seconds=sla_seconds,
            priority=priority,
            excluded=excluded,
            title=f"{step.label} {reference}: {label}",
            role=role,
        )

    if target_type == ROLE_GRANT:
        # A second admin; a conflicting combination also a risk manager (tier "conflict").
        specs = [approval("approve", ROLE_GRANT_APPROVAL, None, "normal")]
        if tier == ROLE_CONFLICT_TIER:
            specs.append(approval("risk_approve", ROLE_GRANT_RISK_APPROVAL, None, "high"))
        return specs

    if target_type == "config":
        # Compliance configuration: one risk manager, never the maker (excluded_actors).
        # Monitoring rules are the MLRO's business as much as risk's: either approves.
        aml_rule = (config_key or "").startswith((AML_RULE_PREFIX, AML_EXPR_PREFIX))
        role = RISK_OR_MLRO if aml_rule else "risk_manager"
        return [approval("approve", "config_approval", role, "normal")]
    if target_type == "recon_source":
        # Which account a bank's file books against: a second finance_ops member or an
        # ops_manager, never the maker (excluded_actors).
        return [approval("approve", "source_approval", None, "normal")]
    if target_type == "restriction":
        # Lifting an AML restriction: one MLRO, never the maker; the customer is blocked
        # meanwhile, so it is not left at normal priority.
        return [approval("approve", "restriction_lift_approval", None, "high")]
    specs = [approval("approve", "change_approval", None, "normal")]
    if tier == "elevated":
        specs.append(approval("risk_approve", "change_risk_approval", None, "high"))
    return specs


ROLE_CONFLICT_TIER = "conflict"


def plan_role_change(
    held: Collection[str],
    add: Iterable[str],
    remove: Iterable[str],
    *,
    conflicts: Callable[[Collection[str]], list[frozenset[str]]],
    ends_at: str | None = None,
) -> ChangePlan:
    """A proposed role change checked against the roles the person holds now.

    `conflicts` names the configured combinations a set of roles contains
    (AccessPolicy.conflicts_in); a change that creates one it did not have needs a risk
    manager's approval too. Every problem is named after its field (add, remove).
    """
    adding, removing = sorted(set(add)), sorted(set(remove))
    now_held = set(held)
    errors: dict[str, str] = {}
    if already := [r for r in adding if r in now_held]:
        errors["add"] = f"already held: {', '.join(already)}"
    if missing := [r for r in removing if r not in now_held]:
        errors["remove"] = f"not held: {', '.join(missing)}"
    if both := set(adding) & set(removing):
        errors["remove"] = f"both added and removed: {', '.join(sorted(both))}"
    if not adding and not removing and not errors:
        errors["add"] = "add or remove at least one role"
    if ends_at and not adding:
        errors["ends_at"] = "an end date applies to added roles only"
    if errors:
        raise Invalid("The role change is not valid.", fields=errors)
    after = sorted((now_held | set(adding)) - set(removing))
    before_conflicts = {c for c in conflicts(now_held)}
    created = [sorted(c) for c in conflicts(after) if c not in before_conflicts]
    tier, why, approvers = "standard", None, "one other administrator (not you, not the person)"
    if created:
        tier = ROLE_CONFLICT_TIER
        why = "creates a conflicting combination: " + "; ".join(" + ".join(c) for c in created)
        approvers += ", then a risk manager"
    return ChangePlan(
        before={"roles": sorted(now_held)},
        after={
            "roles": after,
            "add": adding,
            "remove": removing,
            "ends_at": ends_at,
            "conflicts": [" + ".join(c) for c in created],
        },
        changed=["roles"],
        tier=tier,
        tier_reason=why,
        approvers=approvers,
    )
