"""Every configuration document that maker-checker governs, by key.

A key's values are validated by its pydantic model; defaults apply until a first version
is approved. Workflows read a version through an activity and record which one they used.
"""

from __future__ import annotations

from pydantic import BaseModel

from aml.expression_policy import ExpressionRule, slug_of
from aml.network_policy import CONFIG_KEY as NETWORK_KEY
from aml.network_policy import CONFIG_LABEL as NETWORK_LABEL
from aml.network_policy import NetworkPolicy
from aml.policy import AmlCasePolicy
from aml.rule_policy import RULE_CONFIG_LABELS, RULE_CONFIG_SCHEMAS
from disputes.policy import DisputePolicy
from identity.policy import AccessPolicy, SsoGroupMapping
from onboarding.policy import OnboardingPolicy, RiskWeights
from reconciliation.policy import ReconciliationPolicy
from screening.policy import ScreeningConfig


class _WithExpressionRules(dict[str, type[BaseModel]]):
    """The fixed documents, plus one `aml_expr_<slug>` per AML rule written without code
    (`aml.expression_policy`): those keys are not listed (iteration yields the fixed ones),
    yet each validates against `ExpressionRule`."""

    def __missing__(self, key: str) -> type[BaseModel]:
        if isinstance(key, str) and slug_of(key) is not None:
            return ExpressionRule
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key) or (isinstance(key, str) and slug_of(key) is not None)

    def get(self, key: str, default: type[BaseModel] | None = None) -> type[BaseModel] | None:  # type: ignore[override]
        return self[key] if key in self else default  # noqa: SIM401 (dict.get skips __missing__)


CONFIG_SCHEMAS: dict[str, type[BaseModel]] = _WithExpressionRules(
    {
        "screening": ScreeningConfig,
        "risk_weights": RiskWeights,
        "onboarding": OnboardingPolicy,
        "aml_case": AmlCasePolicy,
        "disputes": DisputePolicy,
        "reconciliation": ReconciliationPolicy,
        "access": AccessPolicy,
        "sso_groups": SsoGroupMapping,
        **RULE_CONFIG_SCHEMAS,  # one document per monitoring rule: aml_rule_<name>
        NETWORK_KEY: NetworkPolicy,  # the network typologies, one document
    }
)
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
    NETWORK_KEY: NETWORK_LABEL,
}
