"""What a valid proposal is, and who must approve it (pure: no I/O)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domain.errors import Invalid
from models.changes import (
    EDITABLE_FIELDS,
)
from models.money import MoneyError, parse_amount, parse_percent
from models.workflow_io import TaskSpec
from workflows.common import task_id_for

CASE_TYPE_CHANGE = "change_request"


@dataclass(frozen=True)
class ChangePlan:
    """A validated proposal: what the target looks like now and after, and who must approve."""

    before: dict[str, str | None]
    after: dict[str, str | None]
    changed: list[str]
    tier: str
    tier_reason: str | None


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


def approval_specs(
    workflow_id: str, reference: str, label: str, tier: str, maker_id: uuid.UUID, sla_seconds: int
) -> list[TaskSpec]:
    def approval(key: str, kind: str, title: str, role: str, priority: str) -> TaskSpec:
        return TaskSpec(
            task_id=task_id_for(workflow_id, key),
            task_key=key,
            kind=kind,
            title=f"{title} {reference}: {label}",
            candidate_role=role,
            allowed_outcomes=["approve", "reject"],
            reason_required_for=["reject"],
            excluded_actors=[maker_id],
            sla_seconds=sla_seconds,
            priority=priority,
        )

    specs = [approval("approve", "change_approval", "Approve", "ops_manager", "normal")]
    if tier == "elevated":
        specs.append(
            approval(
                "risk_approve", "change_risk_approval", "Risk approval", "risk_manager", "high"
            )
        )
    return specs
