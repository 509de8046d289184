"""Who may hold which roles, and how people prove who they are: two maker-checker documents.

`access` — the conflicting role combinations (a grant that creates one needs a risk manager's
second approval), the roles that must sign in with a second factor, how fresh a second factor
must be for a step-up, and the owners who review each role's holders in access reviews.

`sso_groups` — which roles each identity-provider group gives (single sign-on).

Pure: the documents and the functions that read them; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from models.roles import ROLES

_SEPARATORS = re.compile(r"[;\n]")
_WORDS = re.compile(r"[\s,]+")


def _known_roles(words: Iterable[str], where: str) -> list[str]:
    found = [w for w in words if w]
    unknown = sorted(set(found) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role(s) in {where}: {', '.join(unknown)}")
    return found


def parse_role_list(text: str) -> list[str]:
    """ "ops_manager risk_manager, mlro" -> ["ops_manager", "risk_manager", "mlro"]."""
    return _known_roles(_WORDS.split(text.strip()), "the role list")


def parse_conflicts(text: str) -> list[frozenset[str]]:
    """ "product_manager+ops_manager; aml_analyst+mlro" -> the combinations, each a set of
    two or more roles nobody should hold together without a risk manager's approval."""
    combos = []
    for part in _SEPARATORS.split(text):
        if not part.strip():
            continue
        roles = _known_roles([r.strip() for r in part.split("+")], "a conflicting combination")
        if len(set(roles)) < 2:
            raise ValueError(f"a conflicting combination names two or more roles: {part.strip()!r}")
        combos.append(frozenset(roles))
    return combos


def parse_owners(text: str) -> dict[str, str]:
    """ "mlro=mlro.max; aml_analyst=aml.lena" -> {role: reviewer username}."""
    owners: dict[str, str] = {}
    for part in _SEPARATORS.split(text):
        if not part.strip():
            continue
        role, sep, username = (x.strip() for x in part.partition("="))
        if not sep or not username:
            raise ValueError(f"write each owner as role=username, not {part.strip()!r}")
        _known_roles([role], "the review owners")
        owners[role] = username.lower()
    return owners


def parse_group_mapping(text: str) -> dict[str, list[str]]:
    """ "bank-ops: ops_manager; bank-aml: aml_analyst aml_investigator" -> {group: roles}."""
    mapping: dict[str, list[str]] = {}
    for part in _SEPARATORS.split(text):
        if not part.strip():
            continue
        group, sep, roles = part.partition(":")
        group = group.strip()
        if not sep or not group:
            raise ValueError(f"write each mapping as group: role role, not {part.strip()!r}")
        mapping[group] = parse_role_list(roles)
    return mapping


class AccessPolicy(BaseModel):
    conflicting_roles: str = Field(
        "product_manager+ops_manager; aml_analyst+mlro; aml_investigator+mlro; admin+auditor",
        description=(
            "Role combinations nobody holds without a risk manager's second approval, "
            "separated by ';' (roles joined by '+')"
        ),
    )
    mfa_required_roles: str = Field(
        "admin ops_manager risk_manager mlro aml_investigator finance_lead",
        description=(
            "Roles that must sign in with a second factor (those who approve, decide AML "
            "tiers or write off)"
        ),
    )
    step_up_minutes: Annotated[int, Field(ge=1, le=30)] = Field(
        5,
        description=(
            "Minutes a second factor stays fresh for approving a change, a write-off, a SAR "
            "decision or a role grant"
        ),
    )
    review_owners: str = Field(
        "",
        description=(
            "Who reviews each role's holders in access reviews, as role=username separated "
            "by ';' (a role with no owner is reviewed by the administrators)"
        ),
    )
    review_days: Annotated[int, Field(ge=1, le=90)] = Field(
        14, description="Days reviewers have before unreviewed grants are suspended"
    )

    @field_validator("conflicting_roles")
    @classmethod
    def _conflicts(cls, value: str) -> str:
        return "; ".join("+".join(sorted(c)) for c in parse_conflicts(value))

    @field_validator("mfa_required_roles")
    @classmethod
    def _mfa(cls, value: str) -> str:
        return " ".join(parse_role_list(value))

    @field_validator("review_owners")
    @classmethod
    def _owners(cls, value: str) -> str:
        return "; ".join(f"{r}={u}" for r, u in parse_owners(value).items())

    # --------------------------------------------------------------- reading it
    def conflicts_in(self, roles: Collection[str]) -> list[frozenset[str]]:
        """The configured combinations that `roles` (everything a person would hold) contains."""
        held = set(roles)
        return [c for c in parse_conflicts(self.conflicting_roles) if c <= held]

    def needs_second_factor(self, roles: Collection[str]) -> bool:
        return bool(set(roles) & set(parse_role_list(self.mfa_required_roles)))

    def owner_of(self, role: str) -> str | None:
        return parse_owners(self.review_owners).get(role)


class SsoGroupMapping(BaseModel):
    group_roles: str = Field(
        "",
        description=(
            "Which roles each identity-provider group gives, as 'group: role role' separated "
            "by ';' (a group not listed gives no access)"
        ),
    )

    @field_validator("group_roles")
    @classmethod
    def _mapping(cls, value: str) -> str:
        return "; ".join(f"{g}: {' '.join(r)}" for g, r in parse_group_mapping(value).items())

    def roles_for(self, groups: Iterable[str]) -> frozenset[str]:
        mapping = parse_group_mapping(self.group_roles)
        return frozenset(role for g in groups for role in mapping.get(g, ()))
