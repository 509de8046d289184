"""Activities of a reconciliation break: a resolution recorded with its decision (matched by
hand, explained, or a write-off booked or proposed), and an ops manager's answer to a
write-off above the threshold.
"""

from __future__ import annotations

import uuid
from datetime import UTC
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity

from activities.outage import retry_on_outage
from activities.reconciliation import load_policy
from activities.tasks import refuse, store_decision
from audit import trail as audit
from audit.trail import ActorRef
from casework import store
from core.db import Database, run_sql
from models.base import utcnow
from models.recon_io import ResolutionResult, ResolveBreakInput, WriteOffDecisionInput
from models.reconciliation import (
    ReconBreak,
    ReconStatement,
    ReconWriteOff,
)
from models.workflow_io import DecisionInput
from reconciliation.commands.breaks import (
    ResolveForm,
    eur_value,
    form_problems,
    write_off_needs_approval,
)
from reconciliation.policy import ReconciliationPolicy


class BreakActivities:
    def __init__(self, db: Database):
        self.db = db

    @activity.defn
    @retry_on_outage
    async def resolve_break(self, inp: ResolveBreakInput) -> ResolutionResult:
        """The resolution and its decision, in one transaction; refusals say why."""
        d = inp.recording.decision
        async with self.db.transaction() as session:
            brk = await session.get(ReconBreak, inp.break_id, with_for_update=True)
            assert brk is not None
            prior = (
                await run_sql(
                    session, "SELECT id FROM decision WHERE task_id = :t", {"t": d.task_id}
                )
            ).first()
            if prior is not None:  # a retry after our own commit
                decision = await store_decision(session, inp.recording)
                write_off = (
                    await session.exec(
                        select(ReconWriteOff).where(ReconWriteOff.decision_id == prior.id)
                    )
                ).first()
                return ResolutionResult(
                    resolved=brk.status == "resolved",
                    write_off_id=write_off.id if write_off else None,
                    decision_id=decision.decision_id,
                )
            if brk.status != "open":
                raise refuse("This break is already resolved.", "already_resolved")
            statement = await session.get(ReconStatement, brk.statement_id)
            assert statement is not None
            _, policy = await load_policy(self.db, statement.policy_version)
            form = _form_of(d)
            # The choke point's checks again, whatever door the decision came through.
            problems = form_problems(form, brk)
            if problems:
                raise refuse(" ".join(problems.values()), "resolution_invalid")
            note = (form.note or "").strip() or None
            if form.action == "matched":
                await _match_by_hand(session, brk, statement, form, d.actor_id, policy)
            decision = await store_decision(session, inp.recording)
            if d.outcome == "write_off":
                write_off = await _propose_write_off(
                    session,
                    brk,
                    decision.decision_id,
                    d.details,
                    d.reason_code,
                    note,
                    d.actor_id,
                    policy,
                )
                await audit.record(
                    session,
                    action="recon.write_off_proposed",
                    actor=ActorRef(d.actor_id, d.actor_name),
                    object_type="case",
                    object_id=inp.case_id,
                    origin=d.origin,
                    workflow_id=inp.workflow_id,
                    details={
                        "write_off_id": write_off.id,
                        "amount": format(write_off.amount, "f"),
                        "currency": write_off.currency,
                        "amount_eur": write_off.amount_eur,
                        "needs_approval": write_off.needs_approval,
                    },
                )
                if write_off.needs_approval:
                    return ResolutionResult(
                        resolved=False, write_off_id=write_off.id, decision_id=decision.decision_id
                    )
            await _close_break(
                session,
                brk,
                resolution="written_off" if d.outcome == "write_off" else d.outcome,
                reason_code=d.reason_code,
                note=note,
                by=ActorRef(d.actor_id, d.actor_name),
                case_id=inp.case_id,
                workflow_id=inp.workflow_id,
            )
            return ResolutionResult(resolved=True, decision_id=decision.decision_id)

    @activity.defn
    @retry_on_outage
    async def decide_write_off(self, inp: WriteOffDecisionInput) -> None:
        """An ops manager's answer to a write-off: booked (the break resolved) or rejected."""
        async with self.db.transaction() as session:
            write_off = await session.get(ReconWriteOff, inp.write_off_id, with_for_update=True)
            brk = await session.get(ReconBreak, inp.break_id, with_for_update=True)
            assert write_off is not None and brk is not None
            if write_off.status != "proposed":
                return  # a retry after our own commit
            write_off.status = "booked" if inp.approved else "rejected"
            write_off.decided_by = inp.decided_by
            write_off.decided_at = utcnow()
            session.add(write_off)
            await session.flush()
            approver = await _actor(session, inp.decided_by)
            await audit.record(
                session,
                action="recon.write_off_approved" if inp.approved else "recon.write_off_rejected",
                actor=approver,
                object_type="case",
                object_id=inp.case_id,
                workflow_id=inp.workflow_id,
                details={
                    "write_off_id": write_off.id,
                    "amount": format(write_off.amount, "f"),
                    "currency": write_off.currency,
                },
            )
            if inp.approved:
                await _close_break(
                    session,
                    brk,
                    resolution="written_off",
                    reason_code=write_off.reason_code,
                    note=write_off.note,
                    by=await _actor(session, write_off.proposed_by),
                    case_id=inp.case_id,
                    workflow_id=inp.workflow_id,
                )


