"""Risk scoring routes applications: the example applicants land where the design says."""

from __future__ import annotations

from decimal import Decimal

import pytest

from models.applications import ApplicationCreate
from onboarding.engines.risk import RiskAssessment, ScreeningSummary, assess_risk
from onboarding.policy import RiskWeights
from tests.unit.test_document_checks import business, individual, person

WEIGHTS = RiskWeights()
CLEAN = ScreeningSummary()
HIT = ScreeningSummary(hits=1, best_score=93.0, persons_with_hits=["Jane Roe"])


def assess(
    application: ApplicationCreate, screening: ScreeningSummary = CLEAN, **kwargs: str
) -> RiskAssessment:
    return assess_risk(application, screening, WEIGHTS, **kwargs)


def factor(assessment: RiskAssessment, name: str) -> int:
    return next(f.score for f in assessment.factors if f.factor == name)


def test_clean_german_individual_with_modest_volume_is_low() -> None:
    result = assess(individual(volume="3000"))

    assert result.level == "low"
    assert result.score < WEIGHTS.medium_from
    assert {f.factor for f in result.factors} == {
        "country",
        "screening",
        "industry",
        "ownership",
        "volume",
    }


def test_german_individual_with_high_volume_is_medium() -> None:
    result = assess(individual(volume="80000"))

    assert result.level == "medium"
    assert factor(result, "volume") == 100
    assert "Expected monthly volume" in result.explanation


def test_individual_from_a_fatf_grey_list_country_is_medium() -> None:
    result = assess(individual(nationality="NG", country_of_residence="NG"))

    assert result.level == "medium"
    assert "FATF" in next(f.explanation for f in result.factors if f.factor == "country")


def test_grey_list_country_and_high_volume_together_are_high() -> None:
    assert assess(individual(volume="80000", nationality="NG")).level == "high"


def test_listed_person_is_high_whatever_else() -> None:
    result = assess(individual(volume="100"), HIT)

    assert result.level == "high"
    assert result.score >= WEIGHTS.high_from
    assert "screening hit" in result.explanation


def test_politically_exposed_person_needs_senior_approval() -> None:
    assert assess(individual(), ScreeningSummary(pep=True)).level == "high"
    assert assess(individual(pep=True)).level == "high"


def test_german_software_business_with_two_owners_is_low_without_hits() -> None:
    result = assess(business())

    assert result.level == "low"
    assert factor(result, "industry") == 0
    assert factor(result, "ownership") == 0


def test_german_software_business_with_a_hit_is_high() -> None:
    assert assess(business(), HIT).level == "high"


def test_prohibited_country_forces_high_with_the_reason() -> None:
    owner = person("Ali Example", nationality="IR", ownership_percent=Decimal(30))
    result = assess(business(owners=[owner]))

    assert result.level == "high"
    assert "prohibited country" in result.explanation


def test_gambling_business_is_at_least_medium() -> None:
    result = assess(business(industry_code="92.00"))

    assert factor(result, "industry") >= 80
    assert result.level == "medium"


def test_ownership_complexity_grows_with_layers_and_unknown_shares() -> None:
    simple = factor(assess(business()), "ownership")
    layered = factor(assess(business(ownership_layers=3)), "ownership")
    minority = person("Jane Roe", ownership_percent=Decimal(20))
    unknown = factor(assess(business(owners=[minority])), "ownership")
    nobody = factor(assess(business(owners=[])), "ownership")

    assert simple == 0
    assert layered > simple
    assert unknown > simple
    assert nobody > unknown


@pytest.mark.parametrize(
    ("volume", "currency", "score"),
    [("9000", "EUR", 0), ("20000", "EUR", 50), ("60000", "EUR", 100), ("20000", "USD", 50)],
)
def test_individual_volume_bands(volume: str, currency: str, score: int) -> None:
    assert factor(assess(individual(volume=volume, currency=currency)), "volume") == score


def test_business_volume_bands_are_wider_than_individual_ones() -> None:
    assert factor(assess(business(volume="200000")), "volume") == 0
    assert factor(assess(business(volume="500000")), "volume") == 50
    assert factor(assess(business(volume="3000000")), "volume") == 100


def test_weak_currency_is_converted_before_banding() -> None:
    # 300,000 JPY is about 1,800 EUR: an ordinary salary account.
    assert factor(assess(individual(volume="300000", currency="JPY")), "volume") == 0


def test_unlisted_currency_is_taken_at_face_value_and_said_so() -> None:
    result = assess(individual(volume="20000", currency="MXN"))

    assert factor(result, "volume") == 50
    assert "face value" in next(f.explanation for f in result.factors if f.factor == "volume")


def test_total_is_the_weighted_mean_of_the_applicable_factors() -> None:
    result = assess(business(volume="500000", ownership_layers=2))

    applicable = [f for f in result.factors if f.weight]
    expected = sum(f.score * f.weight for f in applicable) / sum(f.weight for f in applicable)
    assert result.score == round(expected)
    assert sum(f.contribution for f in result.factors) == pytest.approx(expected, abs=0.05)


def test_individual_does_not_count_industry_or_ownership() -> None:
    result = assess(individual())

    assert {f.factor for f in result.factors if f.weight == 0} == {"industry", "ownership"}


def test_weights_change_the_outcome() -> None:
    application = individual(volume="80000")
    volume_heavy = RiskWeights(volume_weight=60)

    assert assess_risk(application, CLEAN, volume_heavy).score > assess(application).score


def test_documents_needing_a_look_make_it_at_least_medium() -> None:
    assert assess(individual(), documents_verdict="refer").level == "medium"
    assert assess(individual(), documents_verdict="reject").level == "high"


def test_assessment_is_deterministic() -> None:
    application = business(volume="500000", ownership_layers=3)

    assert assess(application, HIT) == assess(application, HIT)
