"""Who reviews an application and with which outcomes (pure, sandbox-safe: no I/O)."""

from __future__ import annotations

import uuid

from casework.registry import CaseType, TaskKind, kind, register
from casework.segregation import KYC_ANALYST_OR_SENIOR
from models.workflow_io import TaskSpec

CASE_TYPE_ONBOARDING = "onboarding"
CASE_TYPE_SCREENING_ALERT = "screening_alert"

REVIEW_OUTCOMES = ["approve", "reject", "request_info"]
# A rejection needs a reason code; so does a request for information (what is missing).
REVIEW_REASON_REQUIRED = ["reject", "request_info"]

REJECT_REASONS: dict[str, str] = {
    "sanctions_match": "Confirmed sanctions match",
    "high_risk_unacceptable": "Risk outside appetite",
    "fraud_suspected": "Fraud or forged documents suspected",
    "documents_invalid": "Documents invalid or inconsistent",
    "prohibited_country": "Prohibited country",
    "ownership_unclear": "Ownership / control not established",
    "other": "Other (explain in the comment)",
}
INFORMATION_REASONS: dict[str, str] = {
    "identity_document": "Valid identity document",
    "proof_of_address": "Proof of address",
    "source_of_funds": "Source of funds / wealth",
    "ownership_structure": "Ownership structure / register extract",
    "other": "Other (explain in the comment)",
}
ALERT_OUTCOMES = ["confirm_match", "false_positive"]
# The second analyst on a dismissal: whitelist the pair, or send the hit back for review.
WHITELIST_OUTCOMES = ["approve_whitelist", "reject_whitelist"]
# A hit is confirmed only for a confirming reason and dismissed only for a dismissing one.
ALERT_CONFIRM_REASONS: dict[str, str] = {
    "same_person": "Same person / entity as listed",
    "identifiers_agree": "Date of birth / identifiers agree with the listing",
    "other": "Other (explain in the comment)",
}
ALERT_DISMISS_REASONS: dict[str, str] = {
    "different_dob": "Different date of birth",
    "different_nationality": "Different nationality",
    "common_name": "Common name, no other agreement",
    "other": "Other (explain in the comment)",
}
# Reason codes each outcome of each task kind takes: the form offers these, and the
# decision rules (casework.narratives) accept only these, for the outcome chosen.
REASONS_BY_KIND: dict[str, dict[str, dict[str, str]]] = {
    "kyc_review": {"reject": REJECT_REASONS, "request_info": INFORMATION_REASONS},
    "kyc_edd_review": {"reject": REJECT_REASONS, "request_info": INFORMATION_REASONS},
    "kyc_senior_review": {"reject": REJECT_REASONS, "request_info": INFORMATION_REASONS},
    "screening_alert_review": {
        "confirm_match": ALERT_CONFIRM_REASONS,
        "false_positive": ALERT_DISMISS_REASONS,
    },
}

STEP_ROLES = {"analyst": "kyc_analyst", "edd": "kyc_analyst", "senior": "kyc_senior"}
STEP_KINDS = {"analyst": "kyc_review", "edd": "kyc_edd_review", "senior": "kyc_senior_review"}

# Enhanced due diligence (a politically exposed person, AMLD art. 20(b)): the analyst
# establishes the source of funds before a senior approves. Codes only: what the analyst
# writes goes in the decision's comment, which the case keeps.
SOURCES_OF_FUNDS: dict[str, str] = {
    "employment": "Salary / employment income",
    "public_office": "Salary of a public office",
    "business": "Business income / dividends",
    "investments": "Investments / savings",
    "inheritance": "Inheritance / gift",
    "property_sale": "Sale of property or assets",
    "pension": "Pension",
    "other": "Other (explain in the note)",
}
FUNDS_EVIDENCE: dict[str, str] = {
    "payslips": "Payslips / employment contract",
    "tax_return": "Tax return",
    "bank_statements": "Bank statements",
    "asset_declaration": "Public asset / interest declaration",
    "sale_contract": "Sale contract / deed",
    "company_accounts": "Company accounts / dividend statements",
    "probate": "Will / probate documents",
    "other": "Other (describe in the note)",
}
EDD_NOTE_MIN = 20  # the note says what was seen and why it explains the funds
EDD_NOTE_MAX = 2000
EDD_APPROVE = "approve"


