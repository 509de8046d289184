"""One statement: its header, refusal, progress, balances, passes, matched pairs (paged, see
matched_pairs) and its breaks (paged, see break_queue); and just its row, for the polled
progress fragment.

statement_detail and statement_progress check `reconciliation` / `read` first (audited when
refused).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import col, select

from core.db import Database, run_sql
from identity.access import not_found, require
from identity.actors import Actor
from models.base import utcnow
from models.reconciliation import PASSES, ReconBreak, ReconSource, ReconStatement
from models.staff import StaffUser
from reconciliation.commands.statements import refusal_next_step
from reconciliation.queries.amounts import amount_text
from reconciliation.queries.break_queue import BreakPage, list_breaks
from reconciliation.queries.matched_pairs import MatchView, statement_matches
from reconciliation.queries.statement_list import (
    StatementRow,
    break_counts,
    int_or_none,
    statement_row,
)
from shared.errors import Invalid
from shared.spreadsheets import share


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
    # What to do about a refusal (the file kept nothing and may be uploaded again).
    refused_next_step: str | None = None
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
        section=int_or_none(item.get("section")),
        statement_id=str(item["statement_id"]) if item.get("statement_id") else None,
        account=str(item["account"]) if item.get("account") else None,
        opening=money("opening"),
        closing=money("closing"),
        entries=int_or_none(item.get("entries")),
        sum=money("sum"),
        expected_closing=money("expected_closing"),
        gap=gap,
        ok=ok if isinstance(ok, bool) else None,
    )


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
        matches, match_total = await statement_matches(
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
    breaks = await list_breaks(
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
        refused_next_step=refusal_next_step(statement.refused_reason)
        if statement.status == "refused"
        else None,
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
