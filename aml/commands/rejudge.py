"""Judge stored history again, live, under the rules in force (`backoffice aml rejudge`).

After a rule change, the transactions booked between two dates are judged slice by slice
in booked order with every rule family's judge: alerts are stored and routed to cases (a
shadow rule's stored, not routed), the cases' workflows signalled once each slice has
committed. Cool-downs are the rules in force's own: those fired before the period (read
from the stored alerts), then the run's (a `JudgeMemory`, as a backtest keeps them), so
an older rule version's alerts inside the period do not silence the current one.

It is idempotent: an alert is keyed by its rule and trigger (or its pattern's own key), so
what was raised before, by an ingest or an earlier run, is not raised again; a second run
over the same dates raises nothing. Each slice is one transaction; a run stopped half-way
resumes by running again.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime

from temporalio.client import Client

from aml.commands.casework import CaseRoute, route_alerts, signal_committed
from aml.commands.history import booked_slices, count_booked
from aml.commands.judges import load_judges
from aml.commands.monitoring_store import insert_alerts
from aml.engines.judging import JudgeMemory
from aml.engines.monitoring import judge_all
from audit import trail as audit
from audit.trail import ActorRef
from core.db import Database, run_sql
from models.workflow_io import Origin

SLICE = 2_000

Progress = Callable[[int, int, int], Awaitable[None] | None]  # (judged, total, alerts)


@dataclass
class RejudgeReport:
    transactions: int = 0
    alerts: int = 0  # new alerts routed to cases
    shadow: int = 0  # new alerts of rules in shadow (stored, not routed)
    cases: int = 0  # cases the new alerts opened or joined


async def rejudge(
    db: Database,
    temporal: Client,
    task_queue: str,
    lo: datetime,
    hi: datetime,
    *,
    actor: ActorRef,
    origin: Origin | None = None,
    progress: Progress | None = None,
    slice_size: int = SLICE,
) -> RejudgeReport:
    """Judge the transactions booked in [lo, hi) live; the new alerts they raise."""
    if hi <= lo:
        raise ValueError("the end of the period must be after its start")
    judges = await load_judges(db)
    total = await count_booked(db, lo, hi)
    report = RejudgeReport()
    cases: set[object] = set()
    # Cool-downs as the rules in force would have kept them: the alerts fired before the
    # period, then the run's own (stored alerts inside the period are an older version's).
    memory = JudgeMemory(last_fired=await _fired_before(db, lo))
    await _tell(progress, 0, total, 0)
    async with aclosing(booked_slices(db, lo, hi, slice_size)) as slices:
        async for new in slices:
            routes: list[CaseRoute] = []
            async with db.transaction() as session:
                drafts = await judge_all(session, new, judges, memory)
                # Raised before (same rule and trigger, or pattern key): not raised again.
                stored = await insert_alerts(session, drafts)
                live = [a for a in stored if not a.shadow]
                report.shadow += len(stored) - len(live)
                report.alerts += len(live)
                if live:
                    routes = await route_alerts(
                        session, temporal, task_queue, live, actor=actor, signal=False
                    )
            if routes:  # the cases' workflows hear of their alerts once these are committed
                await signal_committed(temporal, task_queue, routes)
            report.transactions += len(new)
            cases.update(route.case_id for route in routes)
            await _tell(progress, report.transactions, total, report.alerts)
    report.cases = len(cases)
    async with db.transaction() as session:
        await audit.record(
            session,
            action="aml.rejudged",
            actor=actor,
            origin=origin,
            object_type="aml_history",
            details={
                "from": lo.isoformat(),
                "to": hi.isoformat(),
                "transactions": report.transactions,
                "alerts": report.alerts,
                "shadow": report.shadow,
                "cases": report.cases,
            },
        )
    return report


async def _fired_before(db: Database, lo: datetime) -> dict[tuple[uuid.UUID, str], datetime]:
    """When each (account, rule) last fired before `lo`, from the stored alerts."""
    async with db.session() as session:
        rows = (
            await run_sql(
                session,
                "SELECT account_id, rule_key, max(fired) AS fired FROM ("
                "SELECT account_id, rule_key, "
                "CAST(details->>'triggered_at' AS timestamptz) AS fired FROM aml_alert "
                "WHERE details ? 'triggered_at') a WHERE fired < :lo GROUP BY 1, 2",
                {"lo": lo},
            )
        ).all()
    return {(row.account_id, row.rule_key): row.fired for row in rows}


async def _tell(progress: Progress | None, judged: int, total: int, alerts: int) -> None:
    if progress is None:
        return
    pending = progress(judged, total, alerts)
    if pending is not None:
        await pending
