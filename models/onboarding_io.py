"""Typed inputs and outputs of the onboarding and screening workflows and their activities.

Ids, categories and scores only: workflow histories are readable in the Temporal UI, so
names, birth dates and documents stay in the database and activities load them from there.
Every field added later needs a default.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from models.workflow_io import Origin


class PartyRef(BaseModel):
    party_id: uuid.UUID
    role: str  # applicant | business | director | owner
    kind: str  # person | entity


class OnboardingInput(BaseModel):
    application_id: uuid.UUID
    case_id: uuid.UUID
    reference: str
    kind: str  # individual | business
    parties: list[PartyRef]
    # Whoever submitted the application (a staff member or a service account): never its reviewer.
    submitted_by: uuid.UUID | None = None


class ApplicationStatusInput(BaseModel):
    application_id: uuid.UUID
    case_id: uuid.UUID
    workflow_id: str
    status: str
    stage: str
    route: str | None = None
    information_due_at: datetime | None = None


class PolicyValues(BaseModel):
    """The onboarding policy version a case runs under (read once, at its start)."""

    version: int
    rfi_deadline_days: int
    rfi_reminder_days: int
    review_sla_hours: int
    minimum_age_years: int = 18


class DocumentsOutcome(BaseModel):
    verdict: str  # pass | refer | reject
    reject_code: str | None = None
    summary: str = ""


class CheckDocumentsInput(BaseModel):
    application_id: uuid.UUID
    workflow_id: str
    round: int = 1
    # The policy the case runs under; histories recorded before it was passed read the current one.
    policy: PolicyValues | None = None


class PartyScreeningInput(BaseModel):
    application_id: uuid.UUID
    party_id: uuid.UUID
    context: str = "onboarding"  # onboarding | rescreen
    customer_id: uuid.UUID | None = None


class PartyScreeningOutcome(BaseModel):
    party_id: uuid.UUID
    list_version: str
    hit_count: int
    best_score: float | None = None
    # Listed entries that matched (the list's own ids): re-screening reports only new ones.
    entry_ids: list[int] = Field(default_factory=list)
    # Hits on politically exposed persons lists (topic role.pep), counted apart: a PEP is
    # not a sanctions hit but calls for enhanced due diligence. Entry keys ("PEP-OS:NK-…"),
    # never names. Recorded before PEP lists: 0 / empty (every hit counted in hit_count).
    pep_hits: int = 0
    pep_entry_keys: list[str] = Field(default_factory=list)


class ScoreRiskInput(BaseModel):
    application_id: uuid.UUID
    workflow_id: str
    screening: list[PartyScreeningOutcome]
    documents_verdict: str


class RiskOutcome(BaseModel):
    score: int
    level: str  # low | medium | high
    weights_version: int = 0
    # A politically exposed person is involved: declared by the applicant and/or matched on
    # a PEP list ("declared", "list"). The workflow adds enhanced due diligence for it.
    pep: bool = False
    pep_sources: list[str] = Field(default_factory=list)


class MessageInput(BaseModel):
    application_id: uuid.UUID
    workflow_id: str
    kind: str  # information_request | reminder | outcome
    dedupe_key: str
    subject: str
    body: str


class CloseApplicationInput(BaseModel):
    application_id: uuid.UUID
    case_id: uuid.UUID
    workflow_id: str
    outcome: str  # approved | rejected
    reason_code: str | None = None
    reason: str | None = None
    decided_by: uuid.UUID | None = None


class CloseApplicationResult(BaseModel):
    customer_id: uuid.UUID | None = None
    account_id: uuid.UUID | None = None


class InformationInput(BaseModel):
    """The applicant answered a request for information (sent as an Update).

    Only the submission's key: the documents themselves were stored by the web layer
    (as `pending`) and stay out of the workflow's history.
    """

    submission_key: str
    documents: int = 0
    origin: Origin = Field(default_factory=Origin)
    actor_id: uuid.UUID | None = None
    actor_name: str = "applicant"


class AcceptInformationInput(BaseModel):
    application_id: uuid.UUID
    workflow_id: str
    information: InformationInput


class InformationResult(BaseModel):
    documents_stored: int
    status: str


class OnboardingState(BaseModel):
    """What the `current_state` query returns."""

    status: str
    route: str | None = None
    risk_level: str | None = None
    step: str | None = None
    open_tasks: list[uuid.UUID] = Field(default_factory=list)
    information_due_at: datetime | None = None
    reminders_sent: int = 0
    outcome: str | None = None
    reason_code: str | None = None


# --- re-screening -------------------------------------------------------------------


class RescreenInput(BaseModel):
    batch_size: int = 200
    # Only the customers one import created (their created_at is the import's instant);
    # None: every customer (the schedule's run).
    created_at: datetime | None = None
    # Carried by RescreenWorkflow's continue-as-new: where the last run stopped and its
    # running totals (the whole run's summary, not one Temporal run's).
    after_customer_id: uuid.UUID | None = None
    list_version: str | None = None
    screened_customers: int = 0
    alerts_opened: int = 0
    # Batches per Temporal run before it continues as new (fewer if alerts pile up).
    batches_per_run: int = 100


class RescreenBatchInput(BaseModel):
    workflow_id: str
    after_customer_id: uuid.UUID | None = None
    batch_size: int = 200
    created_at: datetime | None = None


class ScreeningAlertRef(BaseModel):
    case_id: uuid.UUID
    customer_id: uuid.UUID
    workflow_id: str
    reference: str


class RescreenBatchResult(BaseModel):
    list_version: str | None
    screened_customers: int
    last_customer_id: uuid.UUID | None = None
    alerts: list[ScreeningAlertRef] = Field(default_factory=list)


class RescreenSummary(BaseModel):
    list_version: str | None = None
    screened_customers: int = 0
    alerts_opened: int = 0


class ScreeningAlertInput(BaseModel):
    case_id: uuid.UUID
    customer_id: uuid.UUID
    reference: str


class ResolveAlertInput(BaseModel):
    case_id: uuid.UUID
    customer_id: uuid.UUID
    workflow_id: str
    outcome: str  # confirmed_match | false_positive
    reason_code: str | None = None
    comment: str | None = None
    decided_by: uuid.UUID | None = None