def _form_of(d: DecisionInput) -> ResolveForm:
    """The resolution a decision carries, as the choke point's form (to check it again)."""
    try:
        return ResolveForm.model_validate(
            {
                "task_id": d.task_id,
                "action": d.outcome,
                "line_nos": d.details.get("line_nos", []),
                "record_ids": d.details.get("record_ids", []),
                "reason_code": d.reason_code,
                "note": d.comment,
                "amount": d.details.get("amount"),
            }
        )
    except ValidationError:
        raise refuse(
            "The resolution's picks or amount are not valid.", "resolution_invalid"
        ) from None


async def _match_by_hand(
    session: AsyncSession,
    brk: ReconBreak,
    statement: ReconStatement,
    form: ResolveForm,
    actor_id: uuid.UUID,
    policy: ReconciliationPolicy,
) -> None:
    """Lines of this statement and records of ours that belong together: matched as picked,
    when none is matched already and their amounts agree within the tolerance."""
    line_nos = sorted(set(form.line_nos))
    record_ids = sorted(set(form.record_ids))
    # The statement's matches are numbered in order: one hand match at a time.
    await run_sql(
        session, "SELECT 1 FROM recon_statement WHERE id = :s FOR UPDATE", {"s": statement.id}
    )
    lines = (
        await run_sql(
            session,
            "SELECT l.line_no, l.amount, l.booked_on, m.match_no FROM recon_line l "
            "LEFT JOIN recon_match_line m ON m.statement_id = l.statement_id "
            "AND m.line_no = l.line_no WHERE l.statement_id = :s AND l.line_no = ANY(:n)",
            {"s": statement.id, "n": line_nos},
        )
    ).all()
    if len(lines) != len(line_nos):
        raise refuse("Some picked lines are not on this statement.", "bad_pick")
    taken = [str(r.line_no) for r in lines if r.match_no is not None]
    if taken:
        raise refuse(f"Line(s) {', '.join(taken)} are already matched.", "already_matched")
    records = (
        await run_sql(
            session,
            "SELECT t.id, t.external_id, t.currency, t.booked_at, "
            "CASE WHEN t.direction = 'in' THEN t.amount ELSE -t.amount END AS amount, "
            'm.match_no FROM "transaction" t LEFT JOIN recon_match_record m '
            "ON m.transaction_id = t.id WHERE t.id = ANY(:ids) FOR UPDATE OF t",
            {"ids": record_ids},
        )
    ).all()
    if len(records) != len(record_ids):
        raise refuse("Some picked records do not exist.", "bad_pick")
    taken = [r.external_id for r in records if r.match_no is not None]
    if taken:
        raise refuse(f"Record(s) {', '.join(taken)} are already matched.", "already_matched")
    other_ccy = [r.external_id for r in records if r.currency != brk.currency]
    if other_ccy:
        raise refuse(f"Record(s) {', '.join(other_ccy)} are not in {brk.currency}.", "bad_pick")
    lines_sum = sum((Decimal(r.amount) for r in lines), Decimal(0))
    records_sum = sum((Decimal(r.amount) for r in records), Decimal(0))
    difference = lines_sum - records_sum
    tolerance = Decimal(policy.amount_tolerance_minor) / 100
    if abs(difference) > tolerance:
        raise refuse(
            f"The lines add up to {lines_sum.normalize():f} and the records to "
            f"{records_sum.normalize():f}: {abs(difference).normalize():f} apart, more than "
            f"the tolerance of {tolerance:f}. Pick others, or write the difference off.",
            "amounts_differ",
        )
    match_no = (
        await run_sql(
            session,
            "SELECT coalesce(max(match_no), 0) + 1 FROM recon_match WHERE statement_id = :s",
            {"s": statement.id},
        )
    ).scalar_one()
    days = [r.booked_on for r in lines]
    record_days = [r.booked_at.astimezone(UTC).date() for r in records]
    days_apart = max(abs((a - b).days) for a in days for b in record_days)
    await run_sql(
        session,
        "INSERT INTO recon_match (statement_id, match_no, pass_name, line_count, record_count, "
        "lines_amount, records_amount, days_apart, matched_by, break_id) VALUES (:s, :m, "
        "'manual', :lc, :rc, :la, :ra, :days, :by, :b)",
        {
            "s": statement.id,
            "m": match_no,
            "lc": len(lines),
            "rc": len(records),
            "la": lines_sum,
            "ra": records_sum,
            "days": days_apart,
            "by": actor_id,
            "b": brk.id,
        },
    )
    await run_sql(
        session,
        "INSERT INTO recon_match_line (statement_id, line_no, match_no) "
        "SELECT :s, n, :m FROM unnest(CAST(:n AS int[])) AS n",
        {"s": statement.id, "m": match_no, "n": line_nos},
    )
    await run_sql(
        session,
        "INSERT INTO recon_match_record (transaction_id, statement_id, match_no) "
        "SELECT r, :s, :m FROM unnest(CAST(:ids AS uuid[])) AS r",
        {"s": statement.id, "m": match_no, "ids": record_ids},
    )
    # The statement's summary counts hand matches too (its match rate in lists and reports).
    await run_sql(
        session,
        "UPDATE recon_statement SET summary = jsonb_set(jsonb_set(summary, '{matched_lines}', "
        "to_jsonb(coalesce((summary->>'matched_lines')::int, 0) + :n)), '{pass_counts,manual}', "
        "to_jsonb(coalesce((summary->'pass_counts'->>'manual')::int, 0) + :n)) WHERE id = :s",
        {"n": len(line_nos), "s": statement.id},
    )