def source_of_funds_problems(source: object, evidence: object, note: str | None) -> dict[str, str]:
    """What is wrong with a source-of-funds record, per field (empty when nothing is).

    One rule for every door: the form and API (onboarding.commands.edd) and the
    onboarding workflow's update validator (a decision sent around the form)."""
    fields: dict[str, str] = {}
    if not isinstance(source, str) or source not in SOURCES_OF_FUNDS:
        fields["source"] = "Choose where the funds come from."
    items = evidence if isinstance(evidence, list) else []
    if not items:
        fields["evidence"] = "Tick the evidence you saw (at least one)."
    elif any(not isinstance(e, str) or e not in FUNDS_EVIDENCE for e in items):
        fields["evidence"] = "Only the listed kinds of evidence."
    elif len(items) != len(set(items)):
        fields["evidence"] = "Each kind of evidence once."
    text = (note or "").strip()
    if len(text) < EDD_NOTE_MIN:
        fields["note"] = (
            f"Say in at least {EDD_NOTE_MIN} characters what the evidence shows "
            "and why it explains the funds."
        )
    elif len(text) > EDD_NOTE_MAX:
        fields["note"] = f"At most {EDD_NOTE_MAX} characters."
    return fields


HIGH_RISK_COMMENT_MIN = 20  # every approval of a high-risk application says why

register(
    CaseType(
        CASE_TYPE_ONBOARDING,
        "ONB",
        "Onboarding (KYC/KYB)",
        "OnboardingWorkflow",
        kinds=("kyc_review", "kyc_edd_review", "kyc_senior_review"),
    ),
    CaseType(
        CASE_TYPE_SCREENING_ALERT,
        "SCR",
        "Screening alert",
        "ScreeningAlertWorkflow",
        kinds=("screening_alert_review", "screening_whitelist_review"),
    ),
    *(
        TaskKind(
            kind=name,
            role=STEP_ROLES[step],
            label=label,
            outcomes=tuple(REVIEW_OUTCOMES),
            reason_required_for=tuple(REVIEW_REASON_REQUIRED),
            reasons=REASONS_BY_KIND[name],
            inbox_label=inbox_label,
            high_risk_comment_min={"approve": HIGH_RISK_COMMENT_MIN},
            checks_narrative=True,
        )
        for step, name, label, inbox_label in (
            ("analyst", "kyc_review", "KYC review", "KYC review"),
            (
                "edd",
                "kyc_edd_review",
                "Enhanced due diligence",
                "KYC enhanced due diligence (PEP)",
            ),
            (
                "senior",
                "kyc_senior_review",
                "Senior review (four-eyes)",
                "KYC senior review (four-eyes)",
            ),
        )
    ),
    TaskKind(
        kind="screening_alert_review",
        role="kyc_analyst",
        label="Screening hit",
        outcomes=tuple(ALERT_OUTCOMES),
        reason_required_for=tuple(ALERT_OUTCOMES),
        reasons=REASONS_BY_KIND["screening_alert_review"],
        inbox_label="Screening alert",
        priority="high",
        checks_narrative=True,
    ),
    # Four-eyes on whitelisting: dismissing a hit proposes to suppress that entry for that
    # customer; a second analyst (never the one who dismissed it) approves or rejects.
    TaskKind(
        kind="screening_whitelist_review",
        role=KYC_ANALYST_OR_SENIOR,
        label="Whitelist a dismissed hit (four-eyes)",
        outcomes=tuple(WHITELIST_OUTCOMES),
        permission=("screening", "whitelist"),
        inbox_label="Screening whitelisting (four-eyes)",
        priority="high",
    ),
)


def review_spec(
    workflow_id: str,
    reference: str,
    *,
    step: str,
    round_no: int,
    sla_seconds: int,
    excluded: list[uuid.UUID],
    high_risk: bool,
) -> TaskSpec:
    return kind(STEP_KINDS[step]).spec(
        workflow_id,
        f"review-{step}#{round_no}",
        reference,
        sla_seconds=sla_seconds,
        priority="high" if high_risk else "normal",
        excluded=excluded,
    )


def alert_spec(
    workflow_id: str, reference: str, *, sla_seconds: int, round_no: int = 1
) -> TaskSpec:
    return kind("screening_alert_review").spec(
        workflow_id,
        "alert-review" if round_no == 1 else f"alert-review#{round_no}",
        reference,
        sla_seconds=sla_seconds,
        title=f"Screening hit {reference}: confirm or dismiss",
    )


def whitelist_spec(
    workflow_id: str,
    reference: str,
    *,
    sla_seconds: int,
    round_no: int,
    proposer: uuid.UUID,
) -> TaskSpec:
    """The second analyst's step on a dismissal; the one who dismissed it is excluded."""
    return kind("screening_whitelist_review").spec(
        workflow_id,
        f"whitelist-review#{round_no}",
        reference,
        sla_seconds=sla_seconds,
        excluded=[proposer],
        title=f"Screening hit {reference}: approve whitelisting (four-eyes)",
    )
