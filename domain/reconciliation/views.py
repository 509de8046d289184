"""Reading reconciliation: the statements list, one statement (balances, passes, the matched
pairs with why they matched, its breaks) and the breaks queue with ageing — for the pages and
their JSON twins.

Every function checks `reconciliation` / `read` first (audited when refused). Amounts are
strings: statement amounts carry up to five decimals, shown exactly (never rounded to cents).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel
from sqlalchemy import and_, any_, exists, func, not_, or_, tuple_
from sqlmodel import col, select

from core.db import Database, run_sql
from domain.access import can_see_case, not_found, require
from domain.actors import Actor
from domain.aml.queue import countdown
from domain.errors import Invalid
from domain.reconciliation.lines import FORMAT_LABELS
from domain.spreadsheets import share
from models.aml import Transaction
from models.base import utcnow
from models.cases import OPEN_TASK_STATUSES, Case, Task
from models.money import MoneyError, minor_units
from models.reconciliation import (
    BREAK_KINDS,
    PASSES,
    RESOLUTIONS,
    STATEMENT_STATUSES,
    ReconBreak,
    ReconLine,
    ReconSource,
    ReconStatement,
    ReconWriteOff,
)
from models.staff import StaffUser

STATUS_LABELS = {
    "received": "Received — waiting to be read",
    "parsing": "Reading the file",
    "matching": "Matching against our records",
    "matched": "Matched",
    "refused": "Refused",
    "reconciled": "Reconciled",
}
STATUS_FILTERS = (*STATEMENT_STATUSES, "reconciled")
RUNNING = ("received", "parsing", "matching")
BREAK_STATUSES = ("open", "resolved", "all")
# Age of a break in whole days since it was raised: bucket -> (first day, last day or None).
AGE_BUCKETS: dict[str, tuple[int, int | None]] = {
    "0-2": (0, 2),
    "3-7": (3, 7),
    "8-30": (8, 30),
    "31+": (31, None),
}
AGE_LABELS = {"0-2": "0-2 days", "3-7": "3-7 days", "8-30": "8-30 days", "31+": "over 30 days"}
SHOWN_PER_MATCH = 10  # lines or records listed per match; a batch of 5 000 is summarised
CHANNEL_NOUNS = {
    "card": "card payments",
    "sepa": "SEPA transfers",
    "swift": "SWIFT transfers",
    "cash": "cash movements",
    "crypto": "crypto transfers",
}


# ----------------------------------------------------------------------------- helpers
def amount_text(value: Decimal | str | None, currency: str | None = None) -> str:
    """An amount exactly, with at least its currency's minor units: 98.5 -> '98.50',
    0.12345 stays '0.12345' (statements carry up to five decimals)."""
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    try:
        places = minor_units(currency or "")
    except MoneyError:
        places = 2
    step = Decimal(1).scaleb(-places)
    if amount == amount.quantize(step):
        return f"{amount.quantize(step):f}"
    return f"{amount.normalize():f}"


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


def summary_counts(statement: ReconStatement) -> tuple[int, int]:
    """(lines, matched lines) from the summary the matching writes; the parse's count while
    it has not (a running statement's summary may lack any key)."""
    summary = statement.summary if isinstance(statement.summary, dict) else {}
    lines = _int(summary.get("lines"))
    if lines is None:
        lines = statement.lines_total
    matched = _int(summary.get("matched_lines")) or 0
    return lines, matched


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def progress_of(statement: ReconStatement) -> tuple[int | None, str]:
    """(percent done, or None while it cannot be told; what is happening)."""
    if statement.status == "received":
        return 0, "Waiting for a worker to read the file"
    if statement.status == "parsing":
        if statement.lines_total:
            done = min(100, statement.lines_read * 100 // statement.lines_total)
            return done, f"Reading: {statement.lines_read:,} of {statement.lines_total:,} entries"
        return None, f"Reading: {statement.lines_read:,} entries so far"
    if statement.status == "matching":
        return None, "Matching the lines against our records"
    if statement.status == "refused":
        return 100, "Refused"
    return 100, "Done"


def is_reconciled(statement: ReconStatement, open_breaks: int, now: datetime) -> bool:
    """Matched, no break open, and the window for our own records has passed."""
    window = statement.record_window_ends_at
    return statement.status == "matched" and open_breaks == 0 and (window is None or window <= now)


def _reconciled_sql(now: datetime) -> Any:
    open_break = exists().where(
        col(ReconBreak.statement_id) == ReconStatement.id, col(ReconBreak.status) == "open"
    )
    window = or_(
        col(ReconStatement.record_window_ends_at).is_(None),
        col(ReconStatement.record_window_ends_at) <= now,
    )
    return and_(col(ReconStatement.status) == "matched", not_(open_break), window)


# ----------------------------------------------------------------------------- statements
class StatementRow(BaseModel):
    id: uuid.UUID
    reference: str
    source_id: uuid.UUID
    source_name: str
    filename: str
    format: str
    format_label: str
    uploaded_at: datetime
    uploaded_by: str | None
    channel: str  # web | api
    status: str  # as stored: received | parsing | matching | matched | refused
    display_status: str  # the stored status, or "reconciled"
    status_label: str
    reconciled: bool
    lines: int
    matched_lines: int
    match_rate: Decimal | None  # matched lines ÷ lines, in percent (one decimal)
    open_breaks: int
    breaks: int
    balance_ok: bool | None  # None: the format carries no balances (CSV), or not read yet
    progress_pct: int | None  # None while it cannot be told (matching)
    progress_label: str
    running: bool
    period_from: date | None
    period_to: date | None
    refused_reason: str | None


class StatementPage(BaseModel):
    items: list[StatementRow]
    total: int
    page: int
    per_page: int


def statement_row(
    statement: ReconStatement,
    source_name: str,
    uploaded_by: str | None,
    counts: tuple[int, int],
    now: datetime,
) -> StatementRow:
    open_breaks, breaks = counts
    lines, matched = summary_counts(statement)
    reconciled = is_reconciled(statement, open_breaks, now)
    display = "reconciled" if reconciled else statement.status
    progress, progress_label = progress_of(statement)
    return StatementRow(
        id=statement.id,
        reference=statement.reference,
        source_id=statement.source_id,
        source_name=source_name,
        filename=statement.filename,
        format=statement.format,
        format_label=FORMAT_LABELS.get(statement.format, statement.format),
        uploaded_at=statement.uploaded_at,
        uploaded_by=uploaded_by,
        channel=statement.channel,
        status=statement.status,
        display_status=display,
        status_label=STATUS_LABELS.get(display, display),
        reconciled=reconciled,
        lines=lines,
        matched_lines=matched,
        match_rate=share(matched, lines) if statement.status == "matched" else None,
        open_breaks=open_breaks,
        breaks=breaks,
        balance_ok=statement.balance_ok,
        progress_pct=progress,
        progress_label=progress_label,
        running=statement.status in RUNNING,
        period_from=statement.period_from,
        period_to=statement.period_to,
        refused_reason=statement.refused_reason,
    )


async def break_counts(session: Any, ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int]]:
    """statement id -> (open breaks, all breaks)."""
    if not ids:
        return {}
    rows = (
        await session.exec(
            select(
                ReconBreak.statement_id,
                func.count().filter(col(ReconBreak.status) == "open"),
                func.count(),
            )
            .where(col(ReconBreak.statement_id).in_(ids))
            .group_by(col(ReconBreak.statement_id))
        )
    ).all()
    return {sid: (int(o), int(n)) for sid, o, n in rows}


async def list_statements(
    db: Database,
    actor: Actor,
    *,
    source_id: uuid.UUID | None = None,
    status: str | None = None,
    search: str | None = None,
    page: int = 1,
    per_page: int = 25,
) -> StatementPage:
    """Statements, the latest upload first, with status, match rate, open breaks, balances."""
    await require(
        db,
        actor,
        "reconciliation",
        "read",
        action="recon.statements",
        object_type="recon_statement",
    )
    if status and status not in STATUS_FILTERS:
        raise Invalid(
            "The list's filters are not valid.",
            fields={"status": f"one of: {', '.join(STATUS_FILTERS)}"},
        )
    now = utcnow()
    page, per_page = max(page, 1), min(max(per_page, 1), 100)
    conditions: list[Any] = []
    if source_id:
        conditions.append(col(ReconStatement.source_id) == source_id)
    if status == "reconciled":
        conditions.append(_reconciled_sql(now))
    elif status == "matched":
        conditions += [col(ReconStatement.status) == "matched", not_(_reconciled_sql(now))]
    elif status:
        conditions.append(col(ReconStatement.status) == status)
    search = (search or "").strip()
    if search:
        pattern = f"%{search}%"
        conditions.append(
            or_(
                col(ReconStatement.reference).ilike(pattern),
                col(ReconStatement.filename).ilike(pattern),
                col(ReconSource.name).ilike(pattern),
            )
        )
    async with db.session() as session:
        total = (
            await session.exec(
                select(func.count())
                .select_from(ReconStatement)
                .join(ReconSource, col(ReconSource.id) == ReconStatement.source_id)
                .where(*conditions)
            )
        ).one()
        rows = (
            await session.exec(
                select(ReconStatement, ReconSource.name, StaffUser.username)
                .join(ReconSource, col(ReconSource.id) == ReconStatement.source_id)
                .outerjoin(StaffUser, col(StaffUser.id) == ReconStatement.uploaded_by)
                .where(*conditions)
                .order_by(col(ReconStatement.uploaded_at).desc(), col(ReconStatement.reference))
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
        ).all()
        counts = await break_counts(session, [r[0].id for r in rows])
    return StatementPage(
        items=[statement_row(s, name, who, counts.get(s.id, (0, 0)), now) for s, name, who in rows],
        total=int(total),
        page=page,
        per_page=per_page,
    )


# ----------------------------------------------------------------------------- one statement
class BalanceRow(BaseModel):
    section: int | None
    statement_id: str | None
    account: str | None
    opening: str | None
    closing: str | None
    entries: int | None
    sum: str | None
    expected_closing: str | None
    gap: str | None  # closing - expected closing, when the two disagree
    ok: bool | None


class PassRow(BaseModel):
    pass_name: str
    label: str
    matches: int
    lines: int
    records: int
    pct_of_lines: Decimal | None


class LineView(BaseModel):
    line_no: int
    section: int
    booked_on: date
    value_date: date | None
    amount: str
    currency: str
    reference: str | None
    bank_reference: str | None
    counterparty: str | None
    counterparty_account: str | None
    description: str | None


class RecordView(BaseModel):
    transaction_id: uuid.UUID
    external_id: str
    booked_on: date
    booked_at: datetime
    amount: str  # signed: money in positive, out negative
    currency: str
    direction: str
    channel: str
    counterparty: str | None
    counterparty_account: str | None = None
    description: str | None = None


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


class StatementDetail(BaseModel):
    statement: StatementRow
    account: str | None
    currency: str | None
    sha256: str
    size: int
    workflow_id: str
    policy_version: int | None
    matched_at: datetime | None
    record_window_ends_at: datetime | None
    refused_location: str | None
    balances: list[BalanceRow]
    passes: list[PassRow]
    unmatched_lines: int
    seconds: dict[str, str]  # timings of the run, as the summary gives them
    breaks_by_kind: dict[str, int]  # open breaks per kind
    matches: list[MatchView]
    match_total: int
    match_page: int
    match_per_page: int
    pass_filter: str | None
    breaks: BreakPage


def _balance(raw: Any, currency: str | None) -> BalanceRow:
    item = raw if isinstance(raw, dict) else {}

    def money(key: str) -> str | None:
        value = item.get(key)
        return amount_text(value, currency) if value not in (None, "") else None

    gap = None
    try:
        closing, expected = (
            Decimal(str(item.get("closing"))),
            Decimal(str(item.get("expected_closing"))),
        )
        if closing != expected:
            gap = amount_text(closing - expected, currency)
    except (InvalidOperation, ValueError):
        pass
    ok = item.get("ok")
    return BalanceRow(
        section=_int(item.get("section")),
        statement_id=str(item["statement_id"]) if item.get("statement_id") else None,
        account=str(item["account"]) if item.get("account") else None,
        opening=money("opening"),
        closing=money("closing"),
        entries=_int(item.get("entries")),
        sum=money("sum"),
        expected_closing=money("expected_closing"),
        gap=gap,
        ok=ok if isinstance(ok, bool) else None,
    )


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


async def _pass_rows(session: Any, statement_id: uuid.UUID, lines: int) -> list[PassRow]:
    rows = (
        await run_sql(
            session,
            "SELECT pass_name, count(*), coalesce(sum(line_count), 0), "
            "coalesce(sum(record_count), 0) FROM recon_match WHERE statement_id = :s GROUP BY 1",
            {"s": statement_id},
        )
    ).all()
    found = {name: (int(n), int(ln), int(rc)) for name, n, ln, rc in rows}
    order = [p for p in PASSES if p in found] + [p for p in found if p not in PASSES]
    return [
        PassRow(
            pass_name=p,
            label=PASSES.get(p) or str(p),
            matches=found[p][0],
            lines=found[p][1],
            records=found[p][2],
            pct_of_lines=share(found[p][1], lines),
        )
        for p in order
    ]


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


def line_view(line: Any) -> LineView:
    return LineView(
        line_no=line.line_no,
        section=line.section,
        booked_on=line.booked_on,
        value_date=line.value_date,
        amount=amount_text(line.amount, line.currency),
        currency=line.currency,
        reference=line.reference,
        bank_reference=line.bank_reference,
        counterparty=line.counterparty_name,
        counterparty_account=line.counterparty_account,
        description=line.description,
    )


def signed(amount: Decimal, direction: str) -> Decimal:
    return -abs(amount) if direction == "out" else abs(amount)


def record_view(txn: Any) -> RecordView:
    """A transaction of ours (a row or a Transaction), its amount signed by direction."""
    return RecordView(
        transaction_id=txn.id,
        external_id=txn.external_id,
        booked_on=txn.booked_at.astimezone(UTC).date(),
        booked_at=txn.booked_at,
        amount=amount_text(signed(txn.amount, txn.direction), txn.currency),
        currency=txn.currency,
        direction=txn.direction,
        channel=txn.channel,
        counterparty=txn.counterparty_name,
        counterparty_account=getattr(txn, "counterparty_account", None),
        description=getattr(txn, "description", None),
    )


async def _matches(
    session: Any,
    statement: ReconStatement,
    *,
    pass_filter: str | None,
    page: int,
    per_page: int,
) -> tuple[list[MatchView], int]:
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


async def statement_detail(
    db: Database,
    actor: Actor,
    statement_id: uuid.UUID,
    *,
    match_page: int = 1,
    pass_filter: str | None = None,
    match_per_page: int = 25,
    break_page: int = 1,
) -> StatementDetail:
    """One statement: header, refusal, progress, balances, passes, matched pairs (paged, with
    why), and its breaks (paged)."""
    await require(
        db,
        actor,
        "reconciliation",
        "read",
        action="recon.statement",
        object_type="recon_statement",
        object_id=statement_id,
    )
    if pass_filter and pass_filter not in PASSES:
        raise Invalid(
            "The matches' filter is not valid.", fields={"pass": f"one of: {', '.join(PASSES)}"}
        )
    now = utcnow()
    match_page, match_per_page = max(match_page, 1), min(max(match_per_page, 1), 100)
    async with db.session() as session:
        statement, row = await _statement(session, db, actor, statement_id, now)
        passes = await _pass_rows(session, statement.id, row.lines)
        matches, match_total = await _matches(
            session, statement, pass_filter=pass_filter, page=match_page, per_page=match_per_page
        )
        kinds = (
            await session.exec(
                select(ReconBreak.kind, func.count())
                .where(col(ReconBreak.statement_id) == statement.id, ReconBreak.status == "open")
                .group_by(col(ReconBreak.kind))
            )
        ).all()
    matched_lines = sum(p.lines for p in passes)
    if matched_lines:  # exact, manual matches included (the summary is as matching left it)
        row.matched_lines = matched_lines
        if statement.status == "matched":
            row.match_rate = share(matched_lines, row.lines)
    summary = statement.summary if isinstance(statement.summary, dict) else {}
    seconds = summary.get("seconds")
    breaks = await _break_page(
        db, actor, status="all", statement_id=statement.id, page=break_page, per_page=25
    )
    return StatementDetail(
        statement=row,
        account=statement.account,
        currency=statement.currency,
        sha256=statement.sha256,
        size=statement.size,
        workflow_id=statement.workflow_id,
        policy_version=statement.policy_version,
        matched_at=statement.matched_at,
        record_window_ends_at=statement.record_window_ends_at,
        refused_location=statement.refused_location,
        balances=[_balance(b, statement.currency) for b in statement.balances or []],
        passes=passes,
        unmatched_lines=max(row.lines - row.matched_lines, 0),
        seconds={str(k): str(v) for k, v in seconds.items()} if isinstance(seconds, dict) else {},
        breaks_by_kind={k: int(n) for k, n in kinds},
        matches=matches,
        match_total=match_total,
        match_page=match_page,
        match_per_page=match_per_page,
        pass_filter=pass_filter,
        breaks=breaks,
    )


async def statement_progress(db: Database, actor: Actor, statement_id: uuid.UUID) -> StatementRow:
    """Just the statement's row (status and progress), for the polled progress fragment."""
    await require(
        db,
        actor,
        "reconciliation",
        "read",
        action="recon.statement",
        object_type="recon_statement",
        object_id=statement_id,
    )
    async with db.session() as session:
        _, row = await _statement(session, db, actor, statement_id, utcnow())
    return row


async def _statement(
    session: Any, db: Database, actor: Actor, statement_id: uuid.UUID, now: datetime
) -> tuple[ReconStatement, StatementRow]:
    """The statement and its row; not found (audited) when there is none."""
    found = (
        await session.exec(
            select(ReconStatement, ReconSource.name, StaffUser.username)
            .join(ReconSource, col(ReconSource.id) == ReconStatement.source_id)
            .outerjoin(StaffUser, col(StaffUser.id) == ReconStatement.uploaded_by)
            .where(col(ReconStatement.id) == statement_id)
        )
    ).first()
    if found is None:
        raise await not_found(db, actor, "recon_statement", statement_id, action="recon.statement")
    statement, source_name, uploaded_by = found
    counts = await break_counts(session, [statement.id])
    row = statement_row(statement, source_name, uploaded_by, counts.get(statement.id, (0, 0)), now)
    return statement, row


# ----------------------------------------------------------------------------- breaks
class BreakItem(BaseModel):
    id: uuid.UUID
    kind: str
    kind_label: str
    status: str  # open | resolved
    resolution: str | None
    resolution_label: str | None
    amount: str  # signed
    difference: str
    currency: str
    booked_on: date
    created_at: datetime
    age_days: int
    age_bucket: str
    age_label: str
    statement_id: uuid.UUID
    statement_reference: str
    source_id: uuid.UUID
    source_name: str
    case_id: uuid.UUID | None
    case_reference: str | None
    case_visible: bool  # the reader may open the case
    reference: str | None  # the first line's reference, or the first record's id
    counterparty: str | None
    line_nos: list[int]
    record_count: int
    candidates: int
    task_title: str | None
    task_status: str | None  # open | claimed
    task_priority: str | None
    task_due_at: datetime | None
    task_due_text: str | None
    overdue: bool
    assignee: str | None
    write_off_pending: bool


class BreakPage(BaseModel):
    items: list[BreakItem]
    total: int
    page: int
    per_page: int
    status: str


def _break_conditions(
    *,
    status: str,
    kind: str | None,
    source_id: uuid.UUID | None,
    age: str | None,
    search: str | None,
    statement_id: uuid.UUID | None,
    now: datetime,
) -> list[Any]:
    fields: dict[str, str] = {}
    if status not in BREAK_STATUSES:
        fields["status"] = "open, resolved or all"
    if kind and kind not in BREAK_KINDS:
        fields["kind"] = f"one of: {', '.join(BREAK_KINDS)}"
    if age and age not in AGE_BUCKETS:
        fields["age"] = f"one of: {', '.join(AGE_BUCKETS)}"
    if fields:
        raise Invalid("The queue's filters are not valid.", fields=fields)
    conditions: list[Any] = []
    if status != "all":
        conditions.append(col(ReconBreak.status) == status)
    if kind:
        conditions.append(col(ReconBreak.kind) == kind)
    if source_id:
        conditions.append(col(ReconBreak.source_id) == source_id)
    if statement_id:
        conditions.append(col(ReconBreak.statement_id) == statement_id)
    if age:
        conditions += age_conditions(age, now)
    if search:
        pattern = f"%{search}%"
        line_hit = exists().where(
            col(ReconLine.statement_id) == ReconBreak.statement_id,
            col(ReconLine.line_no) == any_(col(ReconBreak.line_nos)),
            or_(
                col(ReconLine.reference).ilike(pattern),
                col(ReconLine.counterparty_name).ilike(pattern),
            ),
        )
        record_hit = exists().where(
            col(Transaction.id) == any_(col(ReconBreak.record_ids)),
            or_(
                col(Transaction.external_id).ilike(pattern),
                col(Transaction.counterparty_name).ilike(pattern),
            ),
        )
        conditions.append(
            or_(
                col(Case.reference).ilike(pattern),
                col(ReconStatement.reference).ilike(pattern),
                line_hit,
                record_hit,
            )
        )
    return conditions


def _joined(statement: Any) -> Any:
    return (
        statement.join(ReconStatement, col(ReconStatement.id) == ReconBreak.statement_id)
        .join(ReconSource, col(ReconSource.id) == ReconBreak.source_id)
        .outerjoin(Case, col(Case.id) == ReconBreak.case_id)
    )


async def list_breaks(
    db: Database,
    actor: Actor,
    *,
    status: str = "open",
    kind: str | None = None,
    source_id: uuid.UUID | None = None,
    age: str | None = None,
    search: str | None = None,
    statement_id: uuid.UUID | None = None,
    page: int = 1,
    per_page: int = 25,
) -> BreakPage:
    """The breaks queue (open ones unless told otherwise), the oldest first, with their age."""
    await require(
        db, actor, "reconciliation", "read", action="recon.breaks", object_type="recon_break"
    )
    return await _break_page(
        db,
        actor,
        status=status,
        kind=kind,
        source_id=source_id,
        age=age,
        search=search,
        statement_id=statement_id,
        page=page,
        per_page=per_page,
    )


async def _break_page(
    db: Database,
    actor: Actor,
    *,
    status: str = "open",
    kind: str | None = None,
    source_id: uuid.UUID | None = None,
    age: str | None = None,
    search: str | None = None,
    statement_id: uuid.UUID | None = None,
    page: int = 1,
    per_page: int = 25,
) -> BreakPage:
    now = utcnow()
    conditions = _break_conditions(
        status=status,
        kind=kind,
        source_id=source_id,
        age=age,
        search=(search or "").strip() or None,
        statement_id=statement_id,
        now=now,
    )
    page, per_page = max(page, 1), min(max(per_page, 1), 100)
    async with db.session() as session:
        total = (
            await session.exec(_joined(select(func.count(col(ReconBreak.id)))).where(*conditions))
        ).one()
        rows = (
            await session.exec(
                _joined(
                    select(ReconBreak, ReconStatement.reference, ReconSource.name, Case.reference)
                )
                .where(*conditions)
                .order_by(col(ReconBreak.created_at), col(ReconBreak.id))
                .offset((page - 1) * per_page)
                .limit(per_page)
            )
        ).all()
        breaks = [r[0] for r in rows]
        tasks: dict[uuid.UUID, tuple[Task, str | None]] = {}
        case_ids = [b.case_id for b in breaks if b.case_id]
        if case_ids:
            for open_task, who in (
                await session.exec(
                    select(Task, StaffUser.username)
                    .outerjoin(StaffUser, col(StaffUser.id) == Task.assignee_id)
                    .where(
                        col(Task.case_id).in_(case_ids), col(Task.status).in_(OPEN_TASK_STATUSES)
                    )
                    .order_by(col(Task.created_at))
                )
            ).all():
                tasks[open_task.case_id] = (open_task, who)  # the latest open one wins
        firsts = await _first_items(session, breaks)
        pending = set()
        if breaks:
            pending = set(
                (
                    await session.exec(
                        select(ReconWriteOff.break_id).where(
                            col(ReconWriteOff.break_id).in_([b.id for b in breaks]),
                            ReconWriteOff.status == "proposed",
                        )
                    )
                ).all()
            )
    sees_cases = can_see_case(actor, "recon_exception")
    items = []
    for brk, statement_ref, source_name, case_ref in rows:
        days = max((now - brk.created_at).days, 0)
        bucket = age_bucket(days)
        found: tuple[Task | None, str | None] = (
            tasks.get(brk.case_id, (None, None)) if brk.case_id else (None, None)
        )
        task, holder = found
        reference, counterparty = firsts.get(brk.id, (None, None))
        items.append(
            BreakItem(
                id=brk.id,
                kind=brk.kind,
                kind_label=BREAK_KINDS.get(brk.kind, brk.kind),
                status=brk.status,
                resolution=brk.resolution,
                resolution_label=RESOLUTIONS.get(brk.resolution) if brk.resolution else None,
                amount=amount_text(brk.amount, brk.currency),
                difference=amount_text(brk.difference, brk.currency),
                currency=brk.currency,
                booked_on=brk.booked_on,
                created_at=brk.created_at,
                age_days=days,
                age_bucket=bucket,
                age_label=AGE_LABELS[bucket],
                statement_id=brk.statement_id,
                statement_reference=statement_ref,
                source_id=brk.source_id,
                source_name=source_name,
                case_id=brk.case_id,
                case_reference=case_ref,
                case_visible=sees_cases and brk.case_id is not None,
                reference=reference,
                counterparty=counterparty,
                line_nos=list(brk.line_nos),
                record_count=len(brk.record_ids),
                candidates=len(brk.candidate_line_nos) + len(brk.candidate_record_ids),
                task_title=task.title if task else None,
                task_status=task.status if task else None,
                task_priority=task.priority if task else None,
                task_due_at=task.due_at if task else None,
                task_due_text=countdown(task.due_at, now) if task else None,
                overdue=bool(task and task.due_at <= now),
                assignee=holder if task and task.status == "claimed" else None,
                write_off_pending=brk.id in pending,
            )
        )
    return BreakPage(items=items, total=int(total), page=page, per_page=per_page, status=status)


async def _first_items(
    session: Any, breaks: list[ReconBreak]
) -> dict[uuid.UUID, tuple[str | None, str | None]]:
    """Per break: (reference, counterparty) of its first line, else of its first record."""
    wanted_lines = {(b.statement_id, b.line_nos[0]): b.id for b in breaks if b.line_nos}
    wanted_records = {b.record_ids[0]: b.id for b in breaks if not b.line_nos and b.record_ids}
    found: dict[uuid.UUID, tuple[str | None, str | None]] = {}
    if wanted_lines:
        for line in (
            await session.exec(
                select(ReconLine).where(
                    tuple_(col(ReconLine.statement_id), col(ReconLine.line_no)).in_(
                        list(wanted_lines)
                    )
                )
            )
        ).all():
            found[wanted_lines[(line.statement_id, line.line_no)]] = (
                line.reference,
                line.counterparty_name,
            )
    if wanted_records:
        for txn in (
            await session.exec(
                select(Transaction).where(col(Transaction.id).in_(list(wanted_records)))
            )
        ).all():
            found[wanted_records[txn.id]] = (txn.external_id, txn.counterparty_name)
    return found


StatementDetail.model_rebuild()