async def _propose_write_off(
    session: AsyncSession,
    brk: ReconBreak,
    decision_id: uuid.UUID,
    details: dict[str, Any],
    reason_code: str | None,
    note: str | None,
    actor_id: uuid.UUID,
    policy: ReconciliationPolicy,
) -> ReconWriteOff:
    assert reason_code is not None  # form_problems checked the reason and the amount
    amount = Decimal(str(details["amount"]).strip())
    amount_eur = eur_value(amount, brk.currency)
    needs_approval = write_off_needs_approval(amount_eur, policy.write_off_threshold_eur)
    write_off = ReconWriteOff(
        break_id=brk.id,
        decision_id=decision_id,
        amount=amount,
        currency=brk.currency,
        amount_eur=amount_eur,
        reason_code=reason_code,
        note=note,
        proposed_by=actor_id,
        proposed_at=utcnow(),
        needs_approval=needs_approval,
        status="proposed" if needs_approval else "booked",
    )
    session.add(write_off)
    await session.flush()
    return write_off


async def _close_break(
    session: AsyncSession,
    brk: ReconBreak,
    *,
    resolution: str,
    reason_code: str | None,
    note: str | None,
    by: ActorRef,
    case_id: uuid.UUID,
    workflow_id: str,
) -> None:
    now = utcnow()
    brk.status = "resolved"
    brk.resolution = resolution
    brk.reason_code = reason_code
    brk.note = note
    brk.resolved_by = by.id
    brk.resolved_at = now
    session.add(brk)
    await store.close_case(
        session, case_id, outcome=resolution, reason=reason_code, now=now, stage="resolved"
    )
    await session.flush()
    await audit.record(
        session,
        action="recon.break_resolved",
        actor=by,
        object_type="case",
        object_id=case_id,
        workflow_id=workflow_id,
        details={"break_id": brk.id, "resolution": resolution, "reason_code": reason_code},
    )


async def _actor(session: AsyncSession, user_id: uuid.UUID) -> ActorRef:
    name = (
        await run_sql(session, "SELECT username FROM staff_user WHERE id = :u", {"u": user_id})
    ).scalar_one_or_none()
    return ActorRef(user_id, name or str(user_id))
