"""Judge stored history again, live, under the rules in force (`backoffice aml rejudge`).

After a rule change, the transactions booked between two dates are judged slice by slice
in booked order, exactly as an ingest judges new ones (`monitor`): alerts are stored and
routed to cases (a shadow rule's stored, not routed). It is idempotent: an alert is keyed
by its rule and trigger (or its pattern's own key), so what was raised before, by an
ingest or an earlier run, is not raised again; a second run over the same dates raises
nothing. Each slice is one transaction; a run stopped half-way resumes by running again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from temporalio.client import Client

from aml.commands.judges import load_judges
from aml.commands.monitoring_store import txn_from_row
from aml.engines import monitoring
from audit import trail as audit
from audit.trail import ActorRef
from core.db import Database, run_sql
from models.workflow_io import Origin

SLICE = 2_000

HISTORY_SQL = (
    "SELECT id, external_id, account_id, customer_id, booked_at, amount, currency, "
    "direction, channel, counterparty_name, counterparty_account, counterparty_country "
    "FROM transaction WHERE booked_at >= :lo AND booked_at < :hi "
    "ORDER BY booked_at, external_id"
)

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
    async with db.session() as session:
        total = int(
            (
                await run_sql(
                    session,
                    "SELECT count(*) FROM transaction WHERE booked_at >= :lo AND booked_at < :hi",
                    {"lo": lo, "hi": hi},
                )
            ).scalar_one()
        )
    report = RejudgeReport()
    cases: set[object] = set()
    await _tell(progress, 0, total, 0)
    async with db.session() as reader:
        connection = await reader.connection()
        stream = await connection.stream(text(HISTORY_SQL), {"lo": lo, "hi": hi})
        async for part in stream.partitions(slice_size):
            new = [txn_from_row(r) for r in part]
            async with db.transaction() as session:
                outcome = await monitoring.monitor(
                    session, new, judges, temporal=temporal, task_queue=task_queue, actor=actor
                )
            report.transactions += len(new)
            report.alerts += len(outcome.alerts)
            report.shadow += outcome.shadow
            cases.update(route.case_id for route in outcome.routes)
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


async def _tell(progress: Progress | None, judged: int, total: int, alerts: int) -> None:
    if progress is None:
        return
    pending = progress(judged, total, alerts)
    if pending is not None:
        await pending
