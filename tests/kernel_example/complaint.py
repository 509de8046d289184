"""A new case type with two human steps, declared in the kernel registry (file 1 of 3).

Importing this module registers the case type and its two task kinds: the inbox's labels,
the decision form, the door's permission and narrative checks and the segregation rules
all read them from the registry, as they do for the product's own processes.
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel

from casework.registry import CaseType, TaskKind, register

CASE_TYPE = "kernel_example"
CHECK, APPROVE = "kex_check", "kex_approve"

register(
    CaseType(CASE_TYPE, "KEX", "Kernel example", "KernelExampleWorkflow", kinds=(CHECK, APPROVE)),
    TaskKind(
        kind=CHECK,
        role="ops_manager",
        label="Check",
        outcomes=("accept", "refuse"),
        reason_required_for=("refuse",),
        reasons={"refuse": {"not_eligible": "Not eligible", "other": "Other"}},
        inbox_label="Kernel example: check",
        sla_seconds=3600,
        checks_narrative=True,
    ),
    TaskKind(
        kind=APPROVE,
        role="ops_manager",
        label="Approve",
        outcomes=("approve", "reject"),
        reason_required_for=("reject",),
        inbox_label="Kernel example: approval (four-eyes)",
        sla_seconds=3600,
        priority="high",
    ),
)


class KernelExampleInput(BaseModel):
    case_id: uuid.UUID
    reference: str
    opened_by: uuid.UUID | None = None
