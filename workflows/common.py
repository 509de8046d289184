"""What every workflow shares: activity defaults (timeouts and retries).

Deterministic code only: this module is imported inside the workflow sandbox. What other
code needs too lives below the workflows: the search-attribute keys in
`core.search_attributes`, task ids (`task_id_for`) and kinds of human step (`TaskKind`,
which replaced `HumanStep`) in the kernel's registry `casework.registry`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import NotRequired, TypedDict

from temporalio.common import RetryPolicy

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
