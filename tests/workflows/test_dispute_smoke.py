"""Smoke: a dispute under the threshold runs to won when the merchant stays silent."""

from __future__ import annotations

from datetime import timedelta

from core.db import Database
from domain import tasks
from models.cases import Case
from tests.dispute_data import opened_dispute
from tests.helpers import eventually, new_staff, task_of
from tests.workflows.conftest import Skipping


async def test_smoke(db: Database, skipping: Skipping) -> None:
    _, opened = await opened_dispute(db, skipping.client, skipping.settings, amount="40.00")
    agent = await new_staff(db, "disputes_agent")
    task = await task_of(db, opened.workflow_id, "evidence")
    await tasks.claim_task(db, agent.actor, task.id)
    await tasks.decide_task(
        db, skipping.client, agent.actor, task.id, outcome="submit", reason=None, comment=None
    )

    async def stage() -> str:
        async with db.session() as session:
            case = await session.get(Case, opened.case_id)
        assert case is not None
        return case.stage

    async def charged() -> bool:
        return await stage() == "chargeback"

    await eventually(charged, what="chargeback")
    await skipping.env.sleep(timedelta(days=46))
    result = await skipping.client.get_workflow_handle(opened.workflow_id).result()
    assert result == "won"
