"""Activities of reconciliation: parse (heartbeating, resumable), match, open break cases,
raise our unmatched records as breaks, and record resolutions and write-off decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from concurrent.futures import Future
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from multiprocessing.connection import Connection
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.errors import refusal_for_lines
from activities.faults import crash_point
from activities.outage import not_committed_yet, retry_on_outage
from audit import trail as audit
from audit.trail import SYSTEM
from casework import store
from casework.starting import CaseRef, start_case
from configuration.documents import load_config
from core import cpu_pool
from core.db import Database, jsonb_param, run_sql
from models.base import utcnow
from models.recon_io import (
    BreakInput,
    OpenBreaksInput,
    OpenBreaksResult,
    ParseResult,
    StatementInput,
)
from models.reconciliation import (
    BREAK_KINDS,
    ReconBreak,
    ReconSource,
    ReconStatement,
    ReconStatementFile,
)
from reconciliation.commands import bulk
from reconciliation.commands.sources import listed_accounts
from reconciliation.engines.accounts import section_problem
from reconciliation.engines.csv_mapping import CsvMapping
from reconciliation.engines.lines import StatementLine, StatementRefused, StatementSection
from reconciliation.engines.matching import MatchSettings, match
from reconciliation.engines.parse_stream import line_from_row, stream_statement
from reconciliation.engines.parsing import count_entries
from reconciliation.policy import ReconciliationPolicy
from reconciliation.rules import CASE_TYPE_RECON, break_workflow_id

log = logging.getLogger(__name__)
CHUNK = 20_000  # lines stored per transaction (and per heartbeat) while parsing
CASES_PER_TRANSACTION = 200
STARTS_IN_FLIGHT = 32


def balance_of(section: StatementSection) -> dict[str, Any]:
    """A section's balance check: does opening + entries come to the closing balance?"""
    expected = (
        section.opening_balance + section.entries_sum
        if section.opening_balance is not None
        else None
    )
    ok = (
        None
        if expected is None or section.closing_balance is None
        else expected == section.closing_balance
    )
    return {
        "section": section.index,
        "statement_id": section.statement_id,
        "account": section.account,
        "currency": section.currency,
        "opening": _text(section.opening_balance),
        "closing": _text(section.closing_balance),
        "entries": section.entries,
        "sum": _text(section.entries_sum),
        "expected_closing": _text(expected),
        "ok": ok,
        "period_from": section.period_from.isoformat() if section.period_from else None,
        "period_to": section.period_to.isoformat() if section.period_to else None,
    }


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else format(amount, "f")


@contextlib.asynccontextmanager
async def heartbeating(detail: str, every: float = 10.0) -> AsyncIterator[None]:
    """Heartbeat while a long step awaits (loading, reading or matching in the CPU pool,
    COPY): Temporal then tells a dead worker from a busy one within the heartbeat timeout."""

    async def beat() -> None:
        while True:
            activity.heartbeat(detail)
            await asyncio.sleep(every)

    beating = asyncio.create_task(beat())
    try:
        yield
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating


async def lock_source(session: AsyncSession, source_id: uuid.UUID) -> None:
    """One statement of a source claims records of ours at a time (matching, raising our
    unmatched records), until the transaction ends."""
    await run_sql(
        session, "SELECT pg_advisory_xact_lock(hashtext(:k))", {"k": f"recon:{source_id}"}
    )


async def load_policy(db: Database, version: int | None) -> tuple[int, ReconciliationPolicy]:
    """The reconciliation policy: the given version (a statement's), or the current one."""
    found = await load_config(db, "reconciliation", version=version)
    assert isinstance(found.values, ReconciliationPolicy)
    return found.version, found.values


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=UTC)


