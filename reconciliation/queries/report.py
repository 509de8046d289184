"""The reconciliation report: match rates by source over a period, open breaks by source and
by age (with their amount in EUR at the indicative rates), server-side charts and CSV export.

What falls in the period: statements by the day they were uploaded (their lines and matches).
Open breaks are as they stand now, whatever statement raised them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from core.db import Database, run_sql
from identity.access import require
from identity.actors import Actor
from models.base import utcnow
from models.reconciliation import BREAK_KINDS
from reconciliation.commands.breaks import eur_value
from reconciliation.queries.ageing import AGE_BUCKETS, AGE_LABELS, age_bucket
from reconciliation.queries.amounts import amount_text
from shared.charts import BarChart, bar_chart
from shared.days import day_bounds
from shared.spreadsheets import csv_text, share

TABLES = ("summary", "sources", "ages", "breaks")
MAX_CSV_BREAKS = 100_000
KIND_SHORT = {
    "unmatched_line": "not in our records",
    "unmatched_record": "not on a statement",
    "amount_mismatch": "amounts differ",
    "ambiguous": "ambiguous",
}

# Counts from each statement's summary (written when matching completes; digits only).
BY_SOURCE = (
    "SELECT st.source_id, count(*), count(*) FILTER (WHERE st.status = 'refused'),"
    " count(*) FILTER (WHERE st.status = 'matched'),"
    " coalesce(sum(coalesce(CASE WHEN st.summary->>'lines' ~ '^[0-9]+$'"
    " THEN (st.summary->>'lines')::bigint END, st.lines_total))"
    " FILTER (WHERE st.status = 'matched'), 0),"
    " coalesce(sum(CASE WHEN st.summary->>'matched_lines' ~ '^[0-9]+$'"
    " THEN (st.summary->>'matched_lines')::bigint ELSE 0 END)"
    " FILTER (WHERE st.status = 'matched'), 0),"
    " count(*) FILTER (WHERE st.balance_ok = false)"
    " FROM recon_statement st WHERE st.uploaded_at >= :start AND st.uploaded_at < :end"
    " GROUP BY 1"
)
# The open amount of a break (as breaks.open_amount): a mismatch's difference, else its amount.
OPEN_BREAKS = (
    "SELECT b.source_id, b.kind, b.currency,"
    " floor(extract(epoch FROM (:now - b.created_at)) / 86400)::int AS age,"
    " count(*), sum(abs(CASE WHEN b.kind = 'amount_mismatch'"
    " THEN b.difference ELSE b.amount END))"
    " FROM recon_break b WHERE b.status = 'open' GROUP BY 1, 2, 3, 4"
)
SOURCES = "SELECT id, name, format FROM recon_source ORDER BY name"
OPEN_BREAK_LIST = (
    "SELECT b.id, c.reference AS case_reference, s.name AS source, st.reference AS statement,"
    " b.kind, b.amount, b.difference, b.currency, b.booked_on, b.created_at,"
    " l.reference AS line_reference, coalesce(l.counterparty_name, t.counterparty_name)"
    " AS counterparty, t.external_id"
    " FROM recon_break b JOIN recon_source s ON s.id = b.source_id"
    " JOIN recon_statement st ON st.id = b.statement_id"
    ' LEFT JOIN "case" c ON c.id = b.case_id'
    " LEFT JOIN recon_line l ON l.statement_id = b.statement_id AND l.line_no = b.line_nos[1]"
    " LEFT JOIN transaction t ON t.id = b.record_ids[1]"
    " WHERE b.status = 'open' ORDER BY b.created_at, b.id LIMIT :limit"
)


@dataclass
class SourceRow:
    source_id: uuid.UUID
    name: str
    format: str
    statements: int = 0
    refused: int = 0
    matched_statements: int = 0
    lines: int = 0
    matched_lines: int = 0
    balance_failures: int = 0
    open_breaks: int = 0
    open_amount_eur: Decimal = Decimal(0)
    unpriced: int = 0  # open breaks in a currency without an indicative rate
    by_age: dict[str, int] = field(default_factory=lambda: dict.fromkeys(AGE_BUCKETS, 0))

    @property
    def match_rate(self) -> Decimal | None:
        return share(self.matched_lines, self.lines)


@dataclass
class AgeRow:
    bucket: str
    label: str
    by_kind: dict[str, int]
    amount_eur: Decimal

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


@dataclass
class OpenBreakRow:
    case_reference: str | None
    source: str
    statement: str
    kind: str
    amount: str
    currency: str
    amount_eur: Decimal | None
    booked_on: date
    created_at: datetime
    age_days: int
    reference: str | None
    counterparty: str | None


@dataclass
class ReconReport:
    start: date
    end: date
    sources: list[SourceRow]
    ages: list[AgeRow]
    breaks: list[OpenBreakRow] = field(default_factory=list)  # filled for the CSV only

    @property
    def statements(self) -> int:
        return sum(s.statements for s in self.sources)

    @property
    def refused(self) -> int:
        return sum(s.refused for s in self.sources)

    @property
    def lines(self) -> int:
        return sum(s.lines for s in self.sources)

    @property
    def matched_lines(self) -> int:
        return sum(s.matched_lines for s in self.sources)

    @property
    def match_rate(self) -> Decimal | None:
        return share(self.matched_lines, self.lines)

    @property
    def balance_failures(self) -> int:
        return sum(s.balance_failures for s in self.sources)

    @property
    def open_breaks(self) -> int:
        return sum(a.total for a in self.ages)

    @property
    def open_amount_eur(self) -> Decimal:
        return sum((a.amount_eur for a in self.ages), Decimal(0))

    def charts(self) -> dict[str, BarChart]:
        return {
            "match": bar_chart(
                [
                    (
                        s.name,
                        [
                            ("matched lines", s.matched_lines),
                            ("unmatched lines", s.lines - s.matched_lines),
                        ],
                    )
                    for s in self.sources
                ],
                label_width=220,
            ),
            "ages": bar_chart(
                [
                    (a.label, [(KIND_SHORT.get(k, k), n) for k, n in a.by_kind.items()])
                    for a in self.ages
                ]
            ),
            "sources": bar_chart(
                [(s.name, [(AGE_LABELS[b], n) for b, n in s.by_age.items()]) for s in self.sources],
                label_width=220,
            ),
        }


async def build_report(
    db: Database,
    actor: Actor,
    *,
    start: date,
    end: date,
    with_breaks: bool = False,
    now: datetime | None = None,
) -> ReconReport:
    """The report for statements uploaded in [start, end] (whole UTC days) and the breaks
    open now; `with_breaks` also lists every open break (for the CSV)."""
    await require(
        db, actor, "reconciliation", "report", action="recon.report", object_type="recon_statement"
    )
    now = now or utcnow()
    first, after = day_bounds(start, end)
    async with db.session() as session:
        sources = {
            sid: SourceRow(sid, name, fmt)
            for sid, name, fmt in (await run_sql(session, SOURCES)).all()
        }
        period = (await run_sql(session, BY_SOURCE, {"start": first, "end": after})).all()
        open_rows = (await run_sql(session, OPEN_BREAKS, {"now": now})).all()
        listed = (
            (await run_sql(session, OPEN_BREAK_LIST, {"limit": MAX_CSV_BREAKS})).all()
            if with_breaks
            else []
        )
    for sid, n, refused, matched, lines, matched_lines, failures in period:
        row = sources.get(sid)
        if row is None:
            continue
        row.statements, row.refused, row.matched_statements = int(n), int(refused), int(matched)
        row.lines, row.matched_lines = int(lines), int(matched_lines)
        row.balance_failures = int(failures)
    ages = {
        b: AgeRow(b, AGE_LABELS[b], dict.fromkeys(BREAK_KINDS, 0), Decimal(0)) for b in AGE_BUCKETS
    }
    for sid, kind, currency, age, n, amount in open_rows:
        bucket = age_bucket(max(int(age), 0))
        eur = eur_value(Decimal(amount), currency)
        ages[bucket].by_kind[kind] = ages[bucket].by_kind.get(kind, 0) + int(n)
        ages[bucket].amount_eur += eur or Decimal(0)
        source = sources.get(sid)
        if source is not None:
            source.open_breaks += int(n)
            source.by_age[bucket] += int(n)
            if eur is None:
                source.unpriced += int(n)
            else:
                source.open_amount_eur += eur
    return ReconReport(
        start=start,
        end=end,
        sources=list(sources.values()),
        ages=list(ages.values()),
        breaks=[_open_break(r, now) for r in listed],
    )


def _open_break(row: Any, now: datetime) -> OpenBreakRow:
    open_amount = row.difference if row.kind == "amount_mismatch" else row.amount
    return OpenBreakRow(
        case_reference=row.case_reference,
        source=row.source,
        statement=row.statement,
        kind=row.kind,
        amount=amount_text(open_amount, row.currency),
        currency=row.currency,
        amount_eur=eur_value(open_amount, row.currency),
        booked_on=row.booked_on,
        created_at=row.created_at,
        age_days=max((now - row.created_at).days, 0),
        reference=row.line_reference or row.external_id,
        counterparty=row.counterparty,
    )


# ----------------------------------------------------------------------------- CSV
def _pct(value: Decimal | None) -> str:
    return "" if value is None else f"{value}"


def table_rows(report: ReconReport, table: str) -> tuple[list[str], list[Sequence[Any]]]:
    if table == "summary":
        figures: list[tuple[str, Any]] = [
            ("from", report.start.isoformat()),
            ("to", report.end.isoformat()),
            ("statements", report.statements),
            ("refused", report.refused),
            ("lines", report.lines),
            ("matched_lines", report.matched_lines),
            ("match_rate_pct", _pct(report.match_rate)),
            ("balance_check_failures", report.balance_failures),
            ("open_breaks", report.open_breaks),
            ("open_amount_eur", report.open_amount_eur),
        ]
        return ["figure", "value"], [list(f) for f in figures]
    if table == "sources":
        return (
            [
                "source",
                "format",
                "statements",
                "refused",
                "lines",
                "matched_lines",
                "match_rate_pct",
                "balance_check_failures",
                "open_breaks",
                "open_amount_eur",
                *(f"open_{b}_days" for b in AGE_BUCKETS),
            ],
            [
                [
                    s.name,
                    s.format,
                    s.statements,
                    s.refused,
                    s.lines,
                    s.matched_lines,
                    _pct(s.match_rate),
                    s.balance_failures,
                    s.open_breaks,
                    s.open_amount_eur,
                    *s.by_age.values(),
                ]
                for s in report.sources
            ],
        )
    if table == "ages":
        return (
            ["age", *BREAK_KINDS, "open_breaks", "amount_eur"],
            [
                [
                    f"{a.bucket} days",
                    *(a.by_kind.get(k, 0) for k in BREAK_KINDS),
                    a.total,
                    a.amount_eur,
                ]
                for a in report.ages
            ],
        )
    if table == "breaks":
        return (
            [
                "case",
                "source",
                "statement",
                "kind",
                "amount",
                "currency",
                "amount_eur",
                "booked_on",
                "raised_at",
                "age_days",
                "reference",
                "counterparty",
            ],
            [
                [
                    b.case_reference,
                    b.source,
                    b.statement,
                    b.kind,
                    b.amount,
                    b.currency,
                    "" if b.amount_eur is None else b.amount_eur,
                    b.booked_on.isoformat(),
                    b.created_at.isoformat(),
                    b.age_days,
                    b.reference,
                    b.counterparty,
                ]
                for b in report.breaks
            ],
        )
    raise ValueError(f"unknown table {table!r}")


def to_csv(report: ReconReport, table: str) -> tuple[str, str]:
    """(file name, CSV text) of one table, every cell neutralised against formula injection."""
    name = f"recon-report-{table}-{report.start.isoformat()}-to-{report.end.isoformat()}.csv"
    return name, csv_text(*table_rows(report, table))
