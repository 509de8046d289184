"""Onboarding histories replay without non-determinism errors (promise 8): every path the
workflow takes, and the histories recorded in tests/workflows/histories/onboarding-*.json."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from casework import tasks
from core.db import Database
from models.applications import DocumentsSubmission
from onboarding.commands import information, intake
from tests.helpers import eventually, new_staff, task_of
from tests.onboarding_data import (
    business,
    clean_individual,
    listed_individual,
    medium_individual,
    parsed,
)
from tests.workflows.conftest import Skipping
from tests.workflows.test_replay import HISTORIES, replayer
from workflows.onboarding import OnboardingWorkflow

pytestmark = pytest.mark.usefixtures("onboarding_ready")


async def test_onboarding_histories_replay_cleanly(skipping: Skipping, db: Database) -> None:
    s = skipping
    service = await new_staff(db, "upstream_system", prefix="svc")
    analyst = await new_staff(db, "kyc_analyst")
    senior = await new_staff(db, "kyc_senior")

    async def submit(payload: dict[str, object]) -> intake.ApplicationAccepted:
        return await intake.submit_application(
            db, s.client, s.settings, service.actor, parsed(payload)
        )

    async def decide(
        wid: str, key: str, who: object, outcome: str, reason: str | None = None
    ) -> None:
        task = await task_of(db, wid, key)
        await tasks.claim_task(db, who.actor, task.id)  # type: ignore[attr-defined]
        await tasks.decide_task(
            db,
            s.client,
            who.actor,
            task.id,
            outcome=outcome,
            reason=reason,
            comment="Recorded for the replay test: checked in full.",  # type: ignore[attr-defined]
        )

    runs: dict[str, intake.ApplicationAccepted] = {}
    runs["auto"] = await submit(clean_individual())
    runs["four-eyes"] = await submit(listed_individual())
    await decide(runs["four-eyes"].workflow_id, "review-analyst#1", analyst, "approve")
    await decide(runs["four-eyes"].workflow_id, "review-senior#1", senior, "approve")
    runs["business"] = await submit(business(listed_owner=True))
    await decide(
        runs["business"].workflow_id, "review-analyst#1", analyst, "reject", "sanctions_match"
    )
    runs["answered"] = await submit(medium_individual())
    await decide(runs["answered"].workflow_id, "review-analyst#1", analyst, "request_info", "other")

    async def awaiting() -> bool:
        state = await s.client.get_workflow_handle(runs["answered"].workflow_id).query(
            OnboardingWorkflow.current_state
        )
        return state.status == "awaiting_information"

    await eventually(awaiting, what="awaiting information")
    await information.submit_documents(
        db,
        s.client,
        service.actor,
        runs["answered"].application_id,
        DocumentsSubmission(note="Here it is."),
    )
    await decide(runs["answered"].workflow_id, "review-analyst#2", analyst, "approve")
    runs["no-response"] = await submit(medium_individual())
    await decide(
        runs["no-response"].workflow_id, "review-analyst#1", analyst, "request_info", "other"
    )
    await task_of(db, runs["no-response"].workflow_id, "review-analyst#1")
    await s.env.sleep(timedelta(days=15))

    outcomes = {}
    for name, accepted in runs.items():
        handle = s.client.get_workflow_handle_for(OnboardingWorkflow.run, accepted.workflow_id)
        outcomes[name] = (await handle.result()).status
        history = await handle.fetch_history()
        await replayer().replay_workflow(history)
        if os.environ.get("RECORD_HISTORIES") == "1":
            # The workflow id is in the name: child workflow ids are derived from it.
            path = HISTORIES / f"onboarding-{name}__{accepted.workflow_id}.json"
            path.write_text(history.to_json())
    assert outcomes == {
        "auto": "approved",
        "four-eyes": "approved",
        "business": "rejected",
        "answered": "approved",
        "no-response": "rejected",
    }
