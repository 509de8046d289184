"""Transaction-monitoring rules as configuration: one maker-checker document per rule.

Each rule `<name>` is the document `aml_rule_<name>`, with its own version history; an
alert records the version it was raised under. Amounts are whole EUR: a transaction in
another currency is converted with the indicative rates of `aml.engines.monitoring`.

The defaults are what a fresh installation starts with (installations already running keep
their versions: changing them is a maker-checker change). They were calibrated on the
labelled book `demo.aml_simulator` tune/seed 1 only (issue 17) so that, together with the
network typologies, the rules flag at most 5 % of accounts at precision 0.5 or better: these
rules look at one account at a time and cannot tell a private-banking client's investment
transfer or a business's payroll run from laundering, so their floors sit above what those
segments do every month. Each Field says why its default is where it is.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aml.expression_policy import RULE_PREFIX
from aml.network_policy import RULE_PREFIX as NETWORK_RULE_PREFIX

CONFIG_PREFIX = "aml_rule_"


class RuleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Whether the rule runs on new transactions.")


class LargeTransactionRule(RuleConfig):
    threshold_eur: int = Field(
        default=50_000,
        ge=1_000,
        le=10_000_000,
        description=(
            "One transaction (in or out) of at least this many EUR raises an alert. Default "
            "50 000: 15 000 is the due-diligence threshold for occasional (walk-in) "
            "transactions, not a sign of suspicion on a known account; investment transfers "
            "and payroll runs exceed it every month."
        ),
    )
    cash_threshold_eur: int = Field(
        default=10_000,
        ge=1_000,
        le=10_000_000,
        description=(
            "The same for a cash deposit or withdrawal (EUR). Default 10 000, the EU cash "
            "threshold: cash leaves no trail, so it keeps the low bar."
        ),
    )
    high_severity_eur: int = Field(
        default=100_000,
        ge=1_000,
        le=100_000_000,
        description="From this many EUR the alert is high severity.",
    )

    @model_validator(mode="after")
    def _high_from_above_threshold(self) -> LargeTransactionRule:
        if self.high_severity_eur < max(self.threshold_eur, self.cash_threshold_eur):
            raise ValueError(
                f"high_severity_eur ({self.high_severity_eur}) must not be below threshold_eur "
                "and cash_threshold_eur"
            )
        return self


class StructuringRule(RuleConfig):
    threshold_eur: int = Field(
        default=10_000,
        ge=1_000,
        le=1_000_000,
        description="The reporting threshold that the cash deposits stay under (EUR).",
    )
    band_percent: int = Field(
        default=10,
        ge=1,
        le=50,
        description="A cash deposit counts when it is at most this percentage under the threshold.",
    )
    min_deposits: int = Field(
        default=3, ge=2, le=20, description="Deposits in the window that raise the alert."
    )
    window_days: int = Field(
        default=5, ge=1, le=30, description="Days within which the deposits are counted."
    )


class VelocityRule(RuleConfig):
    window_hours: int = Field(
        default=24, ge=1, le=168, description="Hours of turnover (in and out) compared."
    )
    baseline_days: int = Field(
        default=90,
        ge=14,
        le=365,
        description="Days before the window whose average daily turnover is the baseline.",
    )
    multiplier: int = Field(
        default=75,
        ge=2,
        le=100,
        description=(
            "Alert when the window's turnover is at least this many times the baseline. "
            "Default 75: a payday, rent day or payroll run moves about a month of turnover "
            "(30 average days) in one day; 75 is two and a half months in a day."
        ),
    )
    min_window_eur: int = Field(
        default=10_000,
        ge=0,
        le=10_000_000,
        description="...and at least this many EUR, so small sums never alert.",
    )
    min_history_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="Days of history an account needs before its baseline is trusted.",
    )

    @model_validator(mode="after")
    def _history_within_baseline(self) -> VelocityRule:
        if self.min_history_days > self.baseline_days:
            raise ValueError(
                f"min_history_days ({self.min_history_days}) must not exceed baseline_days "
                f"({self.baseline_days})"
            )
        return self


class HighRiskCountryRule(RuleConfig):
    min_amount_eur: int = Field(
        default=1_000,
        ge=0,
        le=10_000_000,
        description="Smallest payment to or from a high-risk or prohibited country that alerts (EUR).",
    )
    include_medium_risk: bool = Field(
        default=False,
        description="Also alert on countries of medium risk (recently left the FATF list).",
    )


class RapidMovementRule(RuleConfig):
    window_hours: int = Field(
        default=48, ge=1, le=336, description="Hours within which money comes in and goes out."
    )
    min_in_eur: int = Field(
        default=5_000,
        ge=100,
        le=10_000_000,
        description="Money in during the window must total at least this many EUR.",
    )
    out_percent: int = Field(
        default=80,
        ge=10,
        le=100,
        description="Alert when money out reaches this percentage of the money in.",
    )


class DormantAccountRule(RuleConfig):
    dormant_days: int = Field(
        default=180,
        ge=30,
        le=3_650,
        description="Days without any transaction after which an account counts as dormant.",
    )
    min_amount_eur: int = Field(
        default=1_000,
        ge=0,
        le=10_000_000,
        description="Smallest first transaction after dormancy that alerts (EUR).",
    )


class FanInRule(RuleConfig):
    # Off by default: the network typology fan-in (`aml_network`: months-long window, no
    # floor, senders who are our own customers linked, standing orders left out) supersedes
    # it; on its own this rule flags shops, landlords and gift collections.
    enabled: bool = Field(
        default=False,
        description=(
            "Whether the rule runs on new transactions. Off by default: the network fan-in "
            "(aml_network) watches many senders over months and supersedes it."
        ),
    )
    window_days: int = Field(
        default=7, ge=1, le=90, description="Days within which senders are counted."
    )
    min_senders: int = Field(
        default=10,
        ge=2,
        le=1_000,
        description="Different senders paying into one account that raise the alert.",
    )
    min_total_eur: int = Field(
        default=5_000,
        ge=0,
        le=10_000_000,
        description="...when together they paid in at least this many EUR.",
    )


class NewCounterpartyRule(RuleConfig):
    min_amount_eur: int = Field(
        default=25_000,
        ge=100,
        le=10_000_000,
        description=(
            "Smallest payment to or from a never-seen counterparty that alerts (EUR). Default "
            "25 000, half the large-transaction threshold: an unknown party halves the bar."
        ),
    )
    min_history_days: int = Field(
        default=60,
        ge=0,
        le=365,
        description=(
            "Days of history an account needs first (a new account knows nobody yet). "
            "Default 60: a counterparty paid every month or two has been seen by then."
        ),
    )


class WatchlistCounterpartyRule(RuleConfig):
    min_score: int = Field(
        default=90,
        ge=50,
        le=100,
        description="Lowest watch-list screening score (0-100) of a counterparty name that alerts.",
    )


RULE_SCHEMAS: dict[str, type[RuleConfig]] = {
    "large_transaction": LargeTransactionRule,
    "structuring": StructuringRule,
    "velocity": VelocityRule,
    "high_risk_country": HighRiskCountryRule,
    "rapid_movement": RapidMovementRule,
    "dormant_account": DormantAccountRule,
    "fan_in": FanInRule,
    "new_counterparty": NewCounterpartyRule,
    "watchlist_counterparty": WatchlistCounterpartyRule,
}
RULE_LABELS: dict[str, str] = {
    "large_transaction": "AML rule: large single transaction",
    "structuring": "AML rule: structuring (cash just under a threshold)",
    "velocity": "AML rule: turnover against the account's own baseline",
    "high_risk_country": "AML rule: counterparty in a high-risk country",
    "rapid_movement": "AML rule: funds in and out again quickly",
    "dormant_account": "AML rule: dormant account suddenly active",
    "fan_in": "AML rule: many senders to one account",
    "new_counterparty": "AML rule: new counterparty with a large amount",
    "watchlist_counterparty": "AML rule: counterparty on the watch list",
}


def rule_title(rule: str) -> str:
    """What a rule is called where its alerts are shown: "Large single transaction",
    "Network: round trip", "Written rule: many senders"."""
    label = RULE_LABELS.get(rule)
    if label is None:
        for prefix, family in ((NETWORK_RULE_PREFIX, "Network"), (RULE_PREFIX, "Written rule")):
            if rule.startswith(prefix):
                return f"{family}: {rule.removeprefix(prefix).replace('_', ' ')}"
        return rule.replace("_", " ").capitalize()
    text = label.removeprefix("AML rule: ")
    return text[:1].upper() + text[1:]


def config_key(rule: str) -> str:
    return f"{CONFIG_PREFIX}{rule}"


RULE_CONFIG_SCHEMAS: dict[str, type[BaseModel]] = {
    config_key(rule): schema for rule, schema in RULE_SCHEMAS.items()
}
RULE_CONFIG_LABELS: dict[str, str] = {config_key(rule): RULE_LABELS[rule] for rule in RULE_SCHEMAS}
