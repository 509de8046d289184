"""Politically exposed persons: a PEP list match raises the risk with its explanation whatever
the applicant declared, and enhanced due diligence needs a complete source of funds."""

from __future__ import annotations

import pytest

from onboarding.engines.risk import PepFinding, ScreeningSummary, assess_risk
from onboarding.policy import RiskWeights
from onboarding.rules import EDD_NOTE_MIN, source_of_funds_problems
from tests.unit.test_document_checks import individual

WEIGHTS = RiskWeights()
JANE = PepFinding(
    person="Jane Doe",
    source="list",
    list_name="PEP-OS",
    list_label="Politically exposed persons (OpenSanctions)",
    list_version="PEP-OS 2024-11-06",
    reference="NK-123",
    entry_name="Jane Doe",
    score=96.4,
)
NOTE = "Payslips of the House of Representatives and 2024 tax return agree."


def test_pep_list_match_makes_an_undeclared_applicant_high_risk_and_says_why() -> None:
    result = assess_risk(
        individual(full_name="Jane Doe", pep=False),
        ScreeningSummary(pep_matches=[JANE]),
        WEIGHTS,
    )

    assert result.level == "high"
    expected = (
        "Jane Doe matches Politically exposed persons (OpenSanctions) entry 'Jane Doe' "
        "(score 96): PEP"
    )
    assert expected in next(f.explanation for f in result.factors if f.factor == "screening")
    assert expected in result.explanation
    assert [(f.source, f.reference) for f in result.pep] == [("list", "NK-123")]


def test_pep_list_match_is_not_counted_as_a_sanctions_hit() -> None:
    result = assess_risk(individual(), ScreeningSummary(pep_matches=[JANE]), WEIGHTS)

    assert "sanctions" not in result.explanation
    assert "a screening hit" not in result.explanation


def test_declared_pep_without_a_list_match_is_still_high_and_named_as_declared() -> None:
    result = assess_risk(
        individual(full_name="Anna Schmidt", pep=True), ScreeningSummary(), WEIGHTS
    )

    assert result.level == "high"
    assert [(f.person, f.source) for f in result.pep] == [("Anna Schmidt", "declared")]
    assert "senior approval required" in result.explanation


def test_sanctions_hit_and_pep_match_are_both_explained() -> None:
    summary = ScreeningSummary(
        hits=1, best_score=91, persons_with_hits=["Jane Doe"], pep_matches=[JANE]
    )
    result = assess_risk(individual(), summary, WEIGHTS)

    screening = next(f.explanation for f in result.factors if f.factor == "screening")
    assert "1 sanctions/watch-list hit(s) for Jane Doe" in screening
    assert "entry 'Jane Doe' (score 96): PEP" in screening
    assert "a screening hit and a politically exposed person" in result.explanation


def test_no_pep_no_finding() -> None:
    assert assess_risk(individual(), ScreeningSummary(), WEIGHTS).pep == []


def test_complete_source_of_funds_passes() -> None:
    assert source_of_funds_problems("public_office", ["payslips", "tax_return"], NOTE) == {}


@pytest.mark.parametrize(
    ("source", "evidence", "note", "field"),
    [
        ("", ["payslips"], NOTE, "source"),
        ("lottery", ["payslips"], NOTE, "source"),
        ("employment", [], NOTE, "evidence"),
        ("employment", ["a friend said so"], NOTE, "evidence"),
        ("employment", ["payslips", "payslips"], NOTE, "evidence"),
        ("employment", "payslips", NOTE, "evidence"),
        ("employment", ["payslips"], "ok", "note"),
        ("employment", ["payslips"], " " * 40, "note"),
        ("employment", ["payslips"], "x" * 2001, "note"),
    ],
)
def test_incomplete_source_of_funds_names_the_field(
    source: str, evidence: object, note: str, field: str
) -> None:
    problems = source_of_funds_problems(source, evidence, note)

    assert list(problems) == [field]


def test_note_minimum_is_stated() -> None:
    assert str(EDD_NOTE_MIN) in source_of_funds_problems("pension", ["tax_return"], "")["note"]
