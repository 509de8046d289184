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

from casework.catalog import find_kind
from casework.registry import TaskKind

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


def _rule(kind: str) -> TaskKind | None:
    """The kind's declaration, if its decisions follow the narrative rules."""
    entry = find_kind(kind)
    return entry if entry is not None and entry.checks_narrative else None


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
    rule = _rule(kind)
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
    rule = _rule(kind)
    return rule.min_comment(outcome, high_risk=high_risk) if rule else 0