class ReconActivities:
    def __init__(self, db: Database):
        self.db = db

    # ------------------------------------------------------------------ statements
    async def _policy(self, version: int | None) -> tuple[int, ReconciliationPolicy]:
        return await load_policy(self.db, version)

    @activity.defn
    @retry_on_outage
    async def parse_statement(self, inp: StatementInput) -> ParseResult:
        """Read the file, storing its lines in chunks; resumable, and refusing with where/why."""
        async with self.db.session() as session:
            statement = await session.get(ReconStatement, inp.statement_id)
            if statement is None:
                raise not_committed_yet(f"statement {inp.statement_id}")
            source = await session.get(ReconSource, statement.source_id)
            stored = await session.get(ReconStatementFile, inp.statement_id)
            assert source is not None and stored is not None
            content = stored.content
            if statement.status == "refused":
                return ParseResult(refused=True)
            if statement.status not in ("received", "parsing"):
                return await self._parsed(statement)
            already = (
                await run_sql(
                    session,
                    "SELECT coalesce(max(line_no), 0) FROM recon_line WHERE statement_id = :s",
                    {"s": inp.statement_id},
                )
            ).scalar_one()
        policy_version, policy = await self._policy(statement.policy_version)
        mapping = CsvMapping.model_validate(source.csv_mapping) if source.format == "csv" else None
        total = count_entries(source.format, content)
        await self._progress(inp.statement_id, status="parsing", read=already, total=total)

        sections: list[StatementSection] = []
        try:
            # Read in a pool child (the parser holds the GIL for seconds on a large file),
            # a chunk ahead of the storing; lines an earlier attempt stored are skipped.
            async with (
                heartbeating("parsing"),
                contextlib.aclosing(
                    _read_in_pool(source.format, content, mapping, already)
                ) as chunks,
            ):
                async for read, lines, found in chunks:
                    sections.extend(found)
                    # A statement for an account the source does not list is refused as
                    # soon as it is read, naming the account (not after the whole file).
                    problem = _sections_problem(source, found)
                    if problem is not None:
                        raise problem
                    if lines:
                        await self._store(inp.statement_id, lines, read, total)
            problem = _scope_problem(source, sections)
            if problem is not None:
                raise problem
        except StatementRefused as refusal:
            await self._refuse(statement, refusal.location, refusal.reason)
            return ParseResult(refused=True)
        return await self._finish_parse(
            statement, source, sections, policy_version, policy, resumed_from=already
        )

    async def _store(
        self, statement_id: uuid.UUID, lines: list[StatementLine], read: int, total: int
    ) -> None:
        try:
            async with self.db.transaction() as session:
                await bulk.copy_lines(session, statement_id, lines)
                await run_sql(
                    session,
                    "UPDATE recon_statement SET lines_read = :r, lines_total = greatest(:t, :r) "
                    "WHERE id = :s",
                    {"r": read, "t": total, "s": statement_id},
                )
        except Exception as exc:
            # Lines the database will not store (data the parser let through) refuse the
            # statement naming the line, rather than fail its workflow mid-parse.
            refusal = refusal_for_lines(exc, lines)
            if refusal is None:
                raise
            raise refusal from None
        crash_point("recon_parse_chunk")
        activity.heartbeat(read)

    async def _progress(
        self, statement_id: uuid.UUID, *, status: str, read: int, total: int
    ) -> None:
        async with self.db.transaction() as session:
            await run_sql(
                session,
                "UPDATE recon_statement SET status = :st, lines_read = :r, lines_total = :t "
                "WHERE id = :s AND status IN ('received', 'parsing')",
                {"st": status, "r": read, "t": max(total, read), "s": statement_id},
            )
        activity.heartbeat(read)

    async def _refuse(self, statement: ReconStatement, location: str, reason: str) -> None:
        """All or nothing: the refusal and the removal of every line an attempt stored commit
        together, so a refused statement holds no lines (and blocks no later upload)."""
        # The reason may quote the file; PostgreSQL text and JSON cannot hold a NUL.
        location, reason = (text.replace("\x00", "\\x00") for text in (location, reason))
        async with self.db.transaction() as session:
            await run_sql(
                session,
                "UPDATE recon_statement SET status = 'refused', refused_location = :loc, "
                "refused_reason = :why, identity = NULL, lines_read = 0, lines_total = 0 "
                "WHERE id = :s",
                {"loc": location[:300], "why": reason[:1000], "s": statement.id},
            )
            # recon_line is append-only for us; this deletes a refused statement's only.
            discarded = (
                await run_sql(
                    session, "SELECT recon_discard_refused_lines(:s)", {"s": statement.id}
                )
            ).scalar_one()
            await audit.record(
                session,
                action="recon.statement_refused",
                actor=SYSTEM,
                object_type="recon_statement",
                object_id=statement.id,
                workflow_id=statement.workflow_id,
                details={
                    "reference": statement.reference,
                    "where": location,
                    "why": reason,
                    "lines_discarded": discarded,
                },
            )

    async def _finish_parse(
        self,
        statement: ReconStatement,
        source: ReconSource,
        sections: list[StatementSection],
        policy_version: int,
        policy: ReconciliationPolicy,
        *,
        resumed_from: int,
    ) -> ParseResult:
        balances = [balance_of(s) for s in sections]
        checks = [b["ok"] for b in balances if b["ok"] is not None]
        balance_ok = all(checks) if checks else None
        async with self.db.session() as session:
            span = (
                await run_sql(
                    session,
                    "SELECT count(*), min(booked_on), max(booked_on) FROM recon_line "
                    "WHERE statement_id = :s",
                    {"s": statement.id},
                )
            ).one()
        lines, first_day, last_day = span
        period_from = min((s.period_from for s in sections if s.period_from), default=first_day)
        period_to = max((s.period_to for s in sections if s.period_to), default=last_day)
        identity = None
        if source.format != "csv" and sections:
            ids = ",".join(s.statement_id or "-" for s in sections)
            identity = f"{sections[0].account}|{ids}|{period_from}|{period_to}"[:300]
        window_ends = (
            _midnight(period_to) + timedelta(days=1 + policy.record_window_days)
            if period_to
            else None
        )
        try:
            async with self.db.transaction() as session:
                await run_sql(
                    session,
                    "UPDATE recon_statement SET status = 'matching', lines_read = :n, "
                    "lines_total = :n, account = :acct, currency = :ccy, period_from = :pf, "
                    "period_to = :pt, identity = :ident, balances = CAST(:bal AS jsonb), "
                    "balance_ok = :ok, policy_version = :pv, record_window_ends_at = :we "
                    "WHERE id = :s AND status = 'parsing'",
                    {
                        "n": lines,
                        "acct": sections[0].account if sections else None,
                        "ccy": sections[0].currency if sections else source.currency,
                        "pf": period_from,
                        "pt": period_to,
                        "ident": identity,
                        "bal": jsonb_param(balances),
                        "ok": balance_ok,
                        "pv": policy_version,
                        "we": window_ends,
                        "s": statement.id,
                    },
                )
                await audit.record(
                    session,
                    action="recon.statement_parsed",
                    actor=SYSTEM,
                    object_type="recon_statement",
                    object_id=statement.id,
                    workflow_id=statement.workflow_id,
                    details={
                        "reference": statement.reference,
                        "lines": lines,
                        "sections": len(sections),
                        "balance_ok": balance_ok,
                        # Lines an earlier attempt had stored (a resumed parse skips them).
                        "resumed_from": resumed_from,
                    },
                )
        except IntegrityError:
            # Another file of the very same statement (account, ids, period) was processed.
            async with self.db.session() as session:
                other = (
                    await session.exec(
                        select(ReconStatement).where(
                            ReconStatement.source_id == source.id,
                            ReconStatement.identity == identity,
                            ReconStatement.status != "refused",
                        )
                    )
                ).first()
            name = other.reference if other else "another upload"
            await self._refuse(
                statement,
                "statement " + ", ".join(s.statement_id or "?" for s in sections),
                f"this statement was already processed as {name} (same account, statement "
                "and period); it is not processed twice",
            )
            return ParseResult(refused=True)
        async with self.db.session() as session:
            fresh = await session.get(ReconStatement, statement.id)
            assert fresh is not None
        return await self._parsed(fresh)

    async def _parsed(self, statement: ReconStatement) -> ParseResult:
        return ParseResult(
            refused=statement.status == "refused",
            lines=statement.lines_read,
            sections=len(statement.balances),
            balance_ok=statement.balance_ok,
            record_window_ends_at=statement.record_window_ends_at,
            policy_version=statement.policy_version,
        )

    @activity.defn
    @retry_on_outage
    async def match_statement(self, inp: StatementInput) -> dict[str, int]:
        """Run the passes and store matches and breaks, once (a retry stores nothing again)."""
        async with self.db.session() as session:
            statement = await session.get(ReconStatement, inp.statement_id)
            assert statement is not None
            source = await session.get(ReconSource, statement.source_id)
            assert source is not None
        if statement.status == "matched":  # a retry after our commit
            await self._signal_matched_breaks(statement)
            return dict(statement.summary.get("breaks", {}))
        _, policy = await self._policy(statement.policy_version)
        settings = MatchSettings.from_policy(policy, source)
        assert statement.period_from is not None and statement.period_to is not None
        reach = timedelta(days=policy.date_window_days + policy.record_window_days)
        async with heartbeating("matching"), self.db.transaction() as session:
            await lock_source(session, source.id)
            status = (
                await run_sql(
                    session, "SELECT status FROM recon_statement WHERE id = :s", {"s": statement.id}
                )
            ).scalar_one()
            if status == "matched":  # an earlier attempt finished while this one waited
                counts = await bulk.stored_counts(session, statement.id)
            else:
                lines = await bulk.load_lines(session, statement.id)
                records = await bulk.load_records(
                    session,
                    currency=source.currency,
                    channels=list(source.channels),
                    booked_from=statement.period_from - reach,
                    booked_to=statement.period_to + timedelta(days=policy.date_window_days),
                )
                read = len(lines)
                lines, repeated = await bulk.already_matched(session, lines, records)
                # In a thread, not the CPU pool: the passes are numpy/pandas calls that let
                # other threads run (500 000 lines: 0.6 s, no thread kept from the GIL for
                # more than 0.15 s), while sending the frames to a child would hold the GIL
                # longer (pickling them: 0.8 s, 0.3 s in one go) than the passes take.
                result = await asyncio.to_thread(match, lines, records, settings)
                result.breaks.extend(repeated)
                counts = await bulk.save_result(
                    session, statement.id, source.id, source.currency, result
                )
                summary = {
                    "lines": read,
                    "records_in_scope": len(records),
                    "matched_lines": int(sum(result.pass_counts.values())),
                    "pass_counts": {k: int(v) for k, v in result.pass_counts.items()},
                    "breaks": counts,
                    "seconds": {k: round(float(v), 3) for k, v in result.seconds.items()},
                }
                await run_sql(
                    session,
                    "UPDATE recon_statement SET status = 'matched', matched_at = now(), "
                    "summary = CAST(:summary AS jsonb) WHERE id = :s",
                    {"summary": jsonb_param(summary), "s": statement.id},
                )
                await audit.record(
                    session,
                    action="recon.statement_matched",
                    actor=SYSTEM,
                    object_type="recon_statement",
                    object_id=statement.id,
                    workflow_id=statement.workflow_id,
                    details={"reference": statement.reference, **summary},
                )
                await close_matched_record_breaks(session, statement)
        await self._signal_matched_breaks(statement)
        return counts

    async def _signal_matched_breaks(self, statement: ReconStatement) -> None:
        """Tell the workflows of the breaks this statement resolved (after the commit; again
        on a retry: a workflow takes the first signal, a finished one none)."""
        async with self.db.session() as session:
            ids = (
                await run_sql(
                    session,
                    "SELECT id FROM recon_break WHERE matched_on_statement_id = :s",
                    {"s": statement.id},
                )
            ).scalars()
            workflow_ids = [break_workflow_id(i) for i in ids]
        client = activity.client()
        for workflow_id in workflow_ids:
            with contextlib.suppress(RPCError):  # finished, or never started
                await client.get_workflow_handle(workflow_id).signal(
                    "matched_elsewhere", statement.reference
                )

    @activity.defn
    @retry_on_outage
    async def raise_record_breaks(self, inp: StatementInput) -> int:
        """Our records of the period that no statement matched within the window: breaks."""
        async with self.db.transaction() as session:
            statement = await session.get(ReconStatement, inp.statement_id)
            assert statement is not None
            source = await session.get(ReconSource, statement.source_id)
            assert source is not None
            await lock_source(session, source.id)
            rows = (
                await run_sql(
                    session,
                    "INSERT INTO recon_break (id, dedupe_key, statement_id, source_id, kind, "
                    "line_nos, record_ids, candidate_line_nos, candidate_record_ids, amount, "
                    "difference, currency, booked_on, status, created_at) "
                    "SELECT gen_random_uuid(), 'record:' || t.id, :s, :src, 'unmatched_record', "
                    "'{}', ARRAY[t.id], '{}', '{}', "
                    "CASE WHEN t.direction = 'in' THEN t.amount ELSE -t.amount END, 0, "
                    "t.currency, (t.booked_at AT TIME ZONE 'UTC')::date, 'open', now() "
                    'FROM "transaction" t '
                    "WHERE t.currency = :ccy AND t.channel = ANY(:channels) "
                    "AND t.booked_at >= :from_ AND t.booked_at < :to_ "
                    "AND NOT EXISTS (SELECT 1 FROM recon_match_record m "
                    "WHERE m.transaction_id = t.id) "
                    "AND NOT EXISTS (SELECT 1 FROM recon_break b WHERE b.status = 'open' "
                    "AND (t.id = ANY(b.record_ids) OR t.id = ANY(b.candidate_record_ids))) "
                    "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
                    {
                        "s": statement.id,
                        "src": source.id,
                        "ccy": source.currency,
                        "channels": list(source.channels),
                        "from_": _midnight(statement.period_from)
                        if statement.period_from
                        else utcnow(),
                        "to_": _midnight(statement.period_to) + timedelta(days=1)
                        if statement.period_to
                        else utcnow(),
                    },
                )
            ).all()
            await run_sql(
                session,
                "UPDATE recon_statement SET records_checked_at = now() WHERE id = :s",
                {"s": statement.id},
            )
            await audit.record(
                session,
                action="recon.records_checked",
                actor=SYSTEM,
                object_type="recon_statement",
                object_id=statement.id,
                workflow_id=statement.workflow_id,
                details={"reference": statement.reference, "unmatched_records": len(rows)},
            )
        return len(rows)

    # ------------------------------------------------------------------ break cases
    @activity.defn
    @retry_on_outage
    async def open_break_cases(self, inp: OpenBreaksInput) -> OpenBreaksResult:
        """A case per break (in chunks, audited), then the break's workflow (idempotent)."""
        async with self.db.session() as session:
            statement = await session.get(ReconStatement, inp.statement_id)
            assert statement is not None
        _, policy = await self._policy(statement.policy_version)
        opened = 0
        while True:
            async with self.db.transaction() as session:
                breaks = (
                    await session.exec(
                        select(ReconBreak)
                        .where(
                            ReconBreak.statement_id == inp.statement_id,
                            ReconBreak.case_id.is_(None),  # type: ignore[union-attr]
                        )
                        .order_by(col(ReconBreak.created_at), col(ReconBreak.dedupe_key))
                        .limit(CASES_PER_TRANSACTION)
                        .with_for_update(skip_locked=True)
                    )
                ).all()
                if not breaks:
                    break
                for brk in breaks:
                    await self._open_case(session, statement, brk)
                opened += len(breaks)
            activity.heartbeat(opened)
        await self._start_break_workflows(statement, policy)
        return OpenBreaksResult(opened=opened)

    async def _open_case(
        self, session: AsyncSession, statement: ReconStatement, brk: ReconBreak
    ) -> None:
        case = await store.open_case(
            session,
            case_type=CASE_TYPE_RECON,
            title=f"{BREAK_KINDS[brk.kind]}: {format(brk.amount.normalize(), 'f')} "
            f"{brk.currency} ({statement.reference})",
            stage="open",
            subject_type="recon_break",
            subject_id=str(brk.id),
            workflow_id=break_workflow_id(brk.id),
        )
        brk.case_id = case.id
        session.add(brk)
        await session.flush()
        await audit.record(
            session,
            action="recon.break_raised",
            actor=SYSTEM,
            object_type="case",
            object_id=case.id,
            workflow_id=statement.workflow_id,
            details={
                "reference": case.reference,
                "statement": statement.reference,
                "kind": brk.kind,
                "amount": format(brk.amount, "f"),
                "currency": brk.currency,
            },
        )

    async def _start_break_workflows(
        self, statement: ReconStatement, policy: ReconciliationPolicy
    ) -> None:
        async with self.db.session() as session:
            rows = (
                await run_sql(
                    session,
                    'SELECT b.id, c.id AS case_id, c.reference FROM recon_break b JOIN "case" c '
                    "ON c.id = b.case_id WHERE b.statement_id = :s AND b.status = 'open' "
                    "ORDER BY c.reference",
                    {"s": statement.id},
                )
            ).all()
        client = activity.client()
        task_queue = activity.info().task_queue
        gate = asyncio.Semaphore(STARTS_IN_FLIGHT)

        async def start(row: Any) -> None:
            # Started by an earlier attempt: nothing to do.
            async with gate:
                with contextlib.suppress(WorkflowAlreadyStartedError):
                    await start_case(
                        None,
                        client,
                        CaseRef(row.case_id, CASE_TYPE_RECON, "open", break_workflow_id(row.id)),
                        BreakInput(
                            break_id=row.id,
                            case_id=row.case_id,
                            reference=row.reference,
                            sla_seconds=policy.break_sla_hours * 3600,
                            approval_sla_seconds=policy.write_off_approval_sla_hours * 3600,
                        ),
                        task_queue=task_queue,
                        event=None,  # the break's raising is audited with its case
                        summary=f"{row.reference} reconciliation break",
                        what="the break",
                    )

        for offset in range(0, len(rows), 500):
            await asyncio.gather(*(start(r) for r in rows[offset : offset + 500]))
            activity.heartbeat(offset)

    # ------------------------------------------------------------------ resolutions


