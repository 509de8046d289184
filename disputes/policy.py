"""The disputes policy: filing window, provisional-credit threshold, SLAs and scheme windows.

A maker-checker configuration document (`disputes`); a dispute runs under the version that
was current when it opened.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field


class DisputePolicy(BaseModel):
    filing_window_days: Annotated[int, Field(ge=1, le=540)] = Field(
        120, description="Days after the transaction's booking within which it may be disputed"
    )
    provisional_credit_threshold_eur: Annotated[int, Field(ge=0, le=1_000_000)] = Field(
        100,
        description="Disputed amounts under this many EUR get provisional credit at once; "
        "from this amount up a disputes agent decides",
    )
    provisional_credit_sla_hours: Annotated[int, Field(ge=1, le=720)] = Field(
        24, description="Hours an agent has to decide provisional credit before it escalates"
    )
    evidence_sla_hours: Annotated[int, Field(ge=1, le=720)] = Field(
        72, description="Hours an agent has to gather evidence and submit before it escalates"
    )
    merchant_response_days: Annotated[int, Field(ge=1, le=120)] = Field(
        45, description="Days the merchant has to answer a chargeback; silence wins the dispute"
    )
    representment_review_sla_hours: Annotated[int, Field(ge=1, le=720)] = Field(
        72, description="Hours an agent has to review a representment before it escalates"
    )
    pre_arbitration_filing_days: Annotated[int, Field(ge=1, le=90)] = Field(
        30, description="Days after a representment within which we must accept or pre-arbitrate"
    )
    pre_arbitration_response_days: Annotated[int, Field(ge=1, le=90)] = Field(
        30, description="Days the merchant has to answer pre-arbitration; silence wins"
    )
    deadline_warning_days: Annotated[int, Field(ge=1, le=30)] = Field(
        5, description="Days before one of our scheme deadlines that the dispute turns urgent"
    )
