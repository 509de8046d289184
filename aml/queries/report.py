"""The transaction-monitoring report: how each rule performs, whether tiers keep their SLAs,
and whether SAR decisions meet the regulatory deadline — over a date range, with CSV export.

What falls in the range: alerts by detection time, tasks by the time they were opened,
cases by the detection of their first alert (when the SAR clock started).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from aml.rules import TIER_LABELS, TIER_STEPS
from core.db import Database, run_sql
from identity.access import require
from identity.actors import Actor
from models.base import utcnow
from shared.charts import BarChart, bar_chart
from shared.days import day_bounds
from shared.spreadsheets import csv_text, share

TABLES = ("rules", "sla", "sar")
FALSE_POSITIVE = "closed_false_positive"
KIND_TIER = {kind: tier for tier, (_, kind, _, _) in TIER_STEPS.items()}
SAR_CATEGORIES = {
    "on_time": "Decided on time",
    "late": "Decided late",
    "open_past_due": "Open past the deadline",
    "open_in_time": "Open, within the deadline",
    "closed_before_mlro": "Closed before the MLRO (no SAR decision)",
}
# A cell a spreadsheet would run as a formula: prefixed with ' so it stays text.


@dataclass
class RuleRow:
    rule_key: str
    versions: str  # e.g. "1, 2"
    alerts: int
    open: int
    closed: int
    false_positive: int

    @property
    def false_positive_share(self) -> Decimal | None:
        return share(self.false_positive, self.closed)


@dataclass
class SlaRow:
    tier: str
    label: str
    tasks: int
    within: int  # decided by the due time, never escalated
    breached: int  # decided after the due time (or after an escalation)
    auto_escalated: int  # ended undecided at its due time: the case moved on by itself
    open_overdue: int
    open: int

    @property
    def compliance(self) -> Decimal | None:
        return share(self.within, self.within + self.breached + self.auto_escalated)


@dataclass
class SarRow:
    category: str
    label: str
    cases: int
    sar: int
    no_sar: int


@dataclass
class AmlReport:
    start: date
    end: date
    rules: list[RuleRow]
    sla: list[SlaRow]
    sar: list[SarRow]

    def charts(self) -> dict[str, BarChart]:
        return {
            "rules": bar_chart(
                [
                    (
                        r.rule_key,
                        [
                            ("closed as false positive", r.false_positive),
                            ("closed otherwise", r.closed - r.false_positive),
                            ("open", r.open),
                        ],
                    )
                    for r in self.rules
                ]
            ),
            "sla": bar_chart(
                [
                    (
                        r.label,
                        [
                            ("within SLA", r.within),
                            ("breached", r.breached),
                            ("auto-escalated", r.auto_escalated),
                            ("open overdue", r.open_overdue),
                            ("open, in time", r.open - r.open_overdue),
                        ],
                    )
                    for r in self.sla
                ]
            ),
            "sar": bar_chart([(r.label, [("cases", r.cases)]) for r in self.sar], label_width=260),
        }


def _bounds(start: date, end: date) -> dict[str, datetime]:
    first, after = day_bounds(start, end)
    return {"start": first, "end": after}


async def build_report(
    db: Database, actor: Actor, *, start: date, end: date, now: datetime | None = None
) -> AmlReport:
    """The three tables for [start, end] (whole UTC days)."""
    await require(db, actor, "aml", "report", action="aml.report", object_type="aml")
    now = now or utcnow()
    params: dict[str, Any] = {**_bounds(start, end), "now": now, "fp": FALSE_POSITIVE}
    async with db.session() as session:
        rule_rows = (
            await run_sql(
                session,
                "SELECT a.rule_key, array_agg(DISTINCT a.rule_version ORDER BY a.rule_version), "
                "count(*), "
                "count(*) FILTER (WHERE c.status = 'closed'), "
                "count(*) FILTER (WHERE c.status = 'closed' AND c.outcome = :fp) "
                'FROM aml_alert a LEFT JOIN "case" c ON c.id = a.case_id '
                "WHERE a.detected_at >= :start AND a.detected_at < :end "
                "GROUP BY a.rule_key ORDER BY count(*) DESC, a.rule_key",
                params,
            )
        ).all()
        sla_rows = (
            await run_sql(
                session,
                "SELECT kind, count(*), "
                "count(*) FILTER (WHERE status = 'done' AND escalation_level = 0 "
                "  AND completed_at <= due_at), "
                "count(*) FILTER (WHERE status = 'done' AND (escalation_level > 0 "
                "  OR completed_at > due_at)), "
                "count(*) FILTER (WHERE status IN ('cancelled', 'expired') "
                "  AND due_at <= coalesce(completed_at, :now)), "
                "count(*) FILTER (WHERE status IN ('open', 'claimed') AND due_at <= :now), "
                "count(*) FILTER (WHERE status IN ('open', 'claimed')) "
                "FROM task WHERE kind = ANY(:kinds) AND created_at >= :start AND created_at < :end "
                "GROUP BY kind",
                {**params, "kinds": list(KIND_TIER)},
            )
        ).all()
        sar_rows = (
            await run_sql(
                session,
                "SELECT CASE "
                "  WHEN sar_decided_at IS NOT NULL AND sar_decided_at <= sar_due_at THEN 'on_time' "
                "  WHEN sar_decided_at IS NOT NULL THEN 'late' "
                "  WHEN closed_at IS NOT NULL THEN 'closed_before_mlro' "
                "  WHEN sar_due_at < :now THEN 'open_past_due' "
                "  ELSE 'open_in_time' END, "
                "count(*), count(*) FILTER (WHERE sar_decision = 'sar'), "
                "count(*) FILTER (WHERE sar_decision = 'no_sar') "
                "FROM aml_case WHERE detected_at >= :start AND detected_at < :end GROUP BY 1",
                params,
            )
        ).all()
    by_kind = {row[0]: row for row in sla_rows}
    sla = []
    for tier, (_, kind, _, _) in TIER_STEPS.items():
        _, tasks, within, breached, escalated, overdue, still_open = by_kind.get(
            kind, (kind, 0, 0, 0, 0, 0, 0)
        )
        sla.append(
            SlaRow(
                tier,
                TIER_LABELS[tier],
                int(tasks),
                int(within),
                int(breached),
                int(escalated),
                int(overdue),
                int(still_open),
            )
        )
    by_category = {row[0]: row for row in sar_rows}
    return AmlReport(
        start=start,
        end=end,
        rules=[
            RuleRow(
                rule_key=key,
                versions=", ".join(str(v) for v in versions),
                alerts=int(alerts),
                open=int(alerts) - int(closed),
                closed=int(closed),
                false_positive=int(fp),
            )
            for key, versions, alerts, closed, fp in rule_rows
        ],
        sla=sla,
        sar=[
            SarRow(
                category,
                label,
                int(by_category.get(category, (category, 0, 0, 0))[1]),
                int(by_category.get(category, (category, 0, 0, 0))[2]),
                int(by_category.get(category, (category, 0, 0, 0))[3]),
            )
            for category, label in SAR_CATEGORIES.items()
        ],
    )


# ----------------------------------------------------------------------------- CSV
def _pct(value: Decimal | None) -> str:
    return "" if value is None else f"{value}"


def table_rows(report: AmlReport, table: str) -> tuple[list[str], list[Sequence[Any]]]:
    if table == "rules":
        return (
            [
                "rule",
                "versions",
                "alerts",
                "open",
                "closed",
                "closed_false_positive",
                "false_positive_share_pct",
            ],
            [
                [
                    r.rule_key,
                    r.versions,
                    r.alerts,
                    r.open,
                    r.closed,
                    r.false_positive,
                    _pct(r.false_positive_share),
                ]
                for r in report.rules
            ],
        )
    if table == "sla":
        return (
            [
                "tier",
                "tasks",
                "within_sla",
                "breached",
                "auto_escalated",
                "open_overdue",
                "open",
                "compliance_pct",
            ],
            [
                [
                    r.tier,
                    r.tasks,
                    r.within,
                    r.breached,
                    r.auto_escalated,
                    r.open_overdue,
                    r.open,
                    _pct(r.compliance),
                ]
                for r in report.sla
            ],
        )
    if table == "sar":
        return (
            ["category", "cases", "sar", "no_sar"],
            [[r.category, r.cases, r.sar, r.no_sar] for r in report.sar],
        )
    raise ValueError(f"unknown table {table!r}")


def to_csv(report: AmlReport, table: str) -> tuple[str, str]:
    """(file name, CSV text) of one table."""
    name = f"aml-report-{table}-{report.start.isoformat()}-to-{report.end.isoformat()}.csv"
    return name, csv_text(*table_rows(report, table))