async def close_matched_record_breaks(session: AsyncSession, statement: ReconStatement) -> int:
    """Open breaks about records of ours that this statement has now matched (a timing
    difference that resolved itself): resolved, with their cases and tasks, in the matching
    transaction. A break with a write-off awaiting approval is left to its approver."""
    closed = (
        await run_sql(
            session,
            "UPDATE recon_break b SET status = 'resolved', resolution = 'matched_later', "
            "resolved_at = now(), matched_on_statement_id = :s, "
            "note = 'Matched on ' || :ref WHERE b.status = 'open' "
            "AND b.kind = 'unmatched_record' AND b.source_id = :src "
            "AND EXISTS (SELECT 1 FROM recon_match_record m WHERE m.statement_id = :s "
            "AND m.transaction_id = ANY(b.record_ids)) "
            "AND NOT EXISTS (SELECT 1 FROM recon_write_off w WHERE w.break_id = b.id "
            "AND w.status = 'proposed') RETURNING b.id, b.case_id",
            {"s": statement.id, "ref": statement.reference, "src": statement.source_id},
        )
    ).all()
    for break_id, case_id in closed:
        if case_id is None:
            continue
        await store.close_case(
            session,
            case_id,
            outcome="matched_later",
            reason=statement.reference,
            now=utcnow(),
            stage="resolved",
        )
        await audit.record(
            session,
            action="recon.break_resolved",
            actor=SYSTEM,
            object_type="case",
            object_id=case_id,
            workflow_id=statement.workflow_id,
            details={
                "break_id": break_id,
                "resolution": "matched_later",
                "statement": statement.reference,
            },
        )
    return len(closed)


