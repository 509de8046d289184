"""Recorded workflow histories replay without non-determinism errors (promise 8).

Two guards: histories produced by the current code (every path: applied, rejected,
withdrawn, expired, superseded, scheduled), and histories recorded earlier and kept in
tests/workflows/histories/ — those catch a code change that would break workflows that
are already running in production. Re-record with RECORD_HISTORIES=1 only on purpose,
when a change is guarded by `workflow.patched`: the change paths are then written as
`sealed-change-<path>__<workflow id>.json` (encrypted); the plain-era `<path>.json` files
stay as they were recorded, the shape of changes started before the port onto ReviewSteps.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from casework import tasks
from changes.commands import requests as changes
from changes.commands.role_grants import propose_role_change
from core.codec import build_data_converter
from core.db import Database
from models.base import utcnow
from models.changes import ChangeCreate, ChangeCreated
from tests.codec_keys import codec_ring, readable_without_key
from tests.helpers import new_plan, new_staff, task_of
from tests.workflows.conftest import Skipping
from worker import WORKFLOWS
from workflows.change_approval import ChangeApprovalWorkflow

HISTORIES = Path(__file__).parent / "histories"


# Histories recorded before payloads were encrypted: replayed with the codec's legacy mode
# (plain payloads read). Every other file must hold only encrypted payloads.
PLAIN_ERA = frozenset(
    {
        "aml-closure-rejected-then-sar",
        "aml-l1-closed",
        "aml-second-alert",
        "aml-sla-and-sar-breach",
        "applied",
        "dispute-expired",
        "dispute-lost-by-representment",
        "dispute-pre-arbitration-won",
        "dispute-withdrawn",
        "dispute-won-by-silence",
        "elevated",
        "expired",
        "onboarding-answered",
        "onboarding-auto",
        "onboarding-business",
        "onboarding-four-eyes",
        "onboarding-no-response",
        "recon-break-explained",
        "recon-break-write-off-rejected-then-approved",
        "recon-statement-matched",
        "recon-statement-refused",
        "rejected",
        "scheduled",
        "superseded",
        "withdrawn",
    }
)


def replayer(*, legacy: bool = False) -> Replayer:
    """Strict by default, as live workers are; `legacy` only for the plain-era files."""
    return Replayer(
        workflows=WORKFLOWS, data_converter=build_data_converter(codec_ring(), legacy=legacy)
    )


def recorded_replayer(path: Path) -> Replayer:
    """The replayer for a file of tests/workflows/histories: legacy only for the plain era."""
    name, _, workflow_id = path.stem.rpartition("__")
    return replayer(legacy=(name or workflow_id) in PLAIN_ERA)


async def _scenarios(s: Skipping, db: Database) -> dict[str, ChangeCreated]:
    plan = await new_plan(db)
    maker = await new_staff(db, "product_manager", "risk_manager")
    ops = await new_staff(db, "ops_manager")
    risk = await new_staff(db, "risk_manager")

    async def propose(kind: str, field: str, value: str, **extra: object) -> ChangeCreated:
        target = plan.fee_id if kind == "fee" else plan.limit_id
        data = ChangeCreate(
            target_type=kind,  # type: ignore[arg-type]
            target_id=target,
            changes={field: value},
            reason="Replay scenario change.",
            **extra,  # type: ignore[arg-type]
        )
        return await changes.propose_change(db, s.client, s.settings, maker.actor, data)

    async def decide(
        created: ChangeCreated, who: object, outcome: str, key: str = "approve"
    ) -> None:
        task = await task_of(db, created.workflow_id, key)
        await tasks.claim_task(db, who.actor, task.id)  # type: ignore[attr-defined]
        await tasks.decide_task(
            db,
            s.client,
            who.actor,
            task.id,
            outcome=outcome,  # type: ignore[attr-defined]
            reason="policy_breach" if outcome == "reject" else None,
            comment="replay",
        )

    out: dict[str, ChangeCreated] = {}
    out["superseded"] = await propose("fee", "percent", "0.75")
    out["applied"] = await propose("fee", "fixed_amount", "2.10")
    await decide(out["applied"], ops, "approve")
    out["rejected"] = await propose("fee", "fixed_amount", "9.00")
    await decide(out["rejected"], ops, "reject")
    out["withdrawn"] = await propose("fee", "fixed_amount", "4.00")
    await task_of(db, out["withdrawn"].workflow_id)
    await changes.withdraw_change(db, s.client, maker.actor, out["withdrawn"].id, "Not needed")
    out["elevated"] = await propose("limit", "amount", "5000.00")
    await decide(out["elevated"], risk, "approve", key="risk_approve")
    await decide(out["elevated"], ops, "approve")
    out["scheduled"] = await propose(
        "limit", "amount", "900.00", effective_at=utcnow() + timedelta(days=2)
    )
    await decide(out["scheduled"], ops, "approve")
    out["expired"] = await propose("fee", "min_amount", "0.10")
    await task_of(db, out["expired"].workflow_id)
    # A role grant with an end date (issue 16): applied, then its timer ends the grant.
    admin, second_admin = await new_staff(db, "admin"), await new_staff(db, "admin")
    person = await new_staff(db, "support")
    out["role-grant-expiry"] = await propose_role_change(
        db,
        s.client,
        s.settings,
        admin.actor,
        person.actor.user_id,
        add=["kyc_analyst"],
        remove=[],
        reason="Replay scenario role grant.",
        ends_at=utcnow() + timedelta(days=3),
    )
    await decide(out["role-grant-expiry"], second_admin, "approve")
    await s.env.sleep(timedelta(days=4))
    for created in out.values():
        await s.client.get_workflow_handle(created.workflow_id).result()
    return out


async def test_current_histories_replay_cleanly(skipping: Skipping, db: Database) -> None:
    runs = await _scenarios(skipping, db)
    statuses = {}
    for name, created in runs.items():
        handle = skipping.client.get_workflow_handle_for(
            ChangeApprovalWorkflow.run, created.workflow_id
        )
        statuses[name] = (await handle.result()).status
        history = await handle.fetch_history()
        await replayer().replay_workflow(history)
        text = history.to_json()
        assert readable_without_key(text)[1] == [], f"{name}: every payload is encrypted"
        # RECORD_HISTORIES=1 re-records every path; =<name> only that one (a new path).
        if os.environ.get("RECORD_HISTORIES") in ("1", name):
            for old in HISTORIES.glob(f"sealed-change-{name}__*.json"):
                old.unlink()
            (HISTORIES / f"sealed-change-{name}__{created.workflow_id}.json").write_text(text)
    assert statuses == {
        "superseded": "superseded",
        "applied": "applied",
        "rejected": "rejected",
        "withdrawn": "withdrawn",
        "elevated": "applied",
        "scheduled": "applied",  # after its effective date, two days later
        "expired": "expired",
        "role-grant-expiry": "applied",
    }


async def test_recorded_histories_still_replay() -> None:
    files = sorted(HISTORIES.glob("*.json"))
    assert files, "recorded histories are kept in tests/workflows/histories"
    for path in files:
        # `name__<workflow id>.json` when the workflow derives ids (of children) from its own.
        workflow_id = path.stem.split("__", 1)[-1]
        text = path.read_text()
        history = WorkflowHistory.from_json(workflow_id, text)
        await recorded_replayer(path).replay_workflow(history)
        if (path.stem.rpartition("__")[0] or path.stem) not in PLAIN_ERA:
            plain = [p for p in readable_without_key(text)[1] if not is_patch_marker(p)]
            assert plain == [], f"{path.name} holds a plain payload"


def is_patch_marker(payload: dict[str, Any]) -> bool:
    """The SDK writes a `workflow.patched` marker itself, past the codec: the patch id and a
    flag, nothing of the case. Only exactly that shape is let through in clear."""
    try:
        data = json.loads(base64.b64decode(payload.get("data", "")))
    except ValueError:
        return False
    return isinstance(data, dict) and set(data) == {"id", "deprecated"}
