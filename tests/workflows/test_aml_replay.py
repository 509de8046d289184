"""AML case histories replay without non-determinism errors (promise 8): every path the case
takes. Recorded copies live in tests/workflows/histories/aml-*.json (RECORD_HISTORIES=1)."""

from __future__ import annotations

import os
from datetime import timedelta

from sqlmodel import col, select

from aml.commands.casework import route_alerts
from audit.trail import SYSTEM
from casework import tasks
from core.db import Database
from models.aml import AmlAlert
from models.cases import Notification
from tests.aml_cases import Routed, alerted_customer
from tests.helpers import Staff, eventually, new_staff, task_of
from tests.workflows.conftest import Skipping
from tests.workflows.test_replay import HISTORIES, replayer
from workflows.aml_case import AmlCaseWorkflow


async def test_aml_case_histories_replay_cleanly(skipping: Skipping, db: Database) -> None:
    s = skipping
    analyst = await new_staff(db, "aml_analyst")
    investigator = await new_staff(db, "aml_investigator")
    second = await new_staff(db, "aml_investigator")
    mlro = await new_staff(db, "mlro")

    async def decide(
        routed: Routed,
        key: str,
        who: Staff,
        outcome: str,
        reason: str | None = None,
        *,
        claim: bool = True,
    ) -> None:
        task = await task_of(db, routed.workflow_id, key)
        if claim:
            await tasks.claim_task(db, who.actor, task.id)
        await tasks.decide_task(
            db,
            s.client,
            who.actor,
            task.id,
            outcome=outcome,
            reason=reason,
            comment="Recorded for the replay test: reviewed the alert in full.",
        )

    async def new_case() -> Routed:
        return await alerted_customer(db, s.client, s.settings.task_queue)

    runs: dict[str, Routed] = {}
    runs["l1-closed"] = await new_case()
    await decide(runs["l1-closed"], "l1#1", analyst, "close", "false_positive")

    runs["closure-rejected-then-sar"] = run = await new_case()
    await decide(run, "l1#1", analyst, "escalate")
    await decide(run, "l2#1", investigator, "close", "explained_activity")
    await decide(run, "l2-closure#1", second, "reject", "insufficient_investigation")
    await decide(run, "l2#2", investigator, "escalate")
    await decide(run, "mlro#1", mlro, "sar", "structuring")

    # A second alert for the same customer joins the open case (signal-with-start).
    runs["second-alert"] = run = await new_case()
    held = await task_of(db, run.workflow_id, "l1#1")
    await tasks.claim_task(db, analyst.actor, held.id)
    async with db.transaction() as session:
        first = (await session.exec(select(AmlAlert).where(AmlAlert.case_id == run.case_id))).one()
        extra = AmlAlert(
            dedupe_key=f"replay-extra:{first.id}",
            customer_id=first.customer_id,
            account_id=first.account_id,
            rule_key="velocity",
            rule_version=1,
            transaction_ids=first.transaction_ids,
            reason="second alert",
        )
        session.add(extra)
        await session.flush()
        routes = await route_alerts(session, s.client, s.settings.task_queue, [extra], actor=SYSTEM)
    assert [r.case_id for r in routes] == [run.case_id] and not routes[0].opened

    async def two_alerts() -> bool:
        state = await s.client.get_workflow_handle(run.workflow_id).query(
            AmlCaseWorkflow.current_state
        )
        return state["alerts"] == 2

    await eventually(two_alerts, what="second alert in the running case")

    async def announced() -> list[Notification]:
        async with db.session() as session:
            return list(
                (
                    await session.exec(
                        select(Notification).where(
                            Notification.case_id == run.case_id,
                            col(Notification.dedupe_key).startswith("aml-new-alerts:"),
                        )
                    )
                ).all()
            )

    # The person holding the L1 task is told (an unclaimed task's case tells no one: it is
    # in the queue).
    [notice] = await eventually(announced, what="new-alert notification")
    assert notice.recipient_id == analyst.actor.user_id and notice.recipient_role is None
    assert notice.subject == "New alerts on your AML case"
    await decide(run, "l1#1", analyst, "close", "duplicate", claim=False)

    # Untouched: L1 breaches into L2, then the SAR deadline passes with no decision.
    runs["sla-and-sar-breach"] = run = await new_case()
    await task_of(db, run.workflow_id, "l1#1")
    await s.env.sleep(timedelta(days=31))
    await decide(run, "l2#1", investigator, "escalate")
    await decide(run, "mlro#1", mlro, "no_sar", "insufficient_grounds")

    outcomes = {}
    for name, routed in runs.items():
        handle = s.client.get_workflow_handle(routed.workflow_id)
        outcomes[name] = await handle.result()
        history = await handle.fetch_history()
        await replayer().replay_workflow(history)
        if os.environ.get("RECORD_HISTORIES") == "1":
            path = HISTORIES / f"aml-{name}__{routed.workflow_id}.json"
            path.write_text(history.to_json())
    assert outcomes == {
        "l1-closed": "closed_false_positive",
        "closure-rejected-then-sar": "sar_filed",
        "second-alert": "closed_duplicate",
        "sla-and-sar-breach": "no_sar",
    }
