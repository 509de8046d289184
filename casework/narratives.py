"""What a decision must say: the reason codes each outcome takes, and how long its comment or
rationale must be (pure, sandbox-safe: no I/O).

One rule set for every door. The decision choke point (`casework.tasks.decide_task`, behind the
case page's form and the JSON API) calls `narrative_problems` before anything is sent, and
every workflow's `decide` validator (`workflows.review.ReviewSteps.validate`) calls it again,
so a decision sent straight to Temporal meets the same rules and a refusal leaves no history.

- The MLRO's SAR decision takes only SAR reasons and the no-SAR decision only no-SAR reasons;
  both need a rationale of at least 30 characters.
- Every escalation (L1 to L2, L2 to the MLRO) needs a comment of at least 20 characters.
- Every approval of a high-risk KYC/KYB application (analyst and senior) needs a comment of
  at least 20 characters.
- A screening hit is confirmed only with a confirming reason and dismissed only with a
  dismissing one; AML closures, closure rejections, KYC rejections and requests for
  information take only their own reasons.

Lengths count the text without its leading and trailing whitespace.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aml.rules import REASONS_BY_KIND as AML_REASONS
from onboarding.rules import REASONS_BY_KIND as ONBOARDING_REASONS

RATIONALE_MIN = 30
COMMENT_MIN = 20
# The refusal's type, in the API's error body and in the workflow validator's ApplicationError.
NARRATIVE_INVALID = "narrative_invalid"

# How a refusal names an outcome ("not a reason to file a SAR").
OUTCOME_PHRASES = {
    "sar": "file a SAR",
    "no_sar": "decide no SAR",
    "close": "close the case",
    "escalate": "escalate",
    "approve": "approve",
    "reject": "reject",
    "request_info": "request information",
    "confirm_match": "confirm the match",
    "false_positive": "dismiss the hit as a false positive",
}


@dataclass(frozen=True)
class Narrative:
    """What one kind of task's decisions must say."""

    # outcome -> the reason codes it takes (code -> label); an outcome not listed takes none.
    reasons: Mapping[str, Mapping[str, str]]
    # outcome -> the shortest comment it takes, always / only when the case is high risk.
    comment_min: Mapping[str, int] = field(default_factory=dict)
    high_risk_comment_min: Mapping[str, int] = field(default_factory=dict)
    # What the comment is called on this step ("rationale" for the SAR decision).
    comment_name: str = "comment"

    def min_comment(self, outcome: str, *, high_risk: bool) -> int:
        always = self.comment_min.get(outcome, 0)
        return max(always, self.high_risk_comment_min.get(outcome, 0) if high_risk else 0)


def _aml_tier(kind: str) -> Narrative:
    return Narrative(reasons=AML_REASONS[kind], comment_min={"escalate": COMMENT_MIN})


def _kyc_review(kind: str) -> Narrative:
    return Narrative(
        reasons=ONBOARDING_REASONS[kind], high_risk_comment_min={"approve": COMMENT_MIN}
    )


NARRATIVES: dict[str, Narrative] = {
    "aml_l1_review": _aml_tier("aml_l1_review"),
    "aml_l2_review": _aml_tier("aml_l2_review"),
    "aml_closure_approval": Narrative(reasons=AML_REASONS["aml_closure_approval"]),
    "aml_mlro_decision": Narrative(
        reasons=AML_REASONS["aml_mlro_decision"],
        comment_min={"sar": RATIONALE_MIN, "no_sar": RATIONALE_MIN},
        comment_name="rationale",
    ),
    "kyc_review": _kyc_review("kyc_review"),
    "kyc_senior_review": _kyc_review("kyc_senior_review"),
    "screening_alert_review": Narrative(reasons=ONBOARDING_REASONS["screening_alert_review"]),
}


def narrative_problems(
    kind: str,
    outcome: str,
    reason_code: str | None,
    comment: str | None,
    *,
    high_risk: bool = False,
) -> dict[str, str]:
    """What is wrong with what a decision says, per request field (`reason`, `comment`);
    empty when nothing is (and always for task kinds without narrative rules)."""
    rule = NARRATIVES.get(kind)
    if rule is None:
        return {}
    problems: dict[str, str] = {}
    doing = OUTCOME_PHRASES.get(outcome, outcome)
    reason = (reason_code or "").strip()
    accepted = rule.reasons.get(outcome, {})
    if reason and reason not in accepted:
        if not accepted:
            problems["reason"] = f"No reason code is taken to {doing} (got {reason!r})."
        else:
            others = [o for o, codes in rule.reasons.items() if o != outcome and reason in codes]
            why = (
                f"{reason!r} is a reason to {OUTCOME_PHRASES.get(others[0], others[0])}, "
                f"not to {doing}"
                if others
                else f"{reason!r} is not a reason to {doing}"
            )
            problems["reason"] = f"{why}; choose one of: {', '.join(accepted)}."
    shortest = rule.min_comment(outcome, high_risk=high_risk)
    given = len((comment or "").strip())
    if given < shortest:
        when = " on a high-risk application" if shortest > rule.comment_min.get(outcome, 0) else ""
        problems["comment"] = (
            f"The {rule.comment_name} needs at least {shortest} characters to {doing}{when} "
            f"({given} given): say why."
        )
    return problems


def narrative_message(problems: Mapping[str, str]) -> str:
    """One sentence naming every field at fault, for refusals that carry no field map."""
    return "The decision is incomplete — " + "; ".join(
        f"{name}: {message}" for name, message in problems.items()
    )


def comment_requirement(kind: str, outcome: str, *, high_risk: bool) -> int:
    """The shortest comment (or rationale) this outcome takes on this task; 0 for none."""
    rule = NARRATIVES.get(kind)
    return rule.min_comment(outcome, high_risk=high_risk) if rule else 0
