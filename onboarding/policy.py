"""Onboarding configuration changed only through maker-checker (targets `risk_weights`, `onboarding`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RiskWeights(BaseModel):
    """How much each factor counts. Each factor scores 0-100; the total is their weighted mean."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country_weight: int = Field(default=30, ge=0, le=100, description="Country risk weight.")
    screening_weight: int = Field(
        default=30, ge=0, le=100, description="Sanctions / PEP screening weight."
    )
    industry_weight: int = Field(default=15, ge=0, le=100, description="Industry risk weight.")
    ownership_weight: int = Field(
        default=10, ge=0, le=100, description="Ownership complexity weight."
    )
    volume_weight: int = Field(
        default=15, ge=0, le=100, description="Expected monthly volume weight."
    )
    medium_from: int = Field(
        default=25, ge=1, le=100, description="Score from which risk is medium."
    )
    high_from: int = Field(default=50, ge=1, le=100, description="Score from which risk is high.")

    @model_validator(mode="after")
    def _bands_and_weights_make_sense(self) -> RiskWeights:
        # Messages name the fields: maker-checker reports them against `changes.<field>`.
        if self.medium_from >= self.high_from:
            raise ValueError(
                f"medium_from ({self.medium_from}) must be below high_from ({self.high_from})"
            )
        weights = (
            self.country_weight,
            self.screening_weight,
            self.industry_weight,
            self.ownership_weight,
            self.volume_weight,
        )
        if sum(weights) == 0:
            raise ValueError(
                "at least one weight must be above 0 (country_weight, screening_weight, "
                "industry_weight, ownership_weight, volume_weight)"
            )
        return self


class OnboardingPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rfi_deadline_days: int = Field(
        default=14,
        ge=1,
        le=90,
        description="Days the applicant has to answer a request for information.",
    )
    rfi_reminder_days: int = Field(
        default=5, ge=1, le=30, description="Days between reminders while information is awaited."
    )
    review_sla_hours: int = Field(
        default=24, ge=1, le=720, description="Hours before a stale review escalates."
    )
    minimum_age_years: int = Field(
        default=18, ge=16, le=21, description="Youngest applicant accepted."
    )
