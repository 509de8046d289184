"""The statements list: one row per statement, the latest upload first, with its status (or
reconciled), progress, match rate, open breaks and balances, for the page and its JSON twin;
and the row-building helpers one statement's page shares.

list_statements checks `reconciliation` / `read` first (audited when refused).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import and_, exists, func, not_, or_
from sqlmodel import col, select

from core.db import Database
from identity.access import require
from identity.actors import Actor
from models.base import utcnow
from models.reconciliation import STATEMENT_STATUSES, ReconBreak, ReconSource, ReconStatement
from models.staff import StaffUser
from reconciliation.engines.lines import FORMAT_LABELS
from shared.errors import Invalid
from shared.spreadsheets import share

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


def summary_counts(statement: ReconStatement) -> tuple[int, int]:
    """(lines, matched lines) from the summary the matching writes; the parse's count while
    it has not (a running statement's summary may lack any key)."""
    summary = statement.summary if isinstance(statement.summary, dict) else {}
    lines = int_or_none(summary.get("lines"))
    if lines is None:
        lines = statement.lines_total
    matched = int_or_none(summary.get("matched_lines")) or 0
    return lines, matched


def int_or_none(value: Any) -> int | None:
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
