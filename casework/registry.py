"""The one registry of case types and task kinds (pure, sandbox-safe: no I/O).

A process declares what it is made of here, in its own `rules.py`, once:

- a **case type**: its name, its reference prefix (`AML-1030`), its label, the workflow
  type that runs it, and the need-to-know permission that lets a person read it
  (`case:<name>` / `read` in the Casbin policy);
- a **task kind** (a kind of human step): the role or roles that take it, its label, its
  outcomes and which of them need a reason, the reason codes each outcome takes, the
  permission it needs beyond `task:work`, its default SLA and priority, and how long the
  comment of each outcome must be.

Everything else reads it: the inbox's kind filter and labels, the case page's decision
form, the decision door's permission check (`casework.tasks`), the narrative rules every
door and every workflow validator applies (`casework.narratives`), and the workflows,
which build their task specs from a kind (`TaskKind.spec`). `casework.catalog` imports
every process's rules so the registry is complete wherever it is read; a test package (or
a new process) registers its own entries the same way, without editing product files.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from models.workflow_io import TaskSpec

# The permission every human task needs; a kind may need one more (TaskKind.permission).
WORK = ("task", "work")

_TASK_NAMESPACE = uuid.UUID("6f1c8f5e-2f0b-4d7e-9a51-3c1d2b7a9e40")


def task_id_for(workflow_id: str, task_key: str) -> uuid.UUID:
    """A task's id follows from its workflow and key, so re-creating it is a no-op."""
    return uuid.uuid5(_TASK_NAMESPACE, f"{workflow_id}/{task_key}")


class RegistryError(ValueError):
    """Two different declarations under one name, or a name nobody declared."""


@dataclass(frozen=True, eq=True)
class TaskKind:
    """A kind of human step: who takes it, what they may decide, and what a decision says."""

    kind: str
    role: str  # one role, or several as "a|b" (casework.segregation.SHARED_CANDIDATE_ROLES)
    label: str  # the title of its tasks begins with this ("L1 triage AML-1030")
    outcomes: tuple[str, ...]
    reason_required_for: tuple[str, ...] = ()
    # outcome -> reason code -> label: the form offers these and the door accepts only these.
    reasons: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # The permission it needs beyond task:work (None: task:work and the role suffice).
    permission: tuple[str, str] | None = None
    # What the inbox filter calls it (defaults to the label).
    inbox_label: str | None = None
    sla_seconds: int = 24 * 3600
    priority: str = "normal"
    # outcome -> the shortest comment it takes, always / only when the case is high risk.
    comment_min: Mapping[str, int] = field(default_factory=dict)
    high_risk_comment_min: Mapping[str, int] = field(default_factory=dict)
    comment_name: str = "comment"  # "rationale" for the SAR decision
    # Whether the narrative rules (reasons per outcome, comment lengths) apply to it.
    checks_narrative: bool = False
    # Outcomes that need a second factor entered within the last few minutes (step-up:
    # approving a change, a write-off, a SAR decision, a role grant; identity.policy).
    step_up_for: tuple[str, ...] = ()

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self.role.split("|"))

    @property
    def filter_label(self) -> str:
        return self.inbox_label or self.label

    @property
    def permissions(self) -> tuple[tuple[str, str], ...]:
        """Every permission a person needs to claim or decide a task of this kind."""
        return (WORK, self.permission) if self.permission else (WORK,)

    def min_comment(self, outcome: str, *, high_risk: bool) -> int:
        always = self.comment_min.get(outcome, 0)
        return max(always, self.high_risk_comment_min.get(outcome, 0) if high_risk else 0)

    def spec(
        self,
        workflow_id: str,
        task_key: str,
        reference: str,
        *,
        sla_seconds: int | None = None,
        priority: str | None = None,
        excluded: Iterable[uuid.UUID] = (),
        title: str | None = None,
        role: str | None = None,
    ) -> TaskSpec:
        """The task of this kind in one workflow (its id follows from the key); `role`
        narrows who takes this one task to one of the kind's roles."""
        if role is not None and not set(role.split("|")) <= set(self.roles):
            raise RegistryError(f"{role!r} is not a role of task kind {self.kind!r}")
        return TaskSpec(
            task_id=task_id_for(workflow_id, task_key),
            task_key=task_key,
            kind=self.kind,
            title=title if title is not None else f"{self.label} {reference}",
            candidate_role=role or self.role,
            allowed_outcomes=list(self.outcomes),
            reason_required_for=list(self.reason_required_for),
            excluded_actors=list(dict.fromkeys(excluded)),
            sla_seconds=self.sla_seconds if sla_seconds is None else sla_seconds,
            priority=priority or self.priority,
        )


