"""Network typologies as configuration: the maker-checker document `aml_network`.

One document holds every typology of money moving between our own accounts (round trips,
fan-out, fan-in, scatter-gather, gather-scatter, bipartite and stacked flows, layering
chains, funnel accounts). Each typology has the same settings, flat so the settings page
edits them like any other document: `<typology>_enabled`, `_mode` (live | shadow),
`_shadow_days`, `_window_days` (or `_window_hours` for the fast ones), `_min_accounts`,
`_tolerance_percent`, `_min_amount_eur` (0 allowed: no floor), `_severity` and `_score`.

A typology in shadow records its alerts as shadow alerts (stored, never routed) until
`shadow_days` after its version was approved; `shadow_days` 0 keeps it in shadow until a
new version puts it live.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

CONFIG_KEY = "aml_network"
CONFIG_LABEL = "AML network typologies: round trips, fan-out/in, layering, funnels"

Mode = Literal["live", "shadow"]
Severity = Literal["low", "medium", "high"]


@dataclass(frozen=True)
class TypologySpec:
    """A typology's words and defaults (window in days, or in hours when `hours`)."""

    name: str
    title: str  # as an alert names it
    accounts_means: str  # what min_accounts counts
    tolerance_means: str
    window: int
    min_accounts: int
    tolerance: int
    min_amount: int
    severity: Severity
    score: int
    hours: bool = False
    max_accounts: int = 50


TYPOLOGIES: tuple[TypologySpec, ...] = (
    TypologySpec(
        "round_trip", "Round trip",
        "accounts in the cycle (2 to 6)",
        "how far the smallest leg may fall below the largest, in percent",
        window=30, min_accounts=3, tolerance=25, min_amount=500, severity="high", score=80,
        max_accounts=6,
    ),
    TypologySpec(
        "fan_out", "Fan-out",
        "distinct accounts of ours one account paid",
        "not used",
        window=10, min_accounts=5, tolerance=0, min_amount=500, severity="medium", score=50,
    ),
    TypologySpec(
        "fan_in", "Fan-in",
        "distinct accounts of ours that paid one account",
        "not used",
        window=120, min_accounts=5, tolerance=0, min_amount=250, severity="medium", score=50,
    ),
    TypologySpec(
        "scatter_gather", "Scatter-gather",
        "intermediate accounts between one sender and one receiver",
        "how far what reached the receiver may fall below what left the sender, in percent",
        window=30, min_accounts=3, tolerance=30, min_amount=300, severity="high", score=70,
    ),
    TypologySpec(
        "gather_scatter", "Gather-scatter",
        "accounts paying into the hub, and accounts it paid on (each side)",
        "how far what the hub paid on may fall below what it gathered, in percent",
        window=30, min_accounts=3, tolerance=50, min_amount=300, severity="high", score=70,
    ),
    TypologySpec(
        "bipartite", "Bipartite flow",
        "senders and receivers all trading with each other (each side)",
        "not used",
        window=30, min_accounts=2, tolerance=0, min_amount=300, severity="medium", score=60,
    ),
    TypologySpec(
        "stack", "Stacked flow",
        "accounts in each of three layers",
        "not used",
        window=30, min_accounts=2, tolerance=0, min_amount=500, severity="high", score=70,
    ),
    TypologySpec(
        "chain", "Layering chain",
        "accounts the money passed through",
        "how far a leg may fall below the one before it, in percent",
        window=96, min_accounts=4, tolerance=20, min_amount=300, severity="high", score=70,
        hours=True,
    ),
    TypologySpec(
        "funnel", "Funnel account",
        "cash deposits before the wire out",
        "how far the wire out may fall below the cash deposited, in percent",
        window=72, min_accounts=4, tolerance=30, min_amount=2_000, severity="high", score=70,
        hours=True,
    ),
)  # fmt: skip
SPECS: dict[str, TypologySpec] = {spec.name: spec for spec in TYPOLOGIES}


RULE_PREFIX = "network_"


def rule_key(typology: str) -> str:
    """The alert's rule key: `network_round_trip`."""
    return f"{RULE_PREFIX}{typology}"


