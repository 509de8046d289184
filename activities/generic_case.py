"""Activities of the generic case workflow (manual cases: casework/generic_case.py): read the
case type's plan and move the case between its steps through the kernel's store (its audit
event in the same transaction; a retry after our own commit changes nothing). Tasks and the
closing are the kernel's own activities (activities.tasks)."""

from __future__ import annotations

from temporalio import activity

import casework.catalog  # noqa: F401 - every declared case type is known to the plan
from activities.outage import not_committed_yet, retry_on_outage
from activities.tasks import refuse
from casework import store
from casework.generic_case import SENIOR_STEP, WORK_STEP, plan_for
from casework.registry import RegistryError, kind
from core.db import Database, run_sql
from models.generic_case_io import CasePlanInput, GenericCasePlan, GenericStageInput


class GenericCaseActivities:
    def __init__(self, db: Database):
        self.db = db

    @activity.defn
    @retry_on_outage
    async def load_case_plan(self, inp: CasePlanInput) -> GenericCasePlan:
        """The case type's two steps from the registry (recorded in the history, so a
        running case keeps them whatever the registry says later)."""
        try:
            plan = plan_for(inp.case_type)
        except RegistryError as err:
            raise refuse(str(err), "unknown_case_type") from err
        async with self.db.session() as session:
            found = (
                await run_sql(session, 'SELECT 1 FROM "case" WHERE id = :id', {"id": inp.case_id})
            ).first()
        if found is None:  # started inside the opening transaction, not committed yet
            raise not_committed_yet(f"case {inp.case_id}")
        return GenericCasePlan(
            case_type=plan.case_type,
            work=kind(plan.work_kind).spec(inp.workflow_id, f"{WORK_STEP}#1", inp.reference),
            senior=kind(plan.senior_kind).spec(inp.workflow_id, f"{SENIOR_STEP}#1", inp.reference),
            escalation_role=plan.escalation_role,
        )

    @activity.defn
    @retry_on_outage
    async def move_generic_case(self, inp: GenericStageInput) -> None:
        async with self.db.transaction() as session:
            await store.move_stage(
                session,
                inp.case_id,
                inp.stage,
                only_if_changed=True,
                workflow_id=inp.workflow_id,
                event=store.Event("case.stage_moved", details={"stage": inp.stage}),
            )
