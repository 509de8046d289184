"""Who works an AML case at each tier, with which outcomes (pure, sandbox-safe: no I/O).

L1 (aml_analyst) closes with a reason or escalates; L2 (aml_investigator) closes (a second
L2 must approve the closure) or escalates to the MLRO, who decides SAR or no SAR with a
reason and a rationale. Each tier is a step: nobody decides two steps of one case.
"""

from __future__ import annotations

import uuid

from casework.registry import CaseType, TaskKind, kind, register
from models.workflow_io import TaskSpec

CLOSE_REASONS: dict[str, str] = {
    "false_positive": "False positive",
    "explained_activity": "Activity explained (documented)",
    "duplicate": "Duplicate of another alert / case",
}
CLOSURE_REJECT_REASONS: dict[str, str] = {
    "insufficient_investigation": "Investigation insufficient",
    "explanation_not_documented": "Explanation not documented",
    "should_escalate": "Should go to the MLRO",
    "other": "Other (explain in the comment)",
}
SAR_REASONS: dict[str, str] = {
    "structuring": "Structuring / smurfing",
    "unexplained_funds": "Funds of unexplained origin",
    "high_risk_jurisdiction": "High-risk jurisdiction exposure",
    "sanctions_evasion": "Possible sanctions evasion",
    "fraud": "Fraud",
    "terrorist_financing": "Possible terrorist financing",
    "other": "Other (explain in the rationale)",
}
NO_SAR_REASONS: dict[str, str] = {
    "activity_explained": "Activity explained and documented",
    "insufficient_grounds": "No reasonable grounds for suspicion",
    "already_reported": "Already reported",
    "other": "Other (explain in the rationale)",
}
# What each outcome does to the case when it ends it.
CLOSE_OUTCOMES = {code: f"closed_{code}" for code in CLOSE_REASONS}

REASONS_BY_KIND: dict[str, dict[str, dict[str, str]]] = {
    "aml_l1_review": {"close": CLOSE_REASONS},
    "aml_l2_review": {"close": CLOSE_REASONS},
    "aml_closure_approval": {"reject": CLOSURE_REJECT_REASONS},
    "aml_mlro_decision": {"sar": SAR_REASONS, "no_sar": NO_SAR_REASONS},
}

COMMENT_MIN = 20  # every escalation says why
RATIONALE_MIN = 30  # the MLRO's SAR decision, either way

TIER_STEPS = {
    "l1": ("l1", "aml_l1_review", "aml_analyst", "L1 triage"),
    "l2": ("l2", "aml_l2_review", "aml_investigator", "L2 investigation"),
    "closure_approval": (
        "l2-closure",
        "aml_closure_approval",
        "aml_investigator",
        "Closure approval (second L2)",
    ),
    "mlro": ("mlro", "aml_mlro_decision", "mlro", "SAR decision"),
}
TIER_OUTCOMES = {
    "l1": (["close", "escalate"], ["close"]),
    "l2": (["close", "escalate"], ["close"]),
    "closure_approval": (["approve", "reject"], ["reject"]),
    "mlro": (["sar", "no_sar"], ["sar", "no_sar"]),
}
TIER_LABELS = {tier: label for tier, (_, _, _, label) in TIER_STEPS.items()}
INBOX_LABELS = {
    "aml_l1_review": "AML alert triage (L1)",
    "aml_l2_review": "AML investigation (L2)",
    "aml_closure_approval": "AML closure approval (second L2)",
    "aml_mlro_decision": "SAR decision (MLRO)",
}
COMMENTS = {
    "aml_l1_review": {"escalate": COMMENT_MIN},
    "aml_l2_review": {"escalate": COMMENT_MIN},
    "aml_mlro_decision": {"sar": RATIONALE_MIN, "no_sar": RATIONALE_MIN},
}

register(
    CaseType("aml", "AML", "AML case", "AmlCaseWorkflow", kinds=tuple(INBOX_LABELS)),
    *(
        TaskKind(
            kind=k,
            role=role,
            label=label,
            outcomes=tuple(TIER_OUTCOMES[tier][0]),
            reason_required_for=tuple(TIER_OUTCOMES[tier][1]),
            reasons=REASONS_BY_KIND[k],
            inbox_label=INBOX_LABELS[k],
            comment_min=COMMENTS.get(k, {}),
            comment_name="rationale" if k == "aml_mlro_decision" else "comment",
            checks_narrative=True,
            # The SAR decision, either way, needs a fresh second factor (identity.mfa).
            step_up_for=("sar", "no_sar") if k == "aml_mlro_decision" else (),
        )
        for tier, (_, k, role, label) in TIER_STEPS.items()
    ),
)


def tier_spec(
    workflow_id: str,
    reference: str,
    *,
    tier: str,
    round_no: int,
    sla_seconds: int,
    priority: str,
    excluded: list[uuid.UUID] | None = None,
) -> TaskSpec:
    step, name, _, _ = TIER_STEPS[tier]
    return kind(name).spec(
        workflow_id,
        f"{step}#{round_no}",
        reference,
        sla_seconds=sla_seconds,
        priority=priority,
        excluded=excluded or [],
    )
