"""A break's age: whole days since it was raised, in the buckets the breaks queue filters on
and the report and a break's case page show.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col

from models.reconciliation import ReconBreak

# Age of a break in whole days since it was raised: bucket -> (first day, last day or None).
AGE_BUCKETS: dict[str, tuple[int, int | None]] = {
    "0-2": (0, 2),
    "3-7": (3, 7),
    "8-30": (8, 30),
    "31+": (31, None),
}
AGE_LABELS = {"0-2": "0-2 days", "3-7": "3-7 days", "8-30": "8-30 days", "31+": "over 30 days"}


def age_bucket(days: int) -> str:
    for bucket, (first, last) in AGE_BUCKETS.items():
        if days >= first and (last is None or days <= last):
            return bucket
    return "0-2"


def age_conditions(bucket: str, now: datetime) -> list[Any]:
    """created_at conditions for a bucket: age in whole days = floor((now - created) / 1 d)."""
    first, last = AGE_BUCKETS[bucket]
    conditions: list[Any] = [col(ReconBreak.created_at) <= now - timedelta(days=first)]
    if last is not None:
        conditions.append(col(ReconBreak.created_at) > now - timedelta(days=last + 1))
    return conditions
