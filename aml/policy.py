"""The AML case policy: tier SLAs and the regulatory SAR clock, a maker-checker config document."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field


class AmlCasePolicy(BaseModel):
    l1_sla_hours: Annotated[int, Field(ge=1, le=720)] = Field(
        24, description="Hours an L1 analyst has before the case escalates to L2 by itself"
    )
    l2_sla_hours: Annotated[int, Field(ge=1, le=2160)] = Field(
        120,
        description="Hours an L2 investigator has before the task escalates (priority, MLRO told)",
    )
    closure_approval_sla_hours: Annotated[int, Field(ge=1, le=720)] = Field(
        24, description="Hours the second L2 has to approve a closure before it escalates"
    )
    mlro_sla_hours: Annotated[int, Field(ge=1, le=720)] = Field(
        72, description="Hours the MLRO has for the SAR decision before the task escalates"
    )
    sar_deadline_days: Annotated[int, Field(ge=1, le=90)] = Field(
        30, description="Days from detection by which the SAR decision is due (regulatory)"
    )
    sar_reminder_days: Annotated[int, Field(ge=1, le=60)] = Field(
        7, description="Days before the SAR deadline that the MLRO is reminded"
    )
    l1_minutes_per_alert: Annotated[int, Field(ge=1, le=480)] = Field(
        20,
        description="Minutes an L1 analyst spends on one alert (a rule change's backtest "
        "turns its extra alerts into hours)",
    )