@dataclass(frozen=True, eq=True)
class CaseType:
    """A kind of case: how its references read, what it is called, which workflow runs it."""

    name: str
    prefix: str  # references are "<prefix>-<number>"
    label: str
    workflow_type: str | None = None  # the Temporal workflow type name that runs it
    # Which task kinds its workflow opens (for the inbox's and the pages' grouping).
    kinds: tuple[str, ...] = ()

    @property
    def read_permission(self) -> tuple[str, str]:
        """Need-to-know: who may read a case of this type (identity.access.can_see_case)."""
        return (f"case:{self.name}", "read")

    def reference(self, number: int) -> str:
        return f"{self.prefix}-{number}"


_KINDS: dict[str, TaskKind] = {}
_CASE_TYPES: dict[str, CaseType] = {}


def register_kind(entry: TaskKind) -> TaskKind:
    """Declare a task kind (idempotent for an equal declaration); returns it."""
    known = _KINDS.get(entry.kind)
    if known is not None and known != entry:
        raise RegistryError(f"task kind {entry.kind!r} is already declared differently")
    _KINDS[entry.kind] = entry
    return entry


def register_case_type(entry: CaseType) -> CaseType:
    """Declare a case type (idempotent for an equal declaration); returns it."""
    known = _CASE_TYPES.get(entry.name)
    if known is not None and known != entry:
        raise RegistryError(f"case type {entry.name!r} is already declared differently")
    _CASE_TYPES[entry.name] = entry
    return entry


def register(*entries: TaskKind | CaseType) -> None:
    """Declare several entries at once (a new process's or a test package's)."""
    for entry in entries:
        if isinstance(entry, TaskKind):
            register_kind(entry)
        else:
            register_case_type(entry)


def kind(name: str) -> TaskKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise RegistryError(f"no task kind {name!r} is declared") from None


def find_kind(name: str) -> TaskKind | None:
    return _KINDS.get(name)


def kinds() -> list[TaskKind]:
    return list(_KINDS.values())


def case_type(name: str) -> CaseType:
    try:
        return _CASE_TYPES[name]
    except KeyError:
        raise RegistryError(f"no case type {name!r} is declared") from None


def find_case_type(name: str) -> CaseType | None:
    return _CASE_TYPES.get(name)


def case_types() -> list[CaseType]:
    return list(_CASE_TYPES.values())


class _LiveView(Mapping[str, str]):
    """name -> label, read from the registry at each use (entries added later show up)."""

    def __init__(self, source: dict[str, TaskKind] | dict[str, CaseType], attr: str):
        self._source = source
        self._attr = attr

    def __getitem__(self, key: str) -> str:
        return str(getattr(self._source[key], self._attr))

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._source))

    def __len__(self) -> int:
        return len(self._source)

    def __contains__(self, key: object) -> bool:
        return key in self._source


# Every kind of human task as the inbox filter names it; every case type by its label.
KIND_LABELS: Mapping[str, str] = _LiveView(_KINDS, "filter_label")
CASE_TYPE_LABELS: Mapping[str, str] = _LiveView(_CASE_TYPES, "label")
