"""The staff roles and how the pages name them (no table: the Casbin policy, the pages and
the staff tables all read these)."""

from __future__ import annotations

ROLES: tuple[str, ...] = (
    "support",
    "kyc_analyst",
    "kyc_senior",
    "aml_analyst",
    "aml_investigator",
    "mlro",
    "disputes_agent",
    "finance_ops",
    "product_manager",
    "ops_manager",
    "risk_manager",
    "auditor",
    "admin",
    "engineer",
    # A non-human account for upstream systems (core banking, sign-up) calling the API.
    "upstream_system",
    # Team leads (casework/teams.py): assign their team's tasks, see its workload.
    "aml_lead",
    "kyc_lead",
    "disputes_lead",
    "finance_lead",
)

ROLE_LABELS: dict[str, str] = {
    "upstream_system": "Upstream system (service account)",
    "support": "Support agent",
    "kyc_analyst": "KYC analyst",
    "kyc_senior": "KYC senior reviewer",
    "aml_analyst": "AML analyst (L1)",
    "aml_investigator": "AML investigator (L2)",
    "mlro": "MLRO",
    "disputes_agent": "Disputes agent",
    "finance_ops": "Finance operations",
    "product_manager": "Product manager (maker)",
    "ops_manager": "Operations manager (checker)",
    "risk_manager": "Risk manager",
    "auditor": "Auditor (read-only)",
    "admin": "Administrator",
    "engineer": "Engineer (read-only ops)",
    "aml_lead": "AML team lead",
    "kyc_lead": "KYC team lead",
    "disputes_lead": "Disputes team lead",
    "finance_lead": "Finance operations lead",
}
