"""Every configuration document that maker-checker governs, by key.

A key's values are validated by its pydantic model; defaults apply until a first version
is approved. Workflows read a version through an activity and record which one they used.
"""

from __future__ import annotations

from pydantic import BaseModel

from aml.policy import AmlCasePolicy
from aml.rule_policy import RULE_CONFIG_LABELS, RULE_CONFIG_SCHEMAS
from disputes.policy import DisputePolicy
from identity.policy import AccessPolicy, SsoGroupMapping
from onboarding.policy import OnboardingPolicy, RiskWeights
from reconciliation.policy import ReconciliationPolicy
from screening.policy import ScreeningConfig

CONFIG_SCHEMAS: dict[str, type[BaseModel]] = {
    "screening": ScreeningConfig,
    "risk_weights": RiskWeights,
    "onboarding": OnboardingPolicy,
    "aml_case": AmlCasePolicy,
    "disputes": DisputePolicy,
    "reconciliation": ReconciliationPolicy,
    "access": AccessPolicy,
    "sso_groups": SsoGroupMapping,
    **RULE_CONFIG_SCHEMAS,  # one document per monitoring rule: aml_rule_<name>
}
CONFIG_LABELS: dict[str, str] = {
    "screening": "Screening thresholds",
    "risk_weights": "Risk scoring weights",
    "onboarding": "Onboarding policy",
    "aml_case": "AML case SLAs and SAR deadline",
    "disputes": "Disputes: filing window, provisional credit, scheme deadlines",
    "reconciliation": "Reconciliation: matching windows, known fees, break SLAs, write-off threshold",
    "access": "Access: conflicting roles, second factor, step-up, access reviews",
    "sso_groups": "Single sign-on: identity-provider groups and the roles they give",
    **RULE_CONFIG_LABELS,
}
