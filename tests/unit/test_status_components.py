"""Pure parts of the status checks: which queues and schedules are looked at, how they read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.client import ScheduleIntervalSpec, ScheduleSpec

from core import status
from core.settings import Settings
from core.worker_presence import BEAT, FRESH_WITHIN, Presence


class _WithCpuQueue(Settings):
    cpu_task_queue: str = "backoffice-cpu"


def test_targets_are_our_queue_any_other_task_queue_setting_and_both_schedules() -> None:
    plain = status.product_targets(Settings(task_queue="backoffice", _env_file=None))  # type: ignore[call-arg]
    assert plain.task_queues == ("backoffice",)
    assert plain.schedule_ids == ("rescreen-customers", "process-watch")
    extra = status.product_targets(_WithCpuQueue(task_queue="backoffice", _env_file=None))  # type: ignore[call-arg]
    assert extra.task_queues == ("backoffice", "backoffice-cpu")


def test_the_worst_state_wins() -> None:
    assert status.worst([]) == "ok"
    assert status.worst(["ok", "degraded", "ok"]) == "degraded"
    assert status.worst(["degraded", "down", "ok"]) == "down"


def test_spans_read_as_people_say_them() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert status.ago(None, now) == "never"
    assert status.ago(now - timedelta(seconds=5), now) == "5 s ago"
    assert status.ago(now + timedelta(minutes=5), now) == "in 5 min"
    assert status.ago(now - timedelta(hours=30), now) == "30 h ago"
    spec = ScheduleSpec(
        intervals=[ScheduleIntervalSpec(every=timedelta(hours=24))], cron_expressions=["0 3 * * *"]
    )
    assert status.describe_spec(spec) == "every 24 h, cron 0 3 * * *"
    week = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=7))])
    assert status.describe_spec(week) == "every 7 d"
    five = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=5))])
    assert status.describe_spec(five) == "every 5 min"


def test_a_worker_is_present_while_it_beats_and_gone_when_silent_or_stopped() -> None:
    started = datetime(2026, 1, 1, 12, tzinfo=UTC)

    def presence(silent: float, stopped: datetime | None = None) -> Presence:
        seen = started + timedelta(minutes=5)
        return Presence("7@host", "backoffice", 7, "host", started, seen, stopped, silent)

    beating = presence(FRESH_WITHIN.total_seconds())
    assert beating.fresh
    silent = presence(FRESH_WITHIN.total_seconds() + 1)
    assert not silent.fresh
    assert silent.gone_since == silent.last_seen
    assert silent.how == "silent for 21 s (killed or cut off)"
    stopped_at = started + timedelta(minutes=6)
    stopped = presence(2, stopped_at)
    assert not stopped.fresh
    assert (stopped.gone_since, stopped.how) == (stopped_at, "stopped cleanly")
    assert FRESH_WITHIN >= 3 * BEAT  # three beats missed before a worker counts as gone
