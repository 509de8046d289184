"""Days as the pages filter by them: UTC calendar days, both ends of a range included."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`): the two days and all between."""
    return day_start(first), day_start(last + timedelta(days=1))


def within_days(column: Any, first: date | None, last: date | None) -> list[Any]:
    """SQL conditions keeping `column` (a timestamp) within the days given (either optional)."""
    conditions = []
    if first:
        conditions.append(column >= day_start(first))
    if last:
        conditions.append(column < day_start(last + timedelta(days=1)))
    return conditions


def relative(moment: datetime | None, now: datetime, *, none: str = "—") -> str:
    """How far `moment` is from `now`, as pages and the status checks say it: "5 s ago",
    "in 12 min", "30 h ago", "3 d ago" (`none` when there is no moment)."""
    if moment is None:
        return none
    seconds = int((moment - now).total_seconds())
    past = seconds < 0
    seconds = abs(seconds)
    if seconds < 90:
        span = f"{seconds} s"
    elif seconds < 90 * 60:
        span = f"{seconds // 60} min"
    elif seconds < 48 * 3600:
        span = f"{seconds // 3600} h"
    else:
        span = f"{seconds // 86400} d"
    return f"{span} ago" if past else f"in {span}"