async def _read_in_pool(
    fmt: str, content: bytes, mapping: CsvMapping | None, already: int
) -> AsyncGenerator[tuple[int, list[StatementLine], list[StatementSection]], None]:
    """The file read in a pool child (`reconciliation.engines.parse_stream`): the line number
    reached, the lines to store and the sections read with them, a chunk at a time; raises
    StatementRefused where the file is refused. A parser failing on a file it should have
    refused refuses it (logged for us) rather than being retried for hours on the same bytes.
    """
    receiver, sender = multiprocessing.Pipe(duplex=False)
    try:
        job = await cpu_pool.start(stream_statement, sender, fmt, content, mapping, already, CHUNK)
    except BaseException:
        receiver.close()
        sender.close()
        raise
    try:
        while True:
            message = await asyncio.to_thread(_receive, receiver, job)
            if message[0] == "refused":
                _, location, reason, failure = message
                if failure is not None:
                    log.error("the %s parser failed on a statement\n%s", fmt, failure)
                raise StatementRefused(location, reason)
            kind, read, lines, sections = message
            yield read, lines, sections
            if kind == "end":
                return
    finally:
        job.cancel()  # not started yet: it never will be
        receiver.close()  # a child still reading gets a broken pipe and stops
        sender.close()


def _receive(receiver: Connection, job: Future[None]) -> Any:
    """The reading child's next message (in a thread: waiting and unpickling a chunk hold
    neither the event loop nor, for long, the GIL)."""
    while not receiver.poll(0.5):
        if job.done():
            job.result()  # a child that died: BrokenProcessPool (retried)
            if not receiver.poll(0):
                raise RuntimeError("the statement reader stopped without its last message")
    message = receiver.recv()
    if message[0] in ("chunk", "end"):
        kind, read, rows, sections = message
        return kind, read, [line_from_row(row) for row in rows], sections
    return message


def _scope_problem(
    source: ReconSource, sections: list[StatementSection]
) -> StatementRefused | None:
    """A statement of another account or currency than its source's is not matched."""
    if not sections:
        return StatementRefused("the whole file", "it holds no statement entries or balances")
    return _sections_problem(source, sections)


def _sections_problem(
    source: ReconSource, sections: list[StatementSection]
) -> StatementRefused | None:
    """The first section for an account the source does not list (compared normalised:
    reconciliation.engines.accounts), or in another currency."""
    for s in sections:
        problem = section_problem(
            s,
            source_name=source.name,
            source_format=source.format,
            listed=listed_accounts(source),
            source_currency=source.currency,
        )
        if problem is not None:
            return problem
    return None
