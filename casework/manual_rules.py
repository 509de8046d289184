"""Manual cases: the case types a person opens by hand on a customer (pure, no I/O).

Each is run by the generic case workflow's standard steps (casework/generic_case.py):

- **investigation** — compliance (AML analysts, investigators, the MLRO, KYC) opens it on a
  customer when something needs looking into outside an alert; an AML investigator works it,
  the MLRO reviews an escalation. Its words are AML narrative (need-to-know).
- **complaint** — support (or a disputes agent) records a customer's complaint; a disputes
  agent works it, an operations manager reviews an escalation.

Who may open which is the policy's `case:<type>` `open`; who reads it, `case:<type>` `read`.
Why it was opened (a reason code and a description) stays in PostgreSQL (`manual_case`),
never in the workflow's history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from casework.generic_case import standard_case

INVESTIGATION, COMPLAINT = "investigation", "complaint"


@dataclass(frozen=True)
class ManualType:
    name: str
    label: str
    # Why a person opens one: reason code -> label.
    reasons: Mapping[str, str]
    # Whose need-to-know its description is: a permission beyond reading the case, if any.
    words_permission: tuple[str, str] | None = None


MANUAL_TYPES: dict[str, ManualType] = {
    INVESTIGATION: ManualType(
        INVESTIGATION,
        "Investigation",
        {
            "adverse_media": "Adverse media about the customer",
            "unusual_behaviour": "Unusual behaviour seen outside an alert",
            "law_enforcement_request": "Request from law enforcement or a regulator",
            "internal_referral": "Referral from another team",
            "other": "Other (say why in the description)",
        },
        words_permission=("aml_narrative", "read"),
    ),
    COMPLAINT: ManualType(
        COMPLAINT,
        "Complaint",
        {
            "service": "Service or conduct of staff",
            "fees_charges": "Fees or charges",
            "payment_problem": "A payment that failed or went wrong",
            "account_access": "Access to the account or card",
            "other": "Other (say why in the description)",
        },
    ),
}

standard_case(
    INVESTIGATION,
    "INV",
    "Investigation",
    analyst_role="aml_investigator",
    senior_role="mlro",
    work_sla_hours=120,
    senior_sla_hours=48,
)
standard_case(
    COMPLAINT,
    "CMP",
    "Complaint",
    analyst_role="disputes_agent",
    senior_role="ops_manager",
    work_sla_hours=48,
    senior_sla_hours=24,
)
