"""Segregation of duties: the rules RBAC cannot express, in one pure function.

Called by the web/API choke point before anything is sent, and again by each workflow's
update validator (this module is deterministic and sandbox-safe), so the same rule holds
whichever door a request comes through. Nobody is exempt: there is no admin bypass.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

FORBIDDEN, CONFLICT, INVALID = "forbidden", "conflict", "invalid"
OPEN_STATUSES = frozenset({"open", "claimed"})


# A task may be open to either of two roles ("risk_manager|mlro"). Every such value is
# listed here, so the inbox can match candidate roles by equality (and by its index).
RISK_OR_MLRO = "risk_manager|mlro"
FINANCE_OR_OPS = "finance_ops|ops_manager"  # a statement source change's checker
KYC_ANALYST_OR_SENIOR = "kyc_analyst|kyc_senior"  # a screening whitelisting's second analyst
SHARED_CANDIDATE_ROLES = (RISK_OR_MLRO, FINANCE_OR_OPS, KYC_ANALYST_OR_SENIOR)


def holds_candidate_role(candidate_role: str, roles: Collection[str]) -> bool:
    return any(role in roles for role in candidate_role.split("|"))


def candidate_values(roles: Collection[str]) -> list[str]:
    """Every `candidate_role` value a person holding `roles` may take."""
    shared = {c for c in SHARED_CANDIDATE_ROLES if holds_candidate_role(c, roles)}
    return sorted(set(roles) | shared)


def step_of(task_key: str) -> str:
    """`review-analyst#2` is the second round of step `review-analyst`."""
    return task_key.partition("#")[0]


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    kind: str  # forbidden | conflict | invalid


@dataclass(frozen=True)
class CaseParties:
    """Who already acted on the case: the maker, editors, and each task's decider."""

    maker_id: uuid.UUID | None
    editor_ids: frozenset[uuid.UUID] = frozenset()
    deciders: Mapping[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # task id -> actor
    # task id -> step of each decided task. Tasks of one step (a review re-opened after the
    # applicant answered a request for information) may be decided by the same person;
    # tasks without a known step count as steps of their own.
    decider_steps: Mapping[uuid.UUID, str] = field(default_factory=dict)


def case_parties(
    maker_id: uuid.UUID | None,
    decisions: Iterable[tuple[uuid.UUID, uuid.UUID, str]],
    *,
    editor_ids: Iterable[uuid.UUID] = (),
) -> CaseParties:
    """The one way the facts are assembled, wherever they are judged (the door reads the
    decision rows, a workflow its own tasks): the case's maker (its `opened_by`, stored
    once, compared by id), who is also one of its editors, any other editor, and each
    decided task's decider and step, from (task id, decider id, task key)."""
    rows = list(decisions)
    return CaseParties(
        maker_id=maker_id,
        editor_ids=frozenset(editor_ids) | (frozenset({maker_id}) if maker_id else frozenset()),
        deciders={task_id: actor_id for task_id, actor_id, _ in rows},
        decider_steps={task_id: step_of(key) for task_id, _, key in rows},
    )


@dataclass(frozen=True)
class TaskFacts:
    task_id: uuid.UUID
    task_key: str
    status: str
    candidate_role: str
    allowed_outcomes: tuple[str, ...]
    reason_required_for: tuple[str, ...] = ()
    excluded_actors: frozenset[uuid.UUID] = frozenset()

    @property
    def step(self) -> str:
        return step_of(self.task_key)


def check_claim(
    task: TaskFacts, parties: CaseParties, actor_id: uuid.UUID, actor_roles: Collection[str]
) -> Refusal | None:
    """May this person take this task? (Claiming what you may not decide helps nobody.)"""
    if task.status not in OPEN_STATUSES:
        return Refusal("task_closed", f"This task is already {task.status}.", CONFLICT)
    if not holds_candidate_role(task.candidate_role, actor_roles):
        return Refusal(
            "missing_role",
            f"This task is for the {task.candidate_role.replace('|', ' or ')} role, "
            "which you do not hold.",
            FORBIDDEN,
        )
    if parties.maker_id is not None and actor_id == parties.maker_id:
        return Refusal(
            "maker_cannot_decide",
            "You made this request; four-eyes control needs a different person to decide it.",
            FORBIDDEN,
        )
    if actor_id in parties.editor_ids:
        return Refusal(
            "editor_cannot_decide",
            "You edited this request; four-eyes control needs a person who did not.",
            FORBIDDEN,
        )
    for other_task, decider in parties.deciders.items():
        same_step = parties.decider_steps.get(other_task) == task.step
        if decider == actor_id and other_task != task.task_id and not same_step:
            return Refusal(
                "decided_other_step",
                "You already decided another step of this case; each step needs a different person.",
                FORBIDDEN,
            )
    if actor_id in task.excluded_actors:
        return Refusal(
            "excluded", "You are excluded from this task (segregation of duties).", FORBIDDEN
        )
    return None


def check_decision(
    task: TaskFacts,
    parties: CaseParties,
    actor_id: uuid.UUID,
    actor_roles: Collection[str],
    outcome: str,
    reason_code: str | None,
) -> Refusal | None:
    if task.task_id in parties.deciders:
        return Refusal("already_decided", "This task has already been decided.", CONFLICT)
    refusal = check_claim(task, parties, actor_id, actor_roles)
    if refusal:
        return refusal
    if outcome not in task.allowed_outcomes:
        allowed = ", ".join(task.allowed_outcomes)
        return Refusal(
            "outcome_not_allowed",
            f"{outcome!r} is not a possible outcome here ({allowed}).",
            INVALID,
        )
    if outcome in task.reason_required_for and not (reason_code and reason_code.strip()):
        return Refusal("reason_required", f"A reason is required to {outcome}.", INVALID)
    return None
