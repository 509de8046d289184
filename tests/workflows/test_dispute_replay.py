"""Dispute histories replay without non-determinism errors (promise 8): the paths a dispute
takes, produced by the current code, and the copies recorded in
tests/workflows/histories/dispute-*.json (re-record with RECORD_HISTORIES=1, only on purpose:
a change to DisputeWorkflow that running disputes cannot replay needs `workflow.patched`)."""

from __future__ import annotations

import os
from datetime import timedelta

from temporalio.client import WorkflowHistory

from core.db import Database
from disputes.commands.withdrawal import withdraw_dispute
from tests.helpers import new_staff, task_of
from tests.workflows.conftest import Skipping
from tests.workflows.test_dispute import Opened, at_stage, decide, open_on, script
from tests.workflows.test_replay import HISTORIES, recorded_replayer, replayer


async def test_dispute_histories_replay_cleanly(skipping: Skipping, db: Database) -> None:
    s = skipping

    runs: dict[str, Opened] = {}
    # Credit granted by an agent, chargeback filed, the merchant silent for 45 days.
    runs["won-by-silence"] = run = await open_on(s, db, amount="250.00")
    await decide(s, db, await new_staff(db, "disputes_agent"), run, "agent#credit", "grant")
    await decide(s, db, await new_staff(db, "disputes_agent"), run, "agent#evidence", "submit")

    # Represented (scripted before the filing), the loss accepted.
    runs["lost-by-representment"] = run = await open_on(s, db)
    first = await new_staff(db, "disputes_agent")
    await script(s, db, first, run, "chargeback", "represent")
    await decide(s, db, first, run, "agent#evidence", "submit")
    await decide(
        s,
        db,
        await new_staff(db, "disputes_agent"),
        run,
        "agent#representment",
        "accept_loss",
        "compelling_evidence",
    )

    # Represented (delivered by signal while waiting), pre-arbitration, the merchant silent.
    runs["pre-arbitration-won"] = run = await open_on(s, db)
    first = await new_staff(db, "disputes_agent")
    await decide(s, db, first, run, "agent#evidence", "submit")
    await at_stage(db, run.case_id, "chargeback")
    await script(s, db, first, run, "chargeback", "represent")
    await decide(
        s, db, await new_staff(db, "disputes_agent"), run, "agent#representment", "pre_arbitration"
    )

    # Withdrawn by the customer after the chargeback was filed.
    runs["withdrawn"] = run = await open_on(s, db)
    await decide(s, db, await new_staff(db, "disputes_agent"), run, "agent#evidence", "submit")
    await at_stage(db, run.case_id, "chargeback")
    await withdraw_dispute(
        db, s.client, run.support.actor, run.case_id, reason_code="refund_received", comment=None
    )

    # Nobody gathers evidence: SLA escalations, the deadline warning, then expiry (20 days).
    runs["expired"] = run = await open_on(s, db, days_ago=100)
    await task_of(db, run.workflow_id, "agent#evidence")
    await at_stage(db, runs["pre-arbitration-won"].case_id, "pre_arbitration")

    await s.env.sleep(timedelta(days=46))
    outcomes = {}
    for name, opened in runs.items():
        handle = s.client.get_workflow_handle(opened.workflow_id)
        outcomes[name] = await handle.result()
        history = await handle.fetch_history()
        await replayer().replay_workflow(history)
        if os.environ.get("RECORD_HISTORIES") == "1":
            path = HISTORIES / f"dispute-{name}__{opened.workflow_id}.json"
            path.write_text(history.to_json())
    assert outcomes == {
        "won-by-silence": "won",
        "lost-by-representment": "lost",
        "pre-arbitration-won": "won",
        "withdrawn": "withdrawn",
        "expired": "expired",
    }


async def test_recorded_dispute_histories_still_replay() -> None:
    files = sorted(HISTORIES.glob("dispute-*.json"))
    assert len(files) >= 5, "recorded dispute histories are kept in tests/workflows/histories"
    for path in files:
        workflow_id = path.stem.split("__", 1)[-1]
        history = WorkflowHistory.from_json(workflow_id, path.read_text())
        await recorded_replayer(path).replay_workflow(history)
