"""Screening thresholds: configuration changed only through maker-checker (target `screening`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from screening.lists import LISTS


class ListPolicy(BaseModel):
    """Whether one watch list is screened against, and how old its newest version may be
    before compliance is alerted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="The list: " + ", ".join(LISTS) + ".")
    enabled: bool = Field(default=True, description="Screen against this list.")
    max_age_days: int = Field(
        default=7, ge=1, le=3650, description="Alert compliance when the newest version is older."
    )

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in LISTS:
            raise ValueError(f"unknown list {value!r}; known lists: {', '.join(LISTS)}")
        return value


def default_lists() -> tuple[ListPolicy, ...]:
    return tuple(
        ListPolicy(name=w.name, max_age_days=w.default_max_age_days) for w in LISTS.values()
    )


class ScreeningConfig(BaseModel):
    """Scores are 0-100. Defaults are the values the benchmark was tuned with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Chosen on the screening benchmark's tune set (bench/screening.py, `python -m bench
    # --only screening`; curve in bench/screening_tune_curve.txt): the threshold of highest
    # recall at precision >= 0.99 over all four lists and scripts. The eval set checks it.
    hit_threshold: int = Field(
        default=83, ge=50, le=100, description="Lowest final score reported as a hit."
    )
    dob_match_bonus: int = Field(
        default=8, ge=0, le=30, description="Added when a listed date of birth agrees."
    )
    dob_mismatch_penalty: int = Field(
        default=15, ge=0, le=50, description="Subtracted when every listed birth year differs."
    )
    nationality_match_bonus: int = Field(
        default=4, ge=0, le=30, description="Added when a listed nationality / citizenship agrees."
    )
    nationality_mismatch_penalty: int = Field(
        default=6, ge=0, le=50, description="Subtracted when listed nationalities all differ."
    )
    lists: tuple[ListPolicy, ...] = Field(
        default_factory=default_lists,
        description="The watch lists screened against, and each list's maximum age.",
    )

    @field_validator("lists")
    @classmethod
    def _once_each(cls, value: tuple[ListPolicy, ...]) -> tuple[ListPolicy, ...]:
        names = [p.name for p in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"each list once: {', '.join(twice)} appear more than once")
        off = {p.name for p in value if not p.enabled}
        if all(w.name in off for w in LISTS.values() if w.kind == "sanctions"):
            raise ValueError("at least one sanctions list must stay enabled")
        return value

    def enabled_lists(self) -> list[str]:
        """Names of the lists screened against (a list not mentioned is screened)."""
        off = {p.name for p in self.lists if not p.enabled}
        return [name for name in LISTS if name not in off]
