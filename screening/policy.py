"""Screening thresholds: configuration changed only through maker-checker (target `screening`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ScreeningConfig(BaseModel):
    """Scores are 0-100. Defaults are the values the benchmark was tuned with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hit_threshold: int = Field(
        default=85, ge=50, le=100, description="Lowest final score reported as a hit."
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
