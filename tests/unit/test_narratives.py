"""What a decision must say: one pure rule shared by the form, the API and the workflow."""

from __future__ import annotations

import pytest

from aml.rules import COMMENT_MIN, RATIONALE_MIN
from casework.narratives import (
    comment_requirement,
    narrative_message,
    narrative_problems,
)

RATIONALE = "Cash deposits with no documented source, unlike any earlier activity."
COMMENT = "Pass-through pattern: in and out the same day."


def test_a_sar_with_a_sar_reason_and_a_rationale_passes() -> None:
    assert narrative_problems("aml_mlro_decision", "sar", "structuring", RATIONALE) == {}
    assert narrative_problems("aml_mlro_decision", "no_sar", "activity_explained", RATIONALE) == {}


def test_a_sar_with_a_no_sar_reason_is_refused_naming_the_reason() -> None:
    problems = narrative_problems("aml_mlro_decision", "sar", "activity_explained", RATIONALE)
    assert list(problems) == ["reason"]
    assert (
        "'activity_explained' is a reason to decide no SAR, not to file a SAR" in problems["reason"]
    )
    assert "structuring" in problems["reason"]


def test_no_sar_with_a_sar_reason_is_refused() -> None:
    problems = narrative_problems("aml_mlro_decision", "no_sar", "structuring", RATIONALE)
    assert list(problems) == ["reason"]


def test_other_is_a_reason_for_both_sar_outcomes() -> None:
    for outcome in ("sar", "no_sar"):
        assert narrative_problems("aml_mlro_decision", outcome, "other", RATIONALE) == {}


def test_an_unknown_reason_code_is_refused() -> None:
    problems = narrative_problems("aml_mlro_decision", "sar", "gut_feeling", RATIONALE)
    assert "'gut_feeling' is not a reason to file a SAR" in problems["reason"]


@pytest.mark.parametrize("rationale", [None, "", "x", "short", " " * 40, "a" * (RATIONALE_MIN - 1)])
def test_a_sar_decision_needs_a_rationale_of_30_characters(rationale: str | None) -> None:
    for outcome, reason in (("sar", "structuring"), ("no_sar", "insufficient_grounds")):
        problems = narrative_problems("aml_mlro_decision", outcome, reason, rationale)
        assert list(problems) == ["comment"]
        assert problems["comment"].startswith("The rationale needs at least 30 characters")


def test_the_rationale_length_ignores_surrounding_whitespace() -> None:
    padded = "   " + "a" * (RATIONALE_MIN - 1) + "   "
    assert "comment" in narrative_problems("aml_mlro_decision", "sar", "fraud", padded)
    exact = "  " + "a" * RATIONALE_MIN + "\n"
    assert narrative_problems("aml_mlro_decision", "sar", "fraud", exact) == {}


def test_both_faults_are_named_at_once() -> None:
    problems = narrative_problems("aml_mlro_decision", "sar", "activity_explained", "x")
    assert set(problems) == {"reason", "comment"}
    message = narrative_message(problems)
    assert "reason:" in message and "comment:" in message


@pytest.mark.parametrize("kind", ["aml_l1_review", "aml_l2_review"])
def test_every_escalation_needs_a_comment_of_20_characters(kind: str) -> None:
    assert "comment" in narrative_problems(kind, "escalate", None, None)
    assert "comment" in narrative_problems(kind, "escalate", None, "a" * (COMMENT_MIN - 1))
    assert narrative_problems(kind, "escalate", None, COMMENT) == {}


def test_an_escalation_takes_no_reason_code() -> None:
    problems = narrative_problems("aml_l1_review", "escalate", "false_positive", COMMENT)
    assert list(problems) == ["reason"]


def test_a_closure_takes_only_closure_reasons_and_no_comment_length() -> None:
    assert narrative_problems("aml_l1_review", "close", "false_positive", None) == {}
    assert "reason" in narrative_problems("aml_l1_review", "close", "structuring", None)
    assert narrative_problems("aml_closure_approval", "approve", None, None) == {}
    assert "reason" in narrative_problems("aml_closure_approval", "reject", "fraud", None)


@pytest.mark.parametrize("kind", ["kyc_review", "kyc_senior_review"])
def test_approving_a_high_risk_application_needs_a_comment_of_20(kind: str) -> None:
    short = narrative_problems(kind, "approve", None, "looks ok", high_risk=True)
    assert list(short) == ["comment"] and "high-risk" in short["comment"]
    assert (
        narrative_problems(kind, "approve", None, "Register extract matches UBOs.", high_risk=True)
        == {}
    )
    # Not high risk: an approval may go without a comment.
    assert narrative_problems(kind, "approve", None, None, high_risk=False) == {}


def test_kyc_rejections_and_requests_take_their_own_reasons() -> None:
    assert narrative_problems("kyc_review", "reject", "documents_invalid", None) == {}
    assert "reason" in narrative_problems("kyc_review", "reject", "proof_of_address", None)
    assert narrative_problems("kyc_review", "request_info", "proof_of_address", None) == {}


def test_a_screening_hit_is_confirmed_and_dismissed_only_with_matching_reasons() -> None:
    kind = "screening_alert_review"
    assert narrative_problems(kind, "confirm_match", "same_person", None) == {}
    assert narrative_problems(kind, "false_positive", "different_dob", None) == {}
    confirm = narrative_problems(kind, "confirm_match", "common_name", None)
    assert "is a reason to dismiss the hit as a false positive, not to confirm" in confirm["reason"]
    assert "reason" in narrative_problems(kind, "false_positive", "same_person", None)


def test_kinds_without_narrative_rules_are_untouched() -> None:
    assert narrative_problems("change_approval", "approve", "anything", None) == {}
    assert narrative_problems("recon_break", "explained", "bank_fee", None) == {}


def test_comment_requirement_reports_the_minimum_per_outcome() -> None:
    assert comment_requirement("aml_mlro_decision", "sar", high_risk=False) == RATIONALE_MIN
    assert comment_requirement("aml_l2_review", "escalate", high_risk=False) == COMMENT_MIN
    assert comment_requirement("aml_l2_review", "close", high_risk=False) == 0
    assert comment_requirement("kyc_review", "approve", high_risk=True) == COMMENT_MIN
    assert comment_requirement("kyc_review", "approve", high_risk=False) == 0
