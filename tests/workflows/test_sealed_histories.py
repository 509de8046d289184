"""Histories written since payloads are encrypted hold no comment, rationale or name in clear,
and replay with the strict codec (no legacy reading). One is kept in
tests/workflows/histories/sealed-*.json (re-record with RECORD_HISTORIES=1)."""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.client import WorkflowHistory

from casework import tasks
from core.db import Database
from tests.aml_cases import Routed, alerted_customer
from tests.codec_keys import readable_without_key
from tests.helpers import Staff, new_staff, task_of
from tests.workflows.conftest import Skipping
from tests.workflows.test_replay import HISTORIES, PLAIN_ERA, is_patch_marker, replayer

# What each step writes; none of it may be readable from the history without the key.
NARRATIVES = {
    "l1#1": "Escalated: outgoing SWIFT transfer to a high-risk corridor, above profile.",
    "l2#1": "Escalated to the MLRO: no plausible economic purpose found in the file.",
    "mlro#1": "Filing a SAR: the transfer pattern matches structuring across accounts.",
}


def sealed_files() -> list[Path]:
    return sorted(HISTORIES.glob("sealed-*.json"))


def assert_nothing_in_clear(history_json: str, secrets: list[str]) -> None:
    clear, unsealed = readable_without_key(history_json)
    # The SDK writes a `workflow.patched` marker past the codec (a patch id and a flag).
    unsealed = [p for p in unsealed if not is_patch_marker(p)]
    assert unsealed == [], "every payload of a new history is encrypted"
    for secret in secrets:
        assert secret not in clear, secret


async def test_new_aml_history_holds_no_narrative_or_name_in_clear(
    skipping: Skipping, db: Database
) -> None:
    s = skipping
    analyst = await new_staff(db, "aml_analyst")
    investigator = await new_staff(db, "aml_investigator")
    mlro = await new_staff(db, "mlro")
    run: Routed = await alerted_customer(db, s.client, s.settings.task_queue)
    steps: list[tuple[str, Staff, str, str | None]] = [
        ("l1#1", analyst, "escalate", None),
        ("l2#1", investigator, "escalate", None),
        ("mlro#1", mlro, "sar", "structuring"),
    ]
    for key, who, outcome, reason in steps:
        task = await task_of(db, run.workflow_id, key)
        await tasks.claim_task(db, who.actor, task.id)
        await tasks.decide_task(
            db,
            s.client,
            who.actor,
            task.id,
            outcome=outcome,
            reason=reason,
            comment=NARRATIVES[key],
        )
    handle = s.client.get_workflow_handle(run.workflow_id)
    await handle.result()
    history = await handle.fetch_history()
    await replayer().replay_workflow(history)
    text = history.to_json()
    assert_nothing_in_clear(
        text, [*NARRATIVES.values(), analyst.username, investigator.username, mlro.username]
    )
    if os.environ.get("RECORD_HISTORIES") == "1":
        for old in sealed_files():
            if old.name.startswith("sealed-aml-sar__"):
                old.unlink()
        (HISTORIES / f"sealed-aml-sar__{run.workflow_id}.json").write_text(text)


async def test_recorded_sealed_history_replays_strictly_and_holds_nothing_in_clear() -> None:
    files = sealed_files()
    assert files, "a history of the encrypted era is kept in tests/workflows/histories"
    for path in files:
        name, _, workflow_id = path.stem.rpartition("__")
        assert name not in PLAIN_ERA
        text = path.read_text()
        await replayer().replay_workflow(WorkflowHistory.from_json(workflow_id, text))
        assert_nothing_in_clear(text, list(NARRATIVES.values()))
