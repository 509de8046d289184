"""The stale watch-list check's activity: open one case per stale list version
(screening.commands.list_age) on this worker's task queue."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity

import casework.catalog  # noqa: F401 - the stale-list case type is known to the registry
from activities.outage import retry_on_outage
from core.db import Database
from models.list_age_io import ListAgeInput, ListAgeSummary
from screening.commands.list_age import open_stale_list_cases


class ListAgeActivities:
    def __init__(self, db: Database):
        self.db = db

    @activity.defn
    @retry_on_outage
    async def check_list_ages(self, inp: ListAgeInput) -> ListAgeSummary:
        today = inp.today or datetime.now(UTC).date()
        report = await open_stale_list_cases(
            self.db, activity.client(), activity.info().task_queue, today
        )
        return ListAgeSummary(
            checked=report.checked, stale=report.stale, opened=report.opened, text=report.text
        )
