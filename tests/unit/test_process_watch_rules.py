"""The pure rules of out-of-band endings: ids, what each case type may be repaired with."""

from __future__ import annotations

import uuid

from casework.process_watch import (
    approval_spec,
    can_resume,
    close_only_why,
    ending_id_for,
    proposal_spec,
    resumed_workflow_id,
)
from models.process_watch_io import RepairInput


def _repair(case_type: str, resumable: bool) -> RepairInput:
    return RepairInput(
        ending_id=uuid.uuid4(),
        case_id=uuid.uuid4(),
        reference="ONB-1",
        case_type=case_type,
        kind="terminated",
        workflow_id="onboarding-1",
        resumable=resumable,
    )


def test_a_resumed_run_gets_the_next_free_id_never_the_ended_one() -> None:
    assert resumed_workflow_id("onboarding-abc") == "onboarding-abc-r2"
    assert resumed_workflow_id("onboarding-abc-r2") == "onboarding-abc-r3"
    assert resumed_workflow_id("aml-x-r9") == "aml-x-r10"


def test_one_record_per_ended_run() -> None:
    assert ending_id_for("w", "run-1") == ending_id_for("w", "run-1")
    assert ending_id_for("w", "run-1") != ending_id_for("w", "run-2")


def test_money_moving_processes_offer_close_only_and_say_why() -> None:
    assert can_resume("onboarding") and can_resume("aml") and can_resume("change_request")
    for case_type in ("dispute", "recon_exception", "screening_alert"):
        assert not can_resume(case_type)
        assert close_only_why(case_type)
    assert "provisional credit" in (close_only_why("dispute") or "")
    assert proposal_spec("repair-1", _repair("dispute", False), 1).allowed_outcomes == [
        "close_case"
    ]
    resumable = proposal_spec("repair-1", _repair("onboarding", True), 1)
    assert set(resumable.allowed_outcomes) == {"resume", "close_case"}
    assert resumable.reason_required_for == ["close_case"]


def test_the_proposer_is_excluded_from_the_approval_and_rounds_get_their_own_tasks() -> None:
    proposer = uuid.uuid4()
    inp = _repair("aml", True)
    first = approval_spec("repair-1", inp, 1, "resume", proposer)
    second = approval_spec("repair-1", inp, 2, "close_case", proposer)
    assert first.excluded_actors == [proposer] and first.candidate_role == "engineer"
    assert (first.task_key, second.task_key) == ("approve", "approve#2")
    assert first.task_id != second.task_id
    assert "close" in second.title and "resume" in first.title