def _fields(spec: TypologySpec) -> dict[str, Any]:
    n, t = spec.name, spec.title
    unit = "window_hours" if spec.hours else "window_days"
    window_max = 720 if spec.hours else 365
    return {
        f"{n}_enabled": (bool, Field(default=True, description=f"{t}: whether it runs.")),
        f"{n}_mode": (
            Mode,
            Field(default="live", description=f"{t}: live (alerts go to cases) or shadow."),
        ),
        f"{n}_shadow_days": (
            int,
            Field(
                default=0,
                ge=0,
                le=365,
                description=f"{t}: days in shadow after approval (0: until put live).",
            ),
        ),
        f"{n}_{unit}": (
            int,
            Field(
                default=spec.window,
                ge=1,
                le=window_max,
                description=f"{t}: {'hours' if spec.hours else 'days'} the pattern may span.",
            ),
        ),
        f"{n}_min_accounts": (
            int,
            Field(
                default=spec.min_accounts,
                ge=2,
                le=spec.max_accounts,
                description=f"{t}: fewest {spec.accounts_means}.",
            ),
        ),
        f"{n}_tolerance_percent": (
            int,
            Field(
                default=spec.tolerance, ge=0, le=100, description=f"{t}: {spec.tolerance_means}."
            ),
        ),
        f"{n}_min_amount_eur": (
            int,
            Field(
                default=spec.min_amount,
                ge=0,
                le=10_000_000,
                description=f"{t}: smallest amount per leg counted (EUR; 0: no floor).",
            ),
        ),
        f"{n}_severity": (
            Severity,
            Field(default=spec.severity, description=f"{t}: low, medium or high."),
        ),
        f"{n}_score": (
            int,
            Field(default=spec.score, ge=0, le=100, description=f"{t}: score (0-100)."),
        ),
    }


_ALL_FIELDS: dict[str, Any] = {}
for _spec in TYPOLOGIES:
    _ALL_FIELDS.update(_fields(_spec))

_ALL_FIELDS["round_trip_ping_pong"] = (
    bool,
    Field(
        default=True,
        description=(
            "Round trip: two accounts passing the same money back and forth (three legs) "
            "count even when min_accounts is above 2."
        ),
    ),
)
_ALL_FIELDS["fan_in_min_repeat_senders"] = (
    int,
    Field(
        default=3,
        ge=0,
        le=50,
        description=(
            "Fan-in: also raised when this many distinct accounts each paid the receiver at "
            "least twice in the window: the small, slow fan-in (0: off)."
        ),
    ),
)
_ALL_FIELDS["fan_in_standing_order_percent"] = (
    int,
    Field(
        default=5,
        ge=0,
        le=50,
        description=(
            "Fan-in: a sender whose repeated payments all lie within this percentage of each "
            "other (a rent share, a salary, an allowance) is a standing order and not counted "
            "(0: only identical amounts)."
        ),
    ),
)
_ALL_FIELDS["business_factor"] = (
    int,
    Field(
        default=10,
        ge=1,
        le=20,
        description=(
            "A business customer's account needs this many times the accounts before "
            "fan-out, fan-in and gather-scatter count it (payroll, rents and takings reach "
            "many of our accounts as a matter of course)."
        ),
    ),
)

NetworkPolicy: type[BaseModel] = create_model(
    "NetworkPolicy",
    __config__=ConfigDict(extra="forbid", frozen=True),
    __doc__="Network typologies over money between our own accounts (one document).",
    **_ALL_FIELDS,
)


@dataclass(frozen=True)
class Typology:
    """One typology's settings read from the document."""

    name: str
    enabled: bool
    mode: Mode
    shadow_days: int
    window_seconds: int
    min_accounts: int
    tolerance: float  # a fraction: 0.25
    min_amount_eur: float
    severity: Severity
    score: int
    business_factor: int = 1  # min_accounts multiplier for a business customer's hub
    min_repeat_senders: int = 0  # fan-in: distinct senders paying at least twice (0: off)
    ping_pong: bool = False  # round trip: back and forth between two accounts counts
    standing_order: float = 0.0  # fan-in: repeated amounts within this fraction: not counted

    @property
    def rule(self) -> str:
        return rule_key(self.name)

    @property
    def title(self) -> str:
        return SPECS[self.name].title


def typologies(policy: BaseModel) -> list[Typology]:
    """Every typology's settings, in the document's order."""
    values = policy.model_dump()
    out: list[Typology] = []
    for spec in TYPOLOGIES:
        n = spec.name
        window = values[f"{n}_window_hours"] * 3_600 if spec.hours else 0
        window = window or values.get(f"{n}_window_days", 0) * 86_400
        out.append(
            Typology(
                name=n,
                enabled=values[f"{n}_enabled"],
                mode=values[f"{n}_mode"],
                shadow_days=values[f"{n}_shadow_days"],
                window_seconds=window,
                min_accounts=values[f"{n}_min_accounts"],
                tolerance=values[f"{n}_tolerance_percent"] / 100,
                min_amount_eur=float(values[f"{n}_min_amount_eur"]),
                severity=values[f"{n}_severity"],
                score=values[f"{n}_score"],
                business_factor=values["business_factor"],
                min_repeat_senders=values["fan_in_min_repeat_senders"] if n == "fan_in" else 0,
                ping_pong=n == "round_trip" and values["round_trip_ping_pong"],
                standing_order=values["fan_in_standing_order_percent"] / 100,
            )
        )
    return out


NETWORK_RULE_KEYS: tuple[str, ...] = tuple(rule_key(spec.name) for spec in TYPOLOGIES)
