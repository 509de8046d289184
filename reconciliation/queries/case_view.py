"""The break section of a reconciliation case page: the break, its statement, its lines and
records in full, the candidates of an ambiguous one, write-offs (pending or decided), the
resolution, and what the resolve form offers (the items a person may pick, the reasons, and
whether a write-off of this size needs an ops manager's approval)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from configuration.documents import load_typed
from core.db import Database
from identity.actors import Actor
from models.aml import Transaction
from models.base import utcnow
from models.cases import Case
from models.reconciliation import (
    BREAK_KINDS,
    RESOLUTIONS,
    ReconBreak,
    ReconLine,
    ReconMatch,
    ReconMatchLine,
    ReconMatchRecord,
    ReconSource,
    ReconStatement,
    ReconWriteOff,
)
from models.staff import StaffUser
from reconciliation.commands.breaks import eur_value, write_off_needs_approval
from reconciliation.commands.breaks import open_amount as write_off_limit
from reconciliation.policy import ReconciliationPolicy
from reconciliation.queries.ageing import AGE_LABELS, age_bucket
from reconciliation.queries.amounts import amount_text
from reconciliation.queries.lines_and_records import LineView, RecordView, line_view, record_view
from reconciliation.rules import EXPLAIN_REASONS, WRITE_OFF_REASONS
from shared.days import day_start

MORE_PICKABLE = 20  # other unmatched lines / records of the same amount offered to pick from
ACTIONS = {
    "matched": "Match by hand",
    "explained": "Explain",
    "write_off": "Write off",
}


@dataclass
class WriteOffView:
    id: uuid.UUID
    amount: str
    currency: str
    amount_eur: str
    reason_code: str
    reason_label: str
    note: str | None
    proposed_by: str | None
    proposed_at: datetime
    needs_approval: bool
    status: str  # proposed | booked | rejected
    decided_by: str | None
    decided_at: datetime | None


@dataclass
class Pickable:
    """A line or record the resolve form offers, and why it is offered."""

    key: str  # the form value: a line number, or a transaction id
    role: str  # break | candidate | same_amount
    line: LineView | None = None
    record: RecordView | None = None


@dataclass
class ReconCaseView:
    case: Case
    brk: ReconBreak
    kind_label: str
    amount: str
    difference: str
    open_amount: str  # what a write-off defaults to (and may be at most): see breaks.open_amount
    statement: ReconStatement
    source: ReconSource
    age_days: int
    age_label: str
    lines: list[LineView]
    records: list[RecordView]
    candidate_lines: list[LineView]
    candidate_records: list[RecordView]
    write_offs: list[WriteOffView]
    pending_write_off: WriteOffView | None
    resolution_label: str | None
    reason_label: str | None
    resolved_by: str | None
    manual_match: int | None  # the match number the resolution made, if matched by hand
    pick_lines: list[Pickable]
    pick_records: list[Pickable]
    threshold_eur: int
    open_amount_eur: str | None  # None: no indicative rate for the currency
    needs_approval: bool | None
    approval_text: str
    actions: dict[str, str] = field(default_factory=lambda: dict(ACTIONS))
    explain_reasons: dict[str, str] = field(default_factory=lambda: dict(EXPLAIN_REASONS))
    write_off_reasons: dict[str, str] = field(default_factory=lambda: dict(WRITE_OFF_REASONS))


def approval_sentence(
    amount: Decimal, currency: str, threshold_eur: int
) -> tuple[bool | None, str, str | None]:
    """(needs approval, the sentence the form shows, the EUR value)."""
    eur = eur_value(amount, currency)
    shown = f"{amount_text(abs(amount), currency)} {currency}"
    if eur is None:
        return (
            True,
            f"There is no indicative EUR rate for {currency}: a write-off of {shown} needs "
            "an ops manager's approval.",
            None,
        )
    about = f" (about {eur} EUR)" if currency != "EUR" else ""
    if write_off_needs_approval(eur, threshold_eur):
        return (
            True,
            f"A write-off of {shown}{about} is above the {threshold_eur} EUR threshold: "
            "an ops manager must approve it (four-eyes), never the proposer.",
            str(eur),
        )
    return (
        False,
        f"A write-off of {shown}{about} is within the {threshold_eur} EUR threshold: "
        "it is booked at once.",
        str(eur),
    )


async def break_case_id(db: Database, break_id: uuid.UUID) -> uuid.UUID | None:
    """The case a break is worked in (None: no such break, or no case yet)."""
    async with db.session() as session:
        brk = await session.get(ReconBreak, break_id)
    return brk.case_id if brk is not None else None


async def recon_case_view(db: Database, actor: Actor, case: Case) -> ReconCaseView | None:
    """The break section of a case page (the caller has checked the actor may see the case)."""
    now = utcnow()
    _, policy = await load_typed(db, "reconciliation", ReconciliationPolicy)
    async with db.session() as session:
        brk = (await session.exec(select(ReconBreak).where(ReconBreak.case_id == case.id))).first()
        if brk is None:
            return None
        statement = await session.get(ReconStatement, brk.statement_id)
        source = await session.get(ReconSource, brk.source_id)
        assert statement is not None and source is not None
        wanted_lines = sorted({*brk.line_nos, *brk.candidate_line_nos})
        lines = (
            {
                line.line_no: line
                for line in (
                    await session.exec(
                        select(ReconLine).where(
                            ReconLine.statement_id == brk.statement_id,
                            col(ReconLine.line_no).in_(wanted_lines),
                        )
                    )
                ).all()
            }
            if wanted_lines
            else {}
        )
        wanted_records = list({*brk.record_ids, *brk.candidate_record_ids})
        records = (
            {
                t.id: t
                for t in (
                    await session.exec(
                        select(Transaction).where(col(Transaction.id).in_(wanted_records))
                    )
                ).all()
            }
            if wanted_records
            else {}
        )
        write_offs = [
            WriteOffView(
                id=w.id,
                amount=amount_text(w.amount, w.currency),
                currency=w.currency,
                amount_eur=amount_text(w.amount_eur, "EUR")
                if w.amount_eur is not None
                else "no EUR rate",
                reason_code=w.reason_code,
                reason_label=WRITE_OFF_REASONS.get(w.reason_code, w.reason_code),
                note=w.note,
                proposed_by=proposer,
                proposed_at=w.proposed_at,
                needs_approval=w.needs_approval,
                status=w.status,
                decided_by=decider,
                decided_at=w.decided_at,
            )
            for w, proposer, decider in (
                await session.exec(
                    select(
                        ReconWriteOff,
                        select(StaffUser.username)
                        .where(StaffUser.id == ReconWriteOff.proposed_by)
                        .scalar_subquery(),
                        select(StaffUser.username)
                        .where(StaffUser.id == ReconWriteOff.decided_by)
                        .scalar_subquery(),
                    )
                    .where(ReconWriteOff.break_id == brk.id)
                    .order_by(col(ReconWriteOff.proposed_at))
                )
            ).all()
        ]
        resolver = await session.get(StaffUser, brk.resolved_by) if brk.resolved_by else None
        manual = (
            await session.exec(
                select(ReconMatch.match_no).where(
                    ReconMatch.statement_id == brk.statement_id, ReconMatch.break_id == brk.id
                )
            )
        ).first()
        more_lines: list[ReconLine] = []
        more_records: list[Transaction] = []
        if brk.status == "open":
            more_lines, more_records = await _same_amount(
                session, brk, source, wanted_lines, wanted_records, policy.date_window_days
            )
    open_amount = write_off_limit(brk)  # what resolve_break accepts at most, unsigned
    needs, text, eur = approval_sentence(open_amount, brk.currency, policy.write_off_threshold_eur)
    days = max((now - brk.created_at).days, 0)
    pick_lines = [
        Pickable(str(n), "break" if n in brk.line_nos else "candidate", line=line_view(lines[n]))
        for n in [*brk.line_nos, *(c for c in brk.candidate_line_nos if c not in brk.line_nos)]
        if n in lines
    ] + [Pickable(str(line.line_no), "same_amount", line=line_view(line)) for line in more_lines]
    own_records = [
        *brk.record_ids,
        *(c for c in brk.candidate_record_ids if c not in brk.record_ids),
    ]
    pick_records = [
        Pickable(
            str(r), "break" if r in brk.record_ids else "candidate", record=record_view(records[r])
        )
        for r in own_records
        if r in records
    ] + [Pickable(str(t.id), "same_amount", record=record_view(t)) for t in more_records]
    pending = next((w for w in write_offs if w.status == "proposed"), None)
    return ReconCaseView(
        case=case,
        brk=brk,
        kind_label=BREAK_KINDS.get(brk.kind, brk.kind),
        amount=amount_text(brk.amount, brk.currency),
        difference=amount_text(brk.difference, brk.currency),
        open_amount=amount_text(open_amount, brk.currency),
        statement=statement,
        source=source,
        age_days=days,
        age_label=AGE_LABELS[age_bucket(days)],
        lines=[line_view(lines[n]) for n in brk.line_nos if n in lines],
        records=[record_view(records[r]) for r in brk.record_ids if r in records],
        candidate_lines=[line_view(lines[n]) for n in brk.candidate_line_nos if n in lines],
        candidate_records=[
            record_view(records[r]) for r in brk.candidate_record_ids if r in records
        ],
        write_offs=write_offs,
        pending_write_off=pending,
        resolution_label=RESOLUTIONS.get(brk.resolution) if brk.resolution else None,
        reason_label=(
            {**EXPLAIN_REASONS, **WRITE_OFF_REASONS}.get(brk.reason_code, brk.reason_code)
            if brk.reason_code
            else None
        ),
        resolved_by=resolver.username if resolver else None,
        manual_match=manual,
        pick_lines=pick_lines,
        pick_records=pick_records,
        threshold_eur=policy.write_off_threshold_eur,
        open_amount_eur=eur,
        needs_approval=needs,
        approval_text=text,
    )


async def _same_amount(
    session: AsyncSession,
    brk: ReconBreak,
    source: ReconSource,
    known_lines: list[int],
    known_records: list[uuid.UUID],
    window_days: int,
) -> tuple[list[ReconLine], list[Transaction]]:
    """Still-unmatched lines of the same statement, and unmatched records of the source's
    currency and channels, of the break's amount (either sign) near its booking day."""
    size = abs(brk.amount)
    matched_line = (
        select(ReconMatchLine.line_no)
        .where(
            ReconMatchLine.statement_id == ReconLine.statement_id,
            ReconMatchLine.line_no == ReconLine.line_no,
        )
        .exists()
    )
    lines = list(
        (
            await session.exec(
                select(ReconLine)
                .where(
                    ReconLine.statement_id == brk.statement_id,
                    func.abs(ReconLine.amount) == size,
                    col(ReconLine.line_no).not_in(known_lines or [-1]),
                    ~matched_line,
                )
                .order_by(col(ReconLine.line_no))
                .limit(MORE_PICKABLE)
            )
        ).all()
    )
    start = day_start(brk.booked_on - timedelta(days=window_days + 1))
    end = day_start(brk.booked_on + timedelta(days=window_days + 2))
    matched_record = (
        select(ReconMatchRecord.transaction_id)
        .where(ReconMatchRecord.transaction_id == Transaction.id)
        .exists()
    )
    records = list(
        (
            await session.exec(
                select(Transaction)
                .where(
                    Transaction.currency == source.currency,
                    col(Transaction.channel).in_(source.channels or ["-"]),
                    Transaction.amount == size,
                    col(Transaction.booked_at) >= start,
                    col(Transaction.booked_at) < end,
                    col(Transaction.id).not_in(known_records or [uuid.UUID(int=0)]),
                    ~matched_record,
                )
                .order_by(col(Transaction.booked_at))
                .limit(MORE_PICKABLE)
            )
        ).all()
    )
    return lines, records
