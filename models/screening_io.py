"""Workflow inputs and results of delta re-screening and whitelisting (ids and counts only:
no names of people go into a workflow history)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from models.onboarding_io import ScreeningAlertRef


class WhitelistInput(BaseModel):
    """Propose (the analyst who dismissed the hit) or decide (a second analyst) the
    whitelisting of an alert's hits."""

    case_id: uuid.UUID
    customer_id: uuid.UUID
    workflow_id: str
    actor_id: uuid.UUID
    approve: bool | None = None  # None: propose


class DeltaRescreenInput(BaseModel):
    version_id: int  # the list version just imported
    batch_size: int = 500


class DeltaPlan(BaseModel):
    """What a new list version changed against the list's previous version."""

    list_version: str  # "UN-SC 2026-02-27"
    previous_version: str | None = None
    added: int = 0
    changed: int = 0
    removed: int = 0
    hits_lapsed: int = 0  # hits on removed entries, lapsed (each audited)


class DeltaBatchInput(BaseModel):
    workflow_id: str
    version_id: int
    after_customer_id: uuid.UUID | None = None
    batch_size: int = 500


class DeltaBatchResult(BaseModel):
    list_version: str | None  # every version screened against
    considered_customers: int  # customers in the page
    screened_customers: int  # of them, those the added or changed entries can touch
    last_customer_id: uuid.UUID | None = None
    alerts: list[ScreeningAlertRef] = Field(default_factory=list)


class DeltaRescreenSummary(BaseModel):
    list_version: str | None = None  # the new version
    screened_against: str | None = None  # every version screened against
    previous_version: str | None = None
    added: int = 0
    changed: int = 0
    removed: int = 0
    customers: int = 0  # M: every customer considered
    screened_customers: int = 0  # N: re-screened (the added/changed entries can touch them)
    alerts_opened: int = 0
    hits_lapsed: int = 0

    @property
    def text(self) -> str:
        return (
            f"{self.list_version}: +{self.added} ~{self.changed} -{self.removed} entries; "
            f"re-screened {self.screened_customers} of {self.customers} customers, "
            f"{self.alerts_opened} alerts opened, {self.hits_lapsed} hits lapsed"
        )
