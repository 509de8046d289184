"""What every workflow shares: search attributes, activity defaults, deterministic task ids.

Deterministic code only: this module is imported inside the workflow sandbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import NotRequired, TypedDict

from temporalio.common import RetryPolicy, SearchAttributeKey

from models.workflow_io import TaskSpec

# Ids and categories only: search attributes are not encrypted, so no personal data here.
CASE_ID = SearchAttributeKey.for_keyword("CaseId")
CASE_TYPE = SearchAttributeKey.for_keyword("CaseType")
CASE_STATUS = SearchAttributeKey.for_keyword("CaseStatus")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
RISK_LEVEL = SearchAttributeKey.for_keyword("RiskLevel")

SEARCH_ATTRIBUTES = (CASE_ID, CASE_TYPE, CASE_STATUS, CUSTOMER_ID, RISK_LEVEL)

# Activities here are short database transactions. They retry with backoff (a restarted
# PostgreSQL is an outage, not a failure) and give up only on business refusals, which
# are raised as non-retryable ApplicationErrors.
DB_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)


class ActivityOptions(TypedDict):
    start_to_close_timeout: timedelta
    schedule_to_close_timeout: timedelta
    retry_policy: RetryPolicy
    # Long activities prove they are alive by heartbeating at least this often.
    heartbeat_timeout: NotRequired[timedelta]


DB_ACTIVITY = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(hours=1),
    retry_policy=DB_RETRY,
)
# A decision answers a person who is waiting: fail fast rather than hang their request.
INTERACTIVE_ACTIVITY = ActivityOptions(
    start_to_close_timeout=timedelta(seconds=10),
    schedule_to_close_timeout=timedelta(seconds=50),
    retry_policy=DB_RETRY,
)

_TASK_NAMESPACE = uuid.UUID("6f1c8f5e-2f0b-4d7e-9a51-3c1d2b7a9e40")


def task_id_for(workflow_id: str, task_key: str) -> uuid.UUID:
    """A task's id follows from its workflow and key, so re-creating it is a no-op."""
    return uuid.uuid5(_TASK_NAMESPACE, f"{workflow_id}/{task_key}")


@dataclass(frozen=True)
class HumanStep:
    """A kind of human step: its task kind, who takes it, and what they may decide."""

    kind: str
    role: str
    label: str
    outcomes: tuple[str, ...]
    reason_required_for: tuple[str, ...] = ()

    def spec(
        self,
        workflow_id: str,
        task_key: str,
        reference: str,
        *,
        sla_seconds: int,
        priority: str = "normal",
        excluded: Iterable[uuid.UUID] = (),
    ) -> TaskSpec:
        """The task of this step in one workflow (its id follows from the key)."""
        return TaskSpec(
            task_id=task_id_for(workflow_id, task_key),
            task_key=task_key,
            kind=self.kind,
            title=f"{self.label} {reference}",
            candidate_role=self.role,
            allowed_outcomes=list(self.outcomes),
            reason_required_for=list(self.reason_required_for),
            excluded_actors=list(dict.fromkeys(excluded)),
            sla_seconds=sla_seconds,
            priority=priority,
        )
