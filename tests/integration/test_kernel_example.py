"""A new case type with two human steps, added by a test package in three files (a registry
entry, a workflow, a policy line: tests/kernel_example/), works like the product's own:
it shows in the inbox, is claimed and decided through the one door, is audited, and
segregation of duties keeps one person from deciding both of its steps."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from casework import store
from casework.catalog import KIND_LABELS, find_case_type
from casework.starting import start_case
from core.db import Database
from models.audit import AuditEvent
from models.cases import Case, Task
from policies.enforcer import add_policy_file, allowed, remove_policy_file
from tests.helpers import api_headers, eventually, new_staff, task_of
from tests.kernel_example.complaint import CASE_TYPE, KernelExampleInput
from tests.kernel_example.workflow import KernelExampleWorkflow
from worker import build_worker

POLICY = Path(__file__).resolve().parents[1] / "kernel_example" / "policy.csv"


@pytest.fixture
async def example_queue(temporal_env: WorkflowEnvironment, db: Database) -> AsyncIterator[str]:
    """A worker of every product workflow plus the example's, on a queue of its own, and the
    example's policy line added to the running policy (withdrawn afterwards)."""
    add_policy_file(POLICY)
    queue = f"kernel-example-{uuid.uuid4().hex[:8]}"
    try:
        async with build_worker(
            temporal_env.client, db, queue, extra_workflows=[KernelExampleWorkflow]
        ):
            yield queue
    finally:
        remove_policy_file(POLICY)


async def _open_example(
    db: Database, temporal_env: WorkflowEnvironment, queue: str, maker: uuid.UUID
) -> Case:
    """What a command of the new process does: open the case, start its workflow."""
    case_id = uuid.uuid4()
    async with db.transaction() as session:
        case = await store.open_case(
            session,
            case_type=CASE_TYPE,
            case_id=case_id,
            title="Kernel example: a complaint about a fee",
            stage="check",
            subject_type="customer_request",
            subject_id=str(case_id),
            workflow_id=f"kernel-example-{case_id}",
            opened_by=maker,
        )
        await start_case(
            session,
            temporal_env.client,
            case,
            KernelExampleInput(case_id=case.id, reference=case.reference, opened_by=maker),
            task_queue=queue,
            event=store.Event("kernel_example.opened", details={"reference": case.reference}),
            summary=f"{case.reference} kernel example",
        )
    return case


async def _actions(db: Database, object_id: uuid.UUID) -> list[str]:
    async with db.session() as session:
        rows = await session.exec(
            select(AuditEvent.action)
            .where(AuditEvent.object_id == str(object_id))
            .order_by(col(AuditEvent.id))
        )
        return list(rows.all())


async def test_a_case_type_added_in_three_files_is_worked_and_checked_like_the_others(
    http: httpx.AsyncClient, db: Database, temporal_env: WorkflowEnvironment, example_queue: str
) -> None:
    # Declared by the package alone: the registry knows the type and its kinds, the policy
    # lets an ops manager read it.
    entry = find_case_type(CASE_TYPE)
    assert entry is not None and entry.workflow_type == "KernelExampleWorkflow"
    assert KIND_LABELS["kex_approve"] == "Kernel example: approval (four-eyes)"
    assert allowed(["ops_manager"], "case:kernel_example", "read")
    assert not allowed(["support"], "case:kernel_example", "read")

    maker = await new_staff(db, "support")
    ana = await new_staff(db, "ops_manager")
    ben = await new_staff(db, "ops_manager")
    case = await _open_example(db, temporal_env, example_queue, maker.actor.user_id)
    assert case.reference.startswith("KEX-")
    check = await task_of(db, case.workflow_id, "check")

    # In the inbox of whoever holds the role, under the kind's label.
    ana_headers = await api_headers(http, ana.username)
    inbox = await http.get("/api/v1/tasks", params={"q": case.reference}, headers=ana_headers)
    assert inbox.status_code == 200, inbox.text
    listed = [t for t in inbox.json()["items"] if t["id"] == str(check.id)]
    assert listed and listed[0]["case_reference"] == case.reference

    # Claimed and decided through the one door; the narrative rules of the kind apply.
    claim = await http.post(f"/api/v1/tasks/{check.id}/claim", headers=ana_headers)
    assert claim.status_code == 200, claim.text
    refused = await http.post(
        f"/api/v1/tasks/{check.id}/decision",
        json={"outcome": "refuse", "reason": "structuring"},
        headers=ana_headers,
    )
    assert refused.status_code == 422, refused.text
    decided = await http.post(
        f"/api/v1/tasks/{check.id}/decision", json={"outcome": "accept"}, headers=ana_headers
    )
    assert decided.status_code == 200, decided.text

    # Segregation of duties: the checker may not take the approval step.
    approve = await task_of(db, case.workflow_id, "approve")
    again = await http.post(f"/api/v1/tasks/{approve.id}/claim", headers=ana_headers)
    assert again.status_code == 403, again.text
    assert again.json()["error"] == "decided_other_step"

    ben_headers = await api_headers(http, ben.username)
    assert (
        await http.post(f"/api/v1/tasks/{approve.id}/claim", headers=ben_headers)
    ).status_code == 200
    approved = await http.post(
        f"/api/v1/tasks/{approve.id}/decision", json={"outcome": "approve"}, headers=ben_headers
    )
    assert approved.status_code == 200, approved.text

    # The workflow closes the case with the deciding outcome, through the kernel store.
    async def closed() -> Case | None:
        async with db.session() as session:
            found = await session.get(Case, case.id)
            return found if found is not None and found.status == "closed" else None

    final = await eventually(closed, what="the example case closed")
    assert final is not None and final.outcome == "approve"

    # Audited like the others: opened after the start, every task step, the closing.
    assert await _actions(db, case.id) == ["kernel_example.opened", "case.closed"]
    # (the refused decision, a reason the kind does not take, is on the trail too)
    assert await _actions(db, check.id) == [
        "task.opened",
        "task.claimed",
        "task.decide",
        "task.decided",
    ]
    approval_trail = await _actions(db, approve.id)
    assert approval_trail[0] == "task.opened"
    assert approval_trail[-2:] == ["task.claimed", "task.decided"]
    assert "task.claim" in approval_trail  # ana's refused claim is on the trail too
    async with db.session() as session:
        tasks = (await session.exec(select(Task).where(Task.case_id == case.id))).all()
    assert {t.task_key: t.status for t in tasks} == {"check": "done", "approve": "done"}
