"""Teams and their leads: which roles a lead's team holds (pure, sandbox-safe: no I/O).

A lead assigns and reassigns tasks of their team's roles to named people, and sees their
team's workload. Each lead role is declared here once; policies/policy.csv gives it its
permissions and the demo seed gives it a person.
"""

from __future__ import annotations

from collections.abc import Iterable

# lead role -> the roles its team holds
TEAMS: dict[str, tuple[str, ...]] = {
    "aml_lead": ("aml_analyst", "aml_investigator"),
    "kyc_lead": ("kyc_analyst", "kyc_senior"),
    "disputes_lead": ("disputes_agent",),
    "finance_lead": ("finance_ops",),
}

LEAD_ROLES: tuple[str, ...] = tuple(TEAMS)


def team_roles(roles: Iterable[str]) -> frozenset[str]:
    """Every role whose tasks a person holding `roles` leads (empty: not a lead)."""
    return frozenset(r for lead in roles for r in TEAMS.get(lead, ()))


def is_lead(roles: Iterable[str]) -> bool:
    return any(r in TEAMS for r in roles)
