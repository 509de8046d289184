"""The onboarding risk score: a weighted mean of factors, each 0-100 and explained.

The score routes the application (low: automatic approval, medium: an analyst, high: an
analyst and a senior). Some facts are not averaged away, they set a floor:
- a screening hit, a prohibited country, a politically exposed person, or rejected
  documents make it high (a PEP needs senior management approval, AMLD art. 20(b));
- any single factor at 80 or more, or documents that need a look, make it at least medium.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from models.applications import ApplicationCreate, Person
from onboarding.engines.reference_data import country_risk, industry_risk
from onboarding.policy import RiskWeights

LEVEL_SCORE = {"low": 0, "medium": 40, "high": 80, "prohibited": 100}
INDUSTRY_SCORE = {"low": 0, "medium": 50, "high": 90, "prohibited": 100}
SCREENING_HIT_SCORE = 100
PEP_SCORE = 70
# A single factor this bad makes the application at least medium, whatever the average.
RED_FLAG_SCORE = 80

# Rough EUR value of one unit, late 2024. Only to place a stated volume in a band; never for
# booking. A currency not listed is taken at face value, and the explanation says so.
EUR_PER_UNIT: dict[str, Decimal] = {
    "EUR": Decimal("1"),
    "USD": Decimal("0.92"),
    "GBP": Decimal("1.19"),
    "CHF": Decimal("1.06"),
    "JPY": Decimal("0.0061"),
    "CNY": Decimal("0.13"),
    "SEK": Decimal("0.087"),
    "NOK": Decimal("0.085"),
    "DKK": Decimal("0.134"),
    "PLN": Decimal("0.23"),
    "CZK": Decimal("0.040"),
    "HUF": Decimal("0.0025"),
    "CAD": Decimal("0.68"),
    "AUD": Decimal("0.61"),
    "TRY": Decimal("0.027"),
}
# Expected monthly volume in EUR: (medium from, high from), per segment.
VOLUME_BANDS: dict[str, tuple[Decimal, Decimal]] = {
    "individual": (Decimal(10_000), Decimal(50_000)),
    "business": (Decimal(250_000), Decimal(2_000_000)),
}


class PepFinding(BaseModel):
    """Why a person counts as politically exposed: they said so, or a PEP list names them."""

    person: str
    source: Literal["declared", "list"]
    list_name: str | None = None  # "PEP-OS"
    list_label: str | None = None  # "Politically exposed persons (OpenSanctions)"
    list_version: str | None = None
    reference: str | None = None  # the list's own id of the entry
    entry_name: str | None = None  # the listed name that matched
    score: float | None = None

    @property
    def text(self) -> str:
        if self.source == "declared":
            return f"{self.person} declared being a politically exposed person"
        return (
            f"{self.person} matches {self.list_label or self.list_name} entry "
            f"'{self.entry_name}' (score {self.score:.0f}): PEP"
        )


class ScreeningSummary(BaseModel):
    hits: int = 0  # sanctions hits (a PEP list match is not one: see pep_matches)
    best_score: float = 0
    pep: bool = False
    persons_with_hits: list[str] = Field(default_factory=list)
    # Matches on a politically exposed persons list, whatever the applicant declared.
    pep_matches: list[PepFinding] = Field(default_factory=list)


class RiskFactor(BaseModel):
    factor: str
    label: str
    score: int
    weight: int
    contribution: float
    explanation: str


class RiskAssessment(BaseModel):
    score: int
    level: Literal["low", "medium", "high"]
    factors: list[RiskFactor]
    explanation: str
    weights_version: int = 0
    # Every reason a politically exposed person is involved (declared, list matches).
    pep: list[PepFinding] = Field(default_factory=list)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _people(application: ApplicationCreate) -> list[tuple[str, Person]]:
    if application.individual is not None:
        return [("applicant", application.individual)]
    assert application.business is not None
    business = application.business
    return [("director", d) for d in business.directors] + [
        ("beneficial owner", o) for o in business.beneficial_owners
    ]


def _country(application: ApplicationCreate) -> tuple[int, str, bool]:
    """(score, explanation, prohibited) for the worst country anywhere in the application."""
    places: list[tuple[str, str]] = []
    if application.business is not None:
        places.append(
            (f"{application.business.legal_name} is registered in", application.business.country)
        )
    for role, person in _people(application):
        places.append((f"the {role} {person.full_name} is a national of", person.nationality))
        places.append((f"the {role} {person.full_name} lives in", person.country_of_residence))
    worst_score, worst_place = -1, places[0]
    for place in places:
        score = LEVEL_SCORE[country_risk(place[1]).level]
        if score > worst_score:
            worst_score, worst_place = score, place
    risk = country_risk(worst_place[1])
    if risk.level == "low":
        return 0, "No country involved is on a risk list.", False
    level = "prohibited" if risk.level == "prohibited" else f"{risk.level} risk"
    text = f"{_sentence(worst_place[0])} {risk.label}: {level} ({risk.source})."
    return worst_score, text, risk.level == "prohibited"


def pep_findings(application: ApplicationCreate, screening: ScreeningSummary) -> list[PepFinding]:
    """Who is politically exposed and why: declared in the application, matched on a list."""
    declared = [
        PepFinding(person=p.full_name, source="declared") for _, p in _people(application) if p.pep
    ]
    return declared + list(screening.pep_matches)


def _screening(
    application: ApplicationCreate, screening: ScreeningSummary
) -> tuple[int, str, bool]:
    findings = pep_findings(application, screening)
    pep = bool(findings) or screening.pep
    matched = "; ".join(f.text for f in findings if f.source == "list")
    declared = [f.person for f in findings if f.source == "declared"]
    pep_text = ""
    if matched:
        pep_text = f"{_sentence(matched)}."
        if declared:
            pep_text += f" ({', '.join(declared)} declared.)"
    elif pep:
        who = f" ({', '.join(declared)} declared)" if declared else ""
        pep_text = f"A politically exposed person is involved{who}."
    if screening.hits:
        who = ", ".join(screening.persons_with_hits) or "a party"
        text = (
            f"{screening.hits} sanctions/watch-list hit(s) for {who} "
            f"(best match score {screening.best_score:.0f} of 100)."
        )
        return SCREENING_HIT_SCORE, f"{text} {pep_text}".strip(), pep
    if pep:
        # A list match scores as high as a sanctions hit would not: it is not one, but it is
        # a fact the applicant may not have declared.
        return PEP_SCORE, pep_text, True
    return 0, "No screening hits and no politically exposed person.", False


def _industry(application: ApplicationCreate) -> tuple[int, str, str]:
    assert application.business is not None
    risk = industry_risk(application.business.industry_code)
    return INDUSTRY_SCORE[risk.level], f"{risk.label}: {risk.level} risk.", risk.label


def _ownership(application: ApplicationCreate) -> tuple[int, str]:
    assert application.business is not None
    business = application.business
    reasons: list[str] = []
    score = {1: 0, 2: 30, 3: 60}.get(business.ownership_layers, 90)
    if business.ownership_layers > 1:
        reasons.append(f"{business.ownership_layers} layers of legal entities above the business")
    declared = sum((o.ownership_percent for o in business.beneficial_owners), Decimal(0))
    if not business.beneficial_owners:
        score += 60
        reasons.append("no beneficial owner declared")
    elif 100 - declared >= 25:
        # Enough share unaccounted for that an unknown person could hold 25% (AMLD art. 3(6)).
        score += 30
        reasons.append(f"{100 - declared}% of the ownership is not accounted for")
    if len(business.beneficial_owners) > 4:
        score += 10
        reasons.append(f"{len(business.beneficial_owners)} beneficial owners")
    if not reasons:
        n = len(business.beneficial_owners)
        return 0, f"Owned directly by {n} declared beneficial owner(s) holding {declared}%."
    return min(score, 100), _sentence("; ".join(reasons)) + "."


def _segment(application: ApplicationCreate) -> str:
    return "an individual's account" if application.kind == "individual" else "a business account"


def _volume(application: ApplicationCreate) -> tuple[int, str]:
    volume = application.expected_monthly_volume
    if volume is None:
        return 0, "No expected monthly volume stated."
    rate = EUR_PER_UNIT.get(volume.currency)
    eur = volume.amount * (rate if rate is not None else Decimal(1))
    assumed = "" if rate is not None else f" ({volume.currency} taken at face value as EUR)"
    medium_from, high_from = VOLUME_BANDS[application.kind]
    stated = f"{volume.amount:,.2f} {volume.currency}{assumed}, about {eur:,.0f} EUR a month"
    if eur > high_from:
        return 100, f"{stated}: above {high_from:,.0f} EUR, high for {_segment(application)}."
    if eur > medium_from:
        return (
            50,
            f"{stated}: above {medium_from:,.0f} EUR, medium for {_segment(application)}.",
        )
    return 0, f"{stated}: usual for {_segment(application)}."


def assess_risk(
    application: ApplicationCreate,
    screening: ScreeningSummary,
    weights: RiskWeights,
    *,
    documents_verdict: str = "pass",
) -> RiskAssessment:
    """Score the application. Pure: the same inputs give the same assessment."""
    country_score, country_text, prohibited = _country(application)
    screening_score, screening_text, pep = _screening(application, screening)
    volume_score, volume_text = _volume(application)
    rows: list[tuple[str, str, int, int, str]] = [
        ("country", "Country", country_score, weights.country_weight, country_text),
        (
            "screening",
            "Sanctions / PEP screening",
            screening_score,
            weights.screening_weight,
            screening_text,
        ),
    ]
    if application.business is not None:
        industry_score, industry_text, _ = _industry(application)
        ownership_score, ownership_text = _ownership(application)
        rows += [
            ("industry", "Industry", industry_score, weights.industry_weight, industry_text),
            (
                "ownership",
                "Ownership complexity",
                ownership_score,
                weights.ownership_weight,
                ownership_text,
            ),
        ]
    else:
        # An individual has no industry and no ownership chain: those weights do not dilute the rest.
        rows += [
            ("industry", "Industry", 0, 0, "Not applicable to an individual; not counted."),
            (
                "ownership",
                "Ownership complexity",
                0,
                0,
                "Not applicable to an individual; not counted.",
            ),
        ]
    rows.append(
        ("volume", "Expected monthly volume", volume_score, weights.volume_weight, volume_text)
    )

    total_weight = sum(row[3] for row in rows) or 1
    factors = [
        RiskFactor(
            factor=f,
            label=label,
            score=s,
            weight=w,
            contribution=round(s * w / total_weight, 2),
            explanation=text,
        )
        for f, label, s, w, text in rows
    ]
    mean = round(sum(s * w for _, _, s, w, _ in rows) / total_weight)
    score, floors = mean, []
    listed = "; ".join(m.text for m in screening.pep_matches)
    pep_reason = (
        f"a politically exposed person ({listed}; enhanced due diligence and senior "
        "approval required)"
        if listed
        else "a politically exposed person (senior approval required)"
    )
    forced_high = [
        reason
        for reason, applies in (
            ("a screening hit", screening.hits > 0),
            ("a prohibited country", prohibited),
            (pep_reason, pep),
            ("documents rejected", documents_verdict == "reject"),
        )
        if applies
    ]
    if forced_high:
        score = max(score, weights.high_from)
        floors.append(f"High whatever the score, because of {' and '.join(forced_high)}")
    red_flags = [fac.label for fac in factors if fac.score >= RED_FLAG_SCORE]
    at_least_medium = [f"{', '.join(red_flags)} at {RED_FLAG_SCORE} or more"] if red_flags else []
    if documents_verdict == "refer":
        at_least_medium.append("documents need a look")
    if at_least_medium and score < weights.medium_from:
        score = weights.medium_from
        floors.append(f"Raised to medium because of {' and '.join(at_least_medium)}")
    score = min(score, 100)
    level: Literal["low", "medium", "high"] = (
        "high"
        if score >= weights.high_from
        else "medium"
        if score >= weights.medium_from
        else "low"
    )
    drivers = sorted(
        (fac for fac in factors if fac.contribution > 0), key=lambda fac: -fac.contribution
    )
    driven = (
        ", ".join(f"{fac.label} {fac.contribution:g}" for fac in drivers[:3])
        or "no factor above zero"
    )
    explanation = f"Risk {level} ({score}/100). Weighted mean {mean}: {driven}."
    if floors:
        explanation += " " + ". ".join(floors) + "."
    return RiskAssessment(
        score=score,
        level=level,
        factors=factors,
        explanation=explanation,
        pep=pep_findings(application, screening),
    )
