"""The disputes report: what is open at which stage (and how much money, in EUR), how
disputes ended over a period (win rate, time to outcome), deadlines of ours at risk, and
disputes by category — with server-side charts and CSV export.

What falls in the period: outcomes by the day the dispute closed, categories by the day it
opened. The open disputes and the deadlines at risk are as they stand now.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from aml.engines.monitoring_data import to_eur
from aml.queries.queue import countdown
from core.db import Database, run_sql
from disputes.queries.queue import category_label, stage_label
from disputes.rules import CATEGORIES, OUTCOMES, STAGES
from identity.access import require
from identity.actors import Actor
from models.base import utcnow
from models.dispute_io import STAGE_DEADLINES
from models.money import quantize
from shared.charts import BarChart, bar_chart
from shared.days import day_bounds
from shared.spreadsheets import csv_text, share

TABLES = ("summary", "stages", "categories", "at_risk")
OPEN_STAGES = tuple(s for s in STAGES if s != "closed")
CENT = Decimal("0.01")

OPEN_BY_STAGE = (
    'SELECT c.stage, d.currency, count(*), sum(d.amount) FROM "case" c '
    "JOIN dispute d ON d.case_id = c.id WHERE c.status = 'open' GROUP BY 1, 2"
)
OUTCOMES_CLOSED = (
    "SELECT c.outcome, count(*), sum(extract(epoch FROM c.closed_at - c.opened_at)) "
    'FROM "case" c JOIN dispute d ON d.case_id = c.id '
    "WHERE c.status = 'closed' AND c.closed_at >= :start AND c.closed_at < :end GROUP BY 1"
)
OURS_AT_RISK = (
    "SELECT c.id, c.reference, c.stage, s.due_at, d.amount, d.currency "
    'FROM "case" c JOIN dispute d ON d.case_id = c.id '
    "JOIN dispute_stage s ON s.case_id = c.id AND s.left_at IS NULL "
    "WHERE c.status = 'open' AND s.stage = ANY(:ours) AND s.due_at <= :horizon "
    "ORDER BY s.due_at, c.reference"
)
# The stages whose deadline is ours to meet.
OUR_STAGES = [stage for stage, (owner, _) in STAGE_DEADLINES.items() if owner == "ours"]
# Columns after the category: opened, still open, then one count per outcome (OUTCOMES' order).
BY_CATEGORY = (
    "SELECT d.category, count(*), count(*) FILTER (WHERE c.status = 'open'), "
    "count(*) FILTER (WHERE c.outcome = 'won'), count(*) FILTER (WHERE c.outcome = 'lost'), "
    "count(*) FILTER (WHERE c.outcome = 'withdrawn'), "
    "count(*) FILTER (WHERE c.outcome = 'expired') "
    'FROM "case" c JOIN dispute d ON d.case_id = c.id '
    "WHERE c.opened_at >= :start AND c.opened_at < :end GROUP BY 1"
)


@dataclass
class StageRow:
    stage: str
    label: str
    disputes: int
    amount_eur: Decimal


@dataclass
class CategoryRow:
    category: str
    label: str
    opened: int
    open: int
    won: int
    lost: int
    withdrawn: int
    expired: int


@dataclass
class AtRiskRow:
    case_id: uuid.UUID
    reference: str
    stage: str
    stage_label: str
    due_at: datetime
    deadline_label: str | None
    countdown: str
    overdue: bool
    amount: Decimal
    currency: str


@dataclass
class DisputeReport:
    start: date
    end: date
    within_days: int
    stages: list[StageRow]
    outcomes: dict[str, int]  # every outcome, closed in the period
    avg_days_to_outcome: Decimal | None
    at_risk: list[AtRiskRow]
    categories: list[CategoryRow]

    @property
    def open_disputes(self) -> int:
        return sum(r.disputes for r in self.stages)

    @property
    def open_amount_eur(self) -> Decimal:
        return sum((r.amount_eur for r in self.stages), Decimal(0))

    @property
    def closed(self) -> int:
        return sum(self.outcomes.values())

    @property
    def win_rate(self) -> Decimal | None:
        """Won ÷ (won + lost), in percent: withdrawn and expired disputes were not decided."""
        won, lost = self.outcomes["won"], self.outcomes["lost"]
        return share(won, won + lost)

    def charts(self) -> dict[str, BarChart]:
        return {
            "stages": bar_chart(
                [(r.label, [("open disputes", r.disputes)]) for r in self.stages],
                label_width=300,
            ),
            "outcomes": bar_chart(
                [(OUTCOMES[o].split(" — ")[0], [("disputes", n)]) for o, n in self.outcomes.items()]
            ),
            "categories": bar_chart(
                [
                    (
                        r.label,
                        [
                            ("open", r.open),
                            ("won", r.won),
                            ("lost", r.lost),
                            ("withdrawn", r.withdrawn),
                            ("expired", r.expired),
                        ],
                    )
                    for r in self.categories
                ]
            ),
        }


def _eur(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, ROUND_HALF_UP)


async def build_report(
    db: Database,
    actor: Actor,
    *,
    start: date,
    end: date,
    within_days: int,
    now: datetime | None = None,
) -> DisputeReport:
    """The report for [start, end] (whole UTC days); deadlines at risk within `within_days`."""
    await require(db, actor, "dispute", "report", action="dispute.report", object_type="dispute")
    now = now or utcnow()
    first, after = day_bounds(start, end)
    params: dict[str, Any] = {
        "start": first,
        "end": after,
        "horizon": now + timedelta(days=within_days),
        "ours": OUR_STAGES,
    }
    async with db.session() as session:
        open_rows = (await run_sql(session, OPEN_BY_STAGE)).all()
        outcome_rows = (await run_sql(session, OUTCOMES_CLOSED, params)).all()
        risk_rows = (await run_sql(session, OURS_AT_RISK, params)).all()
        category_rows = (await run_sql(session, BY_CATEGORY, params)).all()
    counts: dict[str, int] = dict.fromkeys(OPEN_STAGES, 0)
    amounts: dict[str, Decimal] = dict.fromkeys(OPEN_STAGES, Decimal(0))
    for stage, currency, n, total in open_rows:
        counts[stage] = counts.get(stage, 0) + int(n)
        amounts[stage] = amounts.get(stage, Decimal(0)) + to_eur(Decimal(total), currency)
    outcomes = dict.fromkeys(OUTCOMES, 0)
    seconds = Decimal(0)
    for outcome, n, elapsed in outcome_rows:
        outcomes[outcome] = outcomes.get(outcome, 0) + int(n)
        seconds += Decimal(elapsed or 0)
    closed = sum(outcomes.values())
    by_category = {row[0]: row for row in category_rows}
    return DisputeReport(
        start=start,
        end=end,
        within_days=within_days,
        stages=[StageRow(s, stage_label(s), counts[s], _eur(amounts[s])) for s in counts],
        outcomes=outcomes,
        avg_days_to_outcome=(seconds / 86400 / closed).quantize(Decimal("0.1"), ROUND_HALF_UP)
        if closed
        else None,
        at_risk=[
            AtRiskRow(
                case_id=case_id,
                reference=reference,
                stage=stage,
                stage_label=stage_label(stage),
                due_at=due_at,
                deadline_label=STAGE_DEADLINES[stage][1],
                countdown=countdown(due_at, now),
                overdue=due_at <= now,
                amount=quantize(amount, currency),
                currency=currency,
            )
            for case_id, reference, stage, due_at, amount, currency in risk_rows
        ],
        categories=[
            CategoryRow(
                category, category_label(category), *_category_counts(by_category, category)
            )
            for category in CATEGORIES
        ],
    )


def _category_counts(rows: dict[str, Any], category: str) -> tuple[int, ...]:
    """(opened, open, won, lost, withdrawn, expired) of one category; zeros when none."""
    row = rows.get(category)
    return tuple(int(v) for v in row[1:]) if row else (0,) * (2 + len(OUTCOMES))


# ----------------------------------------------------------------------------- CSV
def _pct(value: Decimal | None) -> str:
    return "" if value is None else f"{value}"


def table_rows(report: DisputeReport, table: str) -> tuple[list[str], list[Sequence[Any]]]:
    if table == "summary":
        figures: list[tuple[str, Any]] = [
            ("from", report.start.isoformat()),
            ("to", report.end.isoformat()),
            ("closed", report.closed),
            *((outcome, n) for outcome, n in report.outcomes.items()),
            ("win_rate_pct", _pct(report.win_rate)),
            ("avg_days_to_outcome", _pct(report.avg_days_to_outcome)),
            ("open_disputes", report.open_disputes),
            ("open_amount_eur", report.open_amount_eur),
            (f"deadlines_at_risk_within_{report.within_days}_days", len(report.at_risk)),
        ]
        return ["figure", "value"], [list(f) for f in figures]
    if table == "stages":
        return (
            ["stage", "label", "open_disputes", "amount_eur"],
            [[r.stage, r.label, r.disputes, r.amount_eur] for r in report.stages],
        )
    if table == "categories":
        return (
            ["category", "label", "opened", "open", *OUTCOMES],
            [
                [r.category, r.label, r.opened, r.open, r.won, r.lost, r.withdrawn, r.expired]
                for r in report.categories
            ],
        )
    if table == "at_risk":
        return (
            ["reference", "stage", "deadline", "due_at", "overdue", "amount", "currency"],
            [
                [
                    r.reference,
                    r.stage,
                    r.deadline_label,
                    r.due_at.isoformat(),
                    "yes" if r.overdue else "no",
                    r.amount,
                    r.currency,
                ]
                for r in report.at_risk
            ],
        )
    raise ValueError(f"unknown table {table!r}")


def to_csv(report: DisputeReport, table: str) -> tuple[str, str]:
    """(file name, CSV text) of one table, every cell neutralised against formula injection."""
    name = f"dispute-report-{table}-{report.start.isoformat()}-to-{report.end.isoformat()}.csv"
    return name, csv_text(*table_rows(report, table))
