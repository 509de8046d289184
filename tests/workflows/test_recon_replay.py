"""Reconciliation histories replay without non-determinism errors (promise 8): a statement
matched (its window for our records passed by a durable timer), a refused one, a break
explained and a write-off rejected then approved, produced by the current code; recorded
copies live in tests/workflows/histories/recon-*.json (re-record with RECORD_HISTORIES=1,
only on purpose) and are replayed by test_replay.test_recorded_histories_still_replay."""

from __future__ import annotations

import os
from typing import Any

from casework import tasks
from core.db import Database
from models.reconciliation import ReconBreak
from reconciliation.commands.breaks import ResolveForm, resolve_break
from reconciliation.commands.statements import receive_statement
from reconciliation.rules import approve_key, break_workflow_id, resolve_key
from tests.helpers import Staff, new_staff, task_of
from tests.recon_data import recon_setup
from tests.workflows.conftest import Skipping
from tests.workflows.test_reconciliation import breaks_of, reconciled
from tests.workflows.test_replay import HISTORIES, replayer


async def test_reconciliation_histories_replay_cleanly(skipping: Skipping, db: Database) -> None:
    s = skipping
    finance = await new_staff(db, "finance_ops")
    manager = await new_staff(db, "ops_manager")
    workflow_ids: dict[str, str] = {}

    setup = await recon_setup(db, "camt053", lines=400)
    matched = await receive_statement(
        db, s.client, s.settings, finance.actor, source_id=setup.source_id,
        filename=setup.filename, content=setup.content,
    )  # fmt: skip
    statement = await reconciled(s, db, matched)
    workflow_ids["statement-matched"] = matched.workflow_id

    broken = await recon_setup(db, "mt940")
    refused = await receive_statement(
        db, s.client, s.settings, finance.actor, source_id=broken.source_id,
        filename=broken.filename, content=broken.content.replace(b":61:", b":61:X", 1),
    )  # fmt: skip
    await reconciled(s, db, refused)
    workflow_ids["statement-refused"] = refused.workflow_id

    found = await breaks_of(db, statement.id)
    explained = next(b for b in found if b.kind == "unmatched_line")
    await _resolve(s, db, finance, explained, 1, action="explained", reason_code="bank_error")
    workflow_ids["break-explained"] = break_workflow_id(explained.id)

    large = max((b for b in found if b.kind == "unmatched_record"), key=lambda b: abs(b.amount))
    amount = format(abs(large.amount), "f")
    for attempt, outcome in ((1, "reject"), (2, "approve")):
        await _resolve(s, db, finance, large, attempt, action="write_off",
                       reason_code="unrecoverable", amount=amount)  # fmt: skip
        approval = await task_of(db, break_workflow_id(large.id), approve_key(attempt))
        await tasks.claim_task(db, manager.actor, approval.id)
        await tasks.decide_task(
            db, s.client, manager.actor, approval.id, outcome=outcome,
            reason="recoverable" if outcome == "reject" else None, comment=None,
        )  # fmt: skip
    workflow_ids["break-write-off-rejected-then-approved"] = break_workflow_id(large.id)

    results = {}
    for name, workflow_id in workflow_ids.items():
        handle = s.client.get_workflow_handle(workflow_id)
        results[name] = await handle.result()
        history = await handle.fetch_history()
        await replayer().replay_workflow(history)
        if os.environ.get("RECORD_HISTORIES") == "1":
            (HISTORIES / f"recon-{name}__{workflow_id}.json").write_text(history.to_json())
    assert results == {
        "statement-matched": "matched",
        "statement-refused": "refused",
        "break-explained": "resolved",
        "break-write-off-rejected-then-approved": "resolved",
    }


async def _resolve(
    s: Skipping, db: Database, who: Staff, brk: ReconBreak, attempt: int, **form: Any
) -> None:
    task = await task_of(db, break_workflow_id(brk.id), resolve_key(attempt))
    await tasks.claim_task(db, who.actor, task.id)
    await resolve_break(db, s.client, who.actor, brk.id, ResolveForm(task_id=task.id, **form))
