"""The side doors beneath the web app stay shut: whoever reaches Temporal's port (the real
`temporal` CLI, a client with another key) cannot decide, supersede or start anything, and
what Temporal stores holds no comment, name or reason in clear."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import pytest
from sqlmodel import col, select
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from core import embedded
from core.codec import EncryptionCodec, build_data_converter, parse_key_list
from core.db import Database
from core.schedules import ensure_schedule, rescreen_schedule
from core.settings import Settings
from models.audit import AuditEvent
from models.cases import Task
from models.workflow_io import TargetChanged
from tests.codec_keys import FOREIGN_CODEC_KEYS, TEST_CODEC_KEYS, readable_without_key
from tests.helpers import (
    api_headers,
    environment_without_services,
    new_plan,
    new_staff,
    proposal,
    run_command,
    task_of,
)
from workflows.change_approval import ChangeApprovalWorkflow

COMMENT = "Checked against the signed fee schedule of March"


async def temporal_cli(settings: Settings, *args: str) -> tuple[int, str]:
    done = await run_command(
        [
            str(embedded.venv_binary("temporal")),
            *args,
            "--address",
            settings.temporal_target,
            "--namespace",
            settings.temporal_namespace,
        ],
        env=environment_without_services(),
    )
    return done.returncode, done.stdout + done.stderr


async def events_of(db: Database, workflow_id: str) -> list[AuditEvent]:
    async with db.session() as session:
        rows = await session.exec(
            select(AuditEvent)
            .where(AuditEvent.workflow_id == workflow_id)
            .order_by(col(AuditEvent.id))
        )
        return list(rows.all())


async def test_forged_decide_through_the_temporal_cli_is_refused_and_the_checker_still_decides(
    http: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    temporal_env: WorkflowEnvironment,
) -> None:
    plan = await new_plan(db, fixed="2.00")
    maker = await new_staff(db, "product_manager")
    checker = await new_staff(db, "ops_manager")
    maker_h = await api_headers(http, maker.username)
    checker_h = await api_headers(http, checker.username)
    created = await http.post(
        "/api/v1/changes", json=proposal("fee", plan.fee_id, fixed_amount="2.75"), headers=maker_h
    )
    assert created.status_code == 201, created.text
    change_id, workflow_id = created.json()["id"], created.json()["workflow_id"]
    task = await task_of(db, workflow_id)
    claim = await http.post(f"/api/v1/tasks/{task.id}/claim", headers=checker_h)
    assert claim.status_code == 200, claim.text

    # The attack of the issue: the claimant's own id, name and roles, straight to Temporal.
    forged = {
        "task_id": str(task.id),
        "actor_id": str(checker.actor.user_id),
        "actor_name": checker.username,
        "actor_roles": ["ops_manager"],
        "outcome": "approve",
        "comment": "forged",
    }
    code, output = await temporal_cli(
        settings,
        "workflow", "update", "execute",
        "--workflow-id", workflow_id,
        "--name", "decide",
        "--input", json.dumps(forged),
    )  # fmt: skip
    assert code != 0, output
    assert "PayloadRefused" in output or "Payload refused" in output or "Encoded failure" in output

    # A forged signal that would supersede the change, by the CLI and by a client holding
    # another deployment's key; an Update sealed with that key too.
    superseding = TargetChanged(
        target_type="fee", target_id=plan.fee_id, new_version=2, by_change_id=uuid.uuid4()
    )
    code, output = await temporal_cli(
        settings,
        "workflow", "signal",
        "--workflow-id", workflow_id,
        "--name", "target_changed",
        "--input", superseding.model_dump_json(),
    )  # fmt: skip
    assert code == 0, output  # Temporal accepts the signal; our worker drops it
    alien = await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        data_converter=build_data_converter(parse_key_list(FOREIGN_CODEC_KEYS)),
    )
    alien_handle = alien.get_workflow_handle(workflow_id)
    await alien_handle.signal("target_changed", superseding)
    with pytest.raises(WorkflowUpdateFailedError):
        await alien_handle.execute_update("decide", forged)

    # Nothing changed: our own client asks after every signal above was handled.
    ours = temporal_env.client.get_workflow_handle_for(ChangeApprovalWorkflow.run, workflow_id)
    state = await ours.query(ChangeApprovalWorkflow.current_state)
    assert state.status == "pending_approval"
    assert state.decided == {}
    change = (await http.get(f"/api/v1/changes/{change_id}", headers=maker_h)).json()
    assert change["status"] == "pending_approval"
    assert not [e for e in await events_of(db, workflow_id) if e.action == "task.decided"]
    async with db.session() as session:
        still = await session.get(Task, task.id)
        assert still is not None and still.status == "claimed"

    # The real checker, through the product, decides as before.
    decision = await http.post(
        f"/api/v1/tasks/{task.id}/decision",
        json={"outcome": "approve", "reason": None, "comment": COMMENT},
        headers=checker_h,
    )
    assert decision.status_code == 200, decision.text
    assert decision.json()["case_status"] == "applied"
    decided = [e for e in await events_of(db, workflow_id) if e.action == "task.decided"]
    assert [(e.actor_id, e.request_id is not None) for e in decided] == [
        (checker.actor.user_id, True)
    ]

    # What Temporal stores, read without our key: every payload sealed, no text in clear.
    await ours.result()
    raw = await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )
    history = await raw.get_workflow_handle(workflow_id).fetch_history()
    clear, unsealed = readable_without_key(history.to_json())
    # The only plain payload is the forged signal the CLI sent, which the worker dropped.
    assert [json.loads(base64.b64decode(p["data"])) for p in unsealed] == [
        json.loads(superseding.model_dump_json())
    ]
    assert "forged" not in clear  # a refused Update leaves no trace in history
    for secret in (COMMENT, checker.username, maker.username, "proper justification"):
        assert secret not in clear


async def test_forged_start_runs_nothing_and_fails_with_a_clear_reason(
    db: Database, settings: Settings, temporal_env: WorkflowEnvironment, worker: None
) -> None:
    workflow_id = f"change-{uuid.uuid4()}"
    code, output = await temporal_cli(
        settings,
        "workflow", "start",
        "--type", "ChangeApprovalWorkflow",
        "--task-queue", settings.task_queue,
        "--workflow-id", workflow_id,
        "--input", json.dumps({"change_id": str(uuid.uuid4())}),
    )  # fmt: skip
    assert code == 0, output  # Temporal stores the start; our worker refuses its input
    handle = temporal_env.client.get_workflow_handle(workflow_id)
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "PayloadRefused"
    assert "not encrypted with a backoffice key" in cause.message
    history = await handle.fetch_history()
    assert not [e for e in history.events if e.HasField("activity_task_scheduled_event_attributes")]
    assert await events_of(db, workflow_id) == []
    async with db.session() as session:
        rows = await session.exec(select(Task).where(Task.workflow_id == workflow_id))
        assert rows.all() == []


async def test_a_schedule_stored_before_encryption_or_rotation_is_resealed_at_start(
    settings: Settings, temporal_env: WorkflowEnvironment
) -> None:
    """A schedule keeps the input it was created with: written plain (before encryption) or
    with a retired key, every run it starts would be refused. Starting a worker reseals it."""
    idle = settings.model_copy(update={"task_queue": f"idle-{uuid.uuid4().hex[:8]}"})
    schedule_id = f"reseal-{uuid.uuid4().hex[:8]}"
    plain = await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )
    ours = temporal_env.client
    codec = ours.data_converter.payload_codec
    assert isinstance(codec, EncryptionCodec)
    rotated = await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        data_converter=build_data_converter(
            parse_key_list(f"{FOREIGN_CODEC_KEYS.replace('test1:', 'next:')},{TEST_CODEC_KEYS}")
        ),
    )

    async def stored() -> list[Payload]:
        described = await ours.get_schedule_handle(schedule_id).describe()
        return list(described.raw_description.schedule.action.start_workflow.input.payloads)

    await plain.create_schedule(schedule_id, rescreen_schedule(idle, schedule_id))
    try:
        [before] = await stored()
        assert not codec.sealed_with_current_key(before)
        await ensure_schedule(ours, schedule_id, rescreen_schedule(idle, schedule_id))
        [after] = await stored()
        assert codec.sealed_with_current_key(after)
        # Rotation: a worker holding the next key (first) reseals what the old key wrote.
        await ensure_schedule(rotated, schedule_id, rescreen_schedule(idle, schedule_id))
        [next_key] = await stored()
        assert next_key.metadata["encryption-key-id"] == b"next"
    finally:
        await ours.get_schedule_handle(schedule_id).delete()
