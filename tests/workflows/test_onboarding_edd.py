"""Enhanced due diligence of a politically exposed person, on the time-skipping server: the
analyst records the source of funds (refused incomplete at every door), then a different
senior approves; the history of that shape is recorded for the replay test."""

from __future__ import annotations

import os

import pytest
from sqlmodel import select

from casework import tasks
from core.db import Database
from models.cases import Decision
from onboarding.commands import intake
from onboarding.commands.edd import SourceOfFundsForm, record_source_of_funds
from shared.errors import Forbidden, Invalid
from tests.helpers import eventually, new_staff, task_of
from tests.onboarding_data import clean_individual, parsed
from tests.workflows.conftest import Skipping
from tests.workflows.test_replay import HISTORIES, replayer
from workflows.onboarding import OnboardingWorkflow

pytestmark = pytest.mark.usefixtures("onboarding_ready")

NOTE = "Salary slips of the ministry for 2024 and the tax return agree with the volume."


async def test_declared_pep_needs_source_of_funds_then_a_different_senior(
    skipping: Skipping, db: Database
) -> None:
    s = skipping
    service = await new_staff(db, "upstream_system", prefix="svc")
    analyst = await new_staff(db, "kyc_analyst", "kyc_senior")
    senior = await new_staff(db, "kyc_senior")
    accepted = await intake.submit_application(
        db, s.client, s.settings, service.actor, parsed(clean_individual(pep=True))
    )
    wid = accepted.workflow_id

    edd = await task_of(db, wid, "review-edd#1")
    assert edd.kind == "kyc_edd_review" and edd.candidate_role == "kyc_analyst"
    handle = s.client.get_workflow_handle_for(OnboardingWorkflow.run, wid)
    assert (await handle.query(OnboardingWorkflow.current_state)).route == "edd"
    await tasks.claim_task(db, analyst.actor, edd.id)

    # Around the form, through the generic decision door: the workflow refuses it.
    with pytest.raises(Invalid) as around:
        await tasks.decide_task(
            db, s.client, analyst.actor, edd.id, outcome="approve", reason=None, comment=NOTE
        )
    assert {"source", "evidence"} <= set(around.value.fields)
    # The form itself: each missing field named, nothing decided.
    with pytest.raises(Invalid) as incomplete:
        await record_source_of_funds(
            db,
            s.client,
            analyst.actor,
            accepted.application_id,
            SourceOfFundsForm(task_id=edd.id, source="lottery", note="short"),
        )
    assert set(incomplete.value.fields) == {"source", "evidence", "note"}

    await record_source_of_funds(
        db,
        s.client,
        analyst.actor,
        accepted.application_id,
        SourceOfFundsForm(
            task_id=edd.id, source="public_office", evidence=["payslips", "tax_return"], note=NOTE
        ),
    )
    async with db.session() as session:
        decision = (await session.exec(select(Decision).where(Decision.task_id == edd.id))).one()
    assert decision.details["source"] == "public_office"
    assert decision.details["evidence"] == ["payslips", "tax_return"]
    assert decision.comment == NOTE

    approval = await task_of(db, wid, "review-senior#1")
    # Four-eyes: whoever recorded the source of funds may not approve, even holding the role.
    with pytest.raises(Forbidden):
        await tasks.claim_task(db, analyst.actor, approval.id)
    await tasks.claim_task(db, senior.actor, approval.id)
    await tasks.decide_task(
        db,
        s.client,
        senior.actor,
        approval.id,
        outcome="approve",
        reason=None,
        comment="Source of funds established; senior approval of the PEP relationship.",
    )
    assert (await handle.result()).status == "approved"

    history = await handle.fetch_history()
    await replayer().replay_workflow(history)
    if os.environ.get("RECORD_HISTORIES") == "1":
        (HISTORIES / f"onboarding-edd__{wid}.json").write_text(history.to_json())


async def test_pep_edd_step_can_be_rejected_without_source_of_funds(
    skipping: Skipping, db: Database
) -> None:
    s = skipping
    service = await new_staff(db, "upstream_system", prefix="svc")
    analyst = await new_staff(db, "kyc_analyst")
    accepted = await intake.submit_application(
        db, s.client, s.settings, service.actor, parsed(clean_individual(pep=True))
    )
    edd = await task_of(db, accepted.workflow_id, "review-edd#1")
    await tasks.claim_task(db, analyst.actor, edd.id)
    await tasks.decide_task(
        db,
        s.client,
        analyst.actor,
        edd.id,
        outcome="reject",
        reason="high_risk_unacceptable",
        comment="The source of the funds could not be established at all.",
    )

    async def rejected() -> bool:
        handle = s.client.get_workflow_handle_for(OnboardingWorkflow.run, accepted.workflow_id)
        return (await handle.query(OnboardingWorkflow.current_state)).status == "rejected"

    await eventually(rejected, what="rejected")
