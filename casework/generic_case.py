"""The standard steps of a manual case (pure, sandbox-safe: no I/O).

A case a person opens by hand (an "investigation", a "complaint") is run by one generic
workflow (`workflows/generic_case.py`, Temporal type `GenericCaseWorkflow`) whose steps are
the same for every such case type:

1. **work** (the type's analyst role): `resolve`, `no_further_action` (each closes the case
   with that outcome and a reason), or `escalate` (a comment says why);
2. on escalate, **senior review** (the type's senior role) by a person who neither opened the
   case nor worked it (segregation of duties): `resolve` or `no_further_action` (closes the
   case), or `return` it to the analyst for more work (a comment says what is missing).

Each step's task escalates at its SLA (priority up, the type's escalation role, usually its
lead, is told) and stays open until decided. `standard_case` declares a case type and its
two task kinds in the registry in one call; the workflow reads them back through
`plan_for` (by an activity, so a running case keeps the plan it started with).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from casework.registry import CaseType, RegistryError, TaskKind, case_type, kind, register
from casework.teams import TEAMS

WORKFLOW_TYPE = "GenericCaseWorkflow"

RESOLVE, NO_FURTHER_ACTION, ESCALATE, RETURN = "resolve", "no_further_action", "escalate", "return"
WORK_OUTCOMES = (RESOLVE, NO_FURTHER_ACTION, ESCALATE)
SENIOR_OUTCOMES = (RESOLVE, NO_FURTHER_ACTION, RETURN)
CLOSING_OUTCOMES = frozenset({RESOLVE, NO_FURTHER_ACTION})

# The task keys of the two steps: "work#2" is the second round of work (after a return).
WORK_STEP, SENIOR_STEP = "work", "senior"
# The case's stage while each step is open.
WORK_STAGE, SENIOR_STAGE = "work", "senior_review"

# Reason codes every manual case type takes, unless it declares its own.
RESOLVE_REASONS: Mapping[str, str] = {
    "confirmed_and_remediated": "Confirmed and remediated",
    "customer_satisfied": "Resolved to the customer's satisfaction",
    "referred_onwards": "Referred to another team or authority",
}
NO_FURTHER_ACTION_REASONS: Mapping[str, str] = {
    "unfounded": "Unfounded",
    "insufficient_information": "Insufficient information to act",
    "duplicate": "Duplicate of another case",
}
COMMENT_MIN = 20  # an escalation or a return says why


@dataclass(frozen=True)
class CasePlan:
    """What the generic workflow needs of a case type: its two task kinds (each with its
    role, outcomes and SLA) and who is told when a step runs past its SLA."""

    case_type: str
    work_kind: str
    senior_kind: str
    escalation_role: str


def work_kind_name(case_type_name: str) -> str:
    return f"{case_type_name}_work"


def senior_kind_name(case_type_name: str) -> str:
    return f"{case_type_name}_senior_review"


def standard_case(
    name: str,
    prefix: str,
    label: str,
    *,
    analyst_role: str,
    senior_role: str,
    work_sla_hours: int = 72,
    senior_sla_hours: int = 48,
    resolve_reasons: Mapping[str, str] = RESOLVE_REASONS,
    no_further_action_reasons: Mapping[str, str] = NO_FURTHER_ACTION_REASONS,
    permission: tuple[str, str] | None = None,
) -> tuple[CaseType, TaskKind, TaskKind]:
    """Declare a manual case type run by the generic workflow, with its two steps."""
    closing_reasons = {RESOLVE: resolve_reasons, NO_FURTHER_ACTION: no_further_action_reasons}
    work = TaskKind(
        kind=work_kind_name(name),
        role=analyst_role,
        label=f"Work {label.lower()}",
        outcomes=WORK_OUTCOMES,
        reason_required_for=(RESOLVE, NO_FURTHER_ACTION),
        reasons=closing_reasons,
        permission=permission,
        inbox_label=f"{label}: work",
        sla_seconds=work_sla_hours * 3600,
        comment_min={ESCALATE: COMMENT_MIN},
        checks_narrative=True,
    )
    senior = TaskKind(
        kind=senior_kind_name(name),
        role=senior_role,
        label=f"Senior review of {label.lower()}",
        outcomes=SENIOR_OUTCOMES,
        reason_required_for=(RESOLVE, NO_FURTHER_ACTION),
        reasons=closing_reasons,
        permission=permission,
        inbox_label=f"{label}: senior review",
        sla_seconds=senior_sla_hours * 3600,
        priority="high",
        comment_min={RETURN: COMMENT_MIN},
        checks_narrative=True,
    )
    entry = CaseType(name, prefix, label, WORKFLOW_TYPE, kinds=(work.kind, senior.kind))
    register(entry, work, senior)
    return entry, work, senior


def escalation_role_for(senior_role: str) -> str:
    """Who is told when a step runs past its SLA: the lead of the senior role's team if it
    has one (casework.teams), else the senior role itself."""
    for lead, roles in TEAMS.items():
        if senior_role in roles:
            return lead
    return senior_role


def plan_for(case_type_name: str) -> CasePlan:
    """The plan of a case type declared by `standard_case` (RegistryError if it is not)."""
    entry = case_type(case_type_name)
    if entry.workflow_type != WORKFLOW_TYPE or len(entry.kinds) != 2:
        raise RegistryError(f"case type {case_type_name!r} is not run by {WORKFLOW_TYPE}")
    work, senior = kind(entry.kinds[0]), kind(entry.kinds[1])
    return CasePlan(
        case_type=entry.name,
        work_kind=work.kind,
        senior_kind=senior.kind,
        escalation_role=escalation_role_for(senior.roles[0]),
    )
