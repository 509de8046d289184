"""A statement's matched pairs, one page at a time: each match's lines and records (at most
SHOWN_PER_MATCH of each shown), their amounts and the `why_matched` sentence.

No permission check here: statement_detail makes it before asking for a page.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from core.db import run_sql
from models.reconciliation import PASSES, ReconStatement
from reconciliation.queries.amounts import amount_text
from reconciliation.queries.lines_and_records import LineView, RecordView, line_view, record_view

SHOWN_PER_MATCH = 10  # lines or records listed per match; a batch of 5 000 is summarised
CHANNEL_NOUNS = {
    "card": "card payments",
    "sepa": "SEPA transfers",
    "swift": "SWIFT transfers",
    "cash": "cash movements",
    "crypto": "crypto transfers",
}


class MatchView(BaseModel):
    match_no: int
    pass_name: str
    pass_label: str
    line_count: int
    record_count: int
    lines: list[LineView]  # at most SHOWN_PER_MATCH
    records: list[RecordView]  # at most SHOWN_PER_MATCH
    lines_amount: str
    records_amount: str
    difference: str  # lines - records
    days_apart: int
    why: str
    matched_by: str | None
    break_id: uuid.UUID | None


def why_matched(
    via: str,
    *,
    lines_amount: Decimal,
    records_amount: Decimal,
    days_apart: int,
    line_count: int,
    record_count: int,
    references: list[str],
    channels: list[str],
    first_day: date | None,
    last_day: date | None,
    currency: str,
    matched_by: str | None = None,
) -> str:
    """One sentence, from the pass and the amounts and dates, saying why these belong together."""
    difference = lines_amount - records_amount
    same = (
        "same amount"
        if difference == 0
        else f"amounts differ by {amount_text(difference, currency)}"
    )
    apart = (
        "same day" if days_apart == 0 else f"{days_apart} day{'' if days_apart == 1 else 's'} apart"
    )
    shared = references[0] if len(set(references)) == 1 and references else None
    if via == "reference":
        text = (
            f"reference {shared} on both; {same}" if shared else f"same reference on both; {same}"
        )
        return text if days_apart == 0 else f"{text}, {apart}"
    if via == "amount_date":
        return f"{same}, {apart}, no shared reference"
    if via == "fee":
        fee = abs(records_amount) - abs(lines_amount)
        text = (
            f"{amount_text(abs(lines_amount), currency)} is "
            f"{amount_text(abs(records_amount), currency)} less the known fee "
            f"{amount_text(abs(fee), currency)}"
        )
        return text if days_apart == 0 else f"{text}, {apart}"
    if via == "batch":
        noun = (
            CHANNEL_NOUNS.get(channels[0], f"{channels[0]} records")
            if len(channels) == 1
            else "records"
        )
        if first_day and last_day and first_day != last_day:
            days = f" of {first_day.isoformat()} to {last_day.isoformat()}"
        else:
            days = f" of {first_day.isoformat()}" if first_day else ""
        tail = "" if difference == 0 else f"; {same}"
        return f"one line settles {record_count} {noun}{days}{tail}"
    if via == "split":
        with_ref = f" with reference {shared}" if shared else ""
        record = "the record" if record_count == 1 else f"the {record_count} records"
        verb = "add up to" if difference == 0 else "come close to"
        tail = "" if difference == 0 else f" ({same})"
        return f"{line_count} lines{with_ref} {verb} {record}{tail}"
    if via == "manual":
        by = f" by {matched_by}" if matched_by else ""
        return f"matched by hand{by}; {same}"
    return same


# A statement's matches, of one pass when :p is given.
MATCH_COUNT = (
    "SELECT count(*) FROM recon_match m"
    " WHERE m.statement_id = :s AND (CAST(:p AS text) IS NULL OR m.pass_name = :p)"
)
MATCH_PAGE = (
    "SELECT m.match_no, m.pass_name, m.line_count, m.record_count, m.lines_amount,"
    " m.records_amount, m.days_apart, m.break_id, u.username FROM recon_match m"
    " LEFT JOIN staff_user u ON u.id = m.matched_by"
    " WHERE m.statement_id = :s AND (CAST(:p AS text) IS NULL OR m.pass_name = :p)"
    " ORDER BY m.match_no LIMIT :limit OFFSET :offset"
)
MATCH_LINES = (
    "SELECT match_no, l.* FROM ("
    " SELECT ml.match_no, ml.line_no, row_number() OVER (PARTITION BY ml.match_no ORDER BY ml.line_no) AS n"
    " FROM recon_match_line ml WHERE ml.statement_id = :s AND ml.match_no = ANY(:nos)) x"
    " JOIN recon_line l ON l.statement_id = :s AND l.line_no = x.line_no"
    " WHERE x.n <= :cap ORDER BY x.match_no, x.line_no"
)
MATCH_RECORDS = (
    "SELECT x.match_no, t.id, t.external_id, t.booked_at, t.amount, t.currency, t.direction,"
    " t.channel, t.counterparty_name FROM ("
    " SELECT r.match_no, r.transaction_id, row_number() OVER (PARTITION BY r.match_no"
    " ORDER BY r.transaction_id) AS n FROM recon_match_record r"
    " WHERE r.statement_id = :s AND r.match_no = ANY(:nos)) x"
    " JOIN transaction t ON t.id = x.transaction_id"
    " WHERE x.n <= :cap ORDER BY x.match_no, t.booked_at, t.external_id"
)
# Per match: its records' days and channels, and the references of its lines (for the why).
MATCH_FACTS = (
    "SELECT r.match_no, min(t.booked_at), max(t.booked_at), array_agg(DISTINCT t.channel)"
    " FROM recon_match_record r JOIN transaction t ON t.id = r.transaction_id"
    " WHERE r.statement_id = :s AND r.match_no = ANY(:nos) GROUP BY 1"
)
MATCH_REFERENCES = (
    "SELECT ml.match_no, array_agg(DISTINCT l.reference) FILTER (WHERE l.reference IS NOT NULL)"
    " FROM recon_match_line ml JOIN recon_line l ON l.statement_id = ml.statement_id"
    " AND l.line_no = ml.line_no WHERE ml.statement_id = :s AND ml.match_no = ANY(:nos) GROUP BY 1"
)


async def statement_matches(
    session: Any,
    statement: ReconStatement,
    *,
    pass_filter: str | None,
    page: int,
    per_page: int,
) -> tuple[list[MatchView], int]:
    """One page of the statement's matches (of one pass when pass_filter is given), in match
    order, and how many there are in all."""
    params: dict[str, Any] = {"s": statement.id, "p": pass_filter}
    total = (await run_sql(session, MATCH_COUNT, params)).scalar_one()
    rows = (
        await run_sql(
            session,
            MATCH_PAGE,
            {**params, "limit": per_page, "offset": (page - 1) * per_page},
        )
    ).all()
    if not rows:
        return [], int(total)
    nos = [r.match_no for r in rows]
    ask = {"s": statement.id, "nos": nos, "cap": SHOWN_PER_MATCH}
    lines: dict[int, list[LineView]] = {}
    for row in (await run_sql(session, MATCH_LINES, ask)).all():
        lines.setdefault(row.match_no, []).append(line_view(row))
    records: dict[int, list[RecordView]] = {}
    for row in (await run_sql(session, MATCH_RECORDS, ask)).all():
        records.setdefault(row.match_no, []).append(record_view(row))
    facts = {r[0]: r[1:] for r in (await run_sql(session, MATCH_FACTS, ask)).all()}
    refs = {r[0]: r[1] or [] for r in (await run_sql(session, MATCH_REFERENCES, ask)).all()}
    currency = statement.currency or ""
    views = []
    for r in rows:
        first, last, channels = facts.get(r.match_no, (None, None, []))
        views.append(
            MatchView(
                match_no=r.match_no,
                pass_name=r.pass_name,
                pass_label=PASSES.get(r.pass_name, r.pass_name),
                line_count=r.line_count,
                record_count=r.record_count,
                lines=lines.get(r.match_no, []),
                records=records.get(r.match_no, []),
                lines_amount=amount_text(r.lines_amount, currency),
                records_amount=amount_text(r.records_amount, currency),
                difference=amount_text(r.lines_amount - r.records_amount, currency),
                days_apart=r.days_apart,
                why=why_matched(
                    r.pass_name,
                    lines_amount=r.lines_amount,
                    records_amount=r.records_amount,
                    days_apart=r.days_apart,
                    line_count=r.line_count,
                    record_count=r.record_count,
                    references=list(refs.get(r.match_no, [])),
                    channels=sorted(channels or []),
                    first_day=first.astimezone(UTC).date() if first else None,
                    last_day=last.astimezone(UTC).date() if last else None,
                    currency=currency,
                    matched_by=r.username,
                ),
                matched_by=r.username,
                break_id=r.break_id,
            )
        )
    return views, int(total)
