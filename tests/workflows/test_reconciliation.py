"""ReconciliationWorkflow and BreakWorkflow on the time-skipping server with the real database:
each format reconciles as expected, breaks become cases, resolutions (by hand, explained,
written off with four-eyes above the threshold), and every refusal says where and why."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import col, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from casework import tasks
from core.db import Database, run_sql
from models.cases import Case, Decision, Task
from models.reconciliation import (
    ReconBreak,
    ReconMatch,
    ReconStatement,
    ReconWriteOff,
)
from models.workflow_io import DecisionInput, DecisionResult
from reconciliation.commands.breaks import ResolveForm, resolve_break
from reconciliation.commands.statements import StatementReceived, receive_statement
from reconciliation.engines.lines import StatementLine
from reconciliation.rules import approve_key, break_workflow_id, resolve_key
from shared.errors import Conflict, Forbidden, Invalid
from tests.helpers import Staff, eventually, new_staff, task_of
from tests.recon_data import ReconSetup, recon_setup, statement_file
from tests.workflows.conftest import Skipping


async def upload(
    sk: Skipping, db: Database, who: Staff, setup: ReconSetup, content: bytes | None = None
) -> StatementReceived:
    return await receive_statement(
        db,
        sk.client,
        sk.settings,
        who.actor,
        source_id=setup.source_id,
        filename=setup.filename,
        content=setup.content if content is None else content,
    )


async def result_of(handle: WorkflowHandle[Any, Any]) -> Any:
    """The workflow's result. The time-skipping test server ends a long poll for it with an
    empty page ("No completion event found") when the workflow runs longer than the poll,
    as a 45 000-line statement does on a busy machine: then ask again."""
    while True:
        try:
            return await handle.result()
        except RuntimeError as exc:
            if "No completion event found" not in str(exc):
                raise


async def reconciled(sk: Skipping, db: Database, received: StatementReceived) -> ReconStatement:
    """The workflow's end (time skips past the window for our records)."""
    await result_of(sk.client.get_workflow_handle(received.workflow_id))
    async with db.session() as session:
        statement = await session.get(ReconStatement, received.statement_id)
    assert statement is not None
    return statement


async def breaks_of(db: Database, statement_id: uuid.UUID) -> list[ReconBreak]:
    async with db.session() as session:
        return list(
            (
                await session.exec(
                    select(ReconBreak)
                    .where(ReconBreak.statement_id == statement_id)
                    .order_by(col(ReconBreak.dedupe_key))
                )
            ).all()
        )


def record_breaks(found: list[ReconBreak]) -> list[ReconBreak]:
    return [b for b in found if b.kind == "unmatched_record"]


def nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


@pytest.mark.parametrize("fmt", ["camt053", "mt940", "csv"])
async def test_a_statement_reconciles_as_expected_and_each_break_is_a_case(
    skipping: Skipping, db: Database, fmt: str
) -> None:
    finance = await new_staff(db, "finance_ops")
    setup = await recon_setup(db, fmt)
    expected = setup.sample.expected
    received = await upload(skipping, db, finance, setup)
    assert received.reference.startswith("STM-")

    statement = await reconciled(skipping, db, received)
    assert statement.status == "matched"
    assert statement.lines_read == statement.lines_total == len(setup.sample.lines)
    # Exact, windowed, fee-deducted, batch and split entries, each by its own pass.
    assert nonzero(statement.summary["pass_counts"]) == nonzero(expected.pass_counts)
    assert {"reference", "amount_date", "fee", "batch"} <= set(nonzero(expected.pass_counts))
    assert statement.balance_ok is (None if fmt == "csv" else True)

    found = await breaks_of(db, statement.id)
    kinds = Counter(b.kind for b in found)
    assert nonzero({k: kinds[k] for k in expected.breaks}) == nonzero(expected.breaks)
    assert kinds["unmatched_line"] >= 1 and kinds["ambiguous"] >= 1
    # Our records still unmatched when the window passed are breaks too.
    assert kinds["unmatched_record"] == expected.unmatched_records
    unmatched = sorted(str(r) for b in found if b.kind == "unmatched_record" for r in b.record_ids)
    assert unmatched == sorted(setup.sample.unmatched_record_ids)
    ambiguous = next(b for b in found if b.kind == "ambiguous")
    assert len(ambiguous.candidate_record_ids) >= 2, "ambiguous candidates are listed, not guessed"

    # Every break is a recon_exception case with a finance task under an SLA.
    async with db.session() as session:
        cases = (
            await session.exec(select(Case).where(col(Case.id).in_([b.case_id for b in found])))
        ).all()
    assert len(cases) == len(found)
    assert {c.case_type for c in cases} == {"recon_exception"}
    for brk in found[:3]:
        task = await task_of(db, break_workflow_id(brk.id), resolve_key(1))
        assert (task.kind, task.candidate_role, task.status) == (
            "recon_break",
            "finance_ops",
            "open",
        )
        assert task.due_at is not None


async def claim_resolve_task(db: Database, who: Staff, brk: ReconBreak, attempt: int = 1) -> Task:
    task = await task_of(db, break_workflow_id(brk.id), resolve_key(attempt))
    await tasks.claim_task(db, who.actor, task.id)
    return task


async def test_breaks_resolved_by_hand_explained_and_written_off_with_four_eyes(
    skipping: Skipping, db: Database
) -> None:
    finance = await new_staff(db, "finance_ops")
    # Someone who holds both roles may propose a write-off but never approve their own.
    dual = await new_staff(db, "finance_ops", "ops_manager")
    manager = await new_staff(db, "ops_manager")
    setup = await recon_setup(db, "camt053", lines=400)
    statement = await reconciled(skipping, db, await upload(skipping, db, finance, setup))
    found = await breaks_of(db, statement.id)
    client = skipping.client

    # Explained: a timing difference; the case closes with the reason.
    line_break = next(b for b in found if b.kind == "unmatched_line")
    task = await claim_resolve_task(db, finance, line_break)
    with pytest.raises(Invalid) as refused:
        await resolve_break(db, client, finance.actor, line_break.id,
                            ResolveForm(task_id=task.id, action="explained"))  # fmt: skip
    assert "reason_code" in refused.value.fields
    await resolve_break(
        db, client, finance.actor, line_break.id,
        ResolveForm(task_id=task.id, action="explained", reason_code="timing_difference",
                    note="On Monday's statement."),
    )  # fmt: skip
    async with db.session() as session:
        brk = await session.get(ReconBreak, line_break.id)
        case = await session.get(Case, line_break.case_id)
    assert brk is not None and case is not None
    assert (brk.status, brk.resolution, brk.reason_code) == (
        "resolved",
        "explained",
        "timing_difference",
    )
    assert (case.status, case.outcome) == ("closed", "explained")

    # Matched by hand: a pick whose amounts differ is refused with the amounts; the right
    # record is matched, recorded as a manual match naming the break.
    ambiguous = next(b for b in found if b.kind == "ambiguous")
    task = await claim_resolve_task(db, finance, ambiguous)
    other = next(b for b in found if b.kind == "unmatched_record")
    with pytest.raises(Conflict) as refused:
        await resolve_break(
            db, client, finance.actor, ambiguous.id,
            ResolveForm(task_id=task.id, action="matched", line_nos=ambiguous.line_nos[:1],
                        record_ids=other.record_ids),
        )  # fmt: skip
    assert "apart" in refused.value.message
    await resolve_break(
        db, client, finance.actor, ambiguous.id,
        ResolveForm(task_id=task.id, action="matched", line_nos=ambiguous.line_nos[:1],
                    record_ids=ambiguous.candidate_record_ids[:1]),
    )  # fmt: skip
    async with db.session() as session:
        manual = (
            await session.exec(select(ReconMatch).where(ReconMatch.break_id == ambiguous.id))
        ).one()
        assert (manual.pass_name, manual.matched_by) == ("manual", finance.actor.user_id)
        after = await session.get(ReconStatement, statement.id)
    assert after is not None
    assert after.summary["pass_counts"]["manual"] == 1, "hand matches count in the match rate"
    assert after.summary["matched_lines"] == statement.summary["matched_lines"] + 1

    # A small write-off is booked at once.
    mismatch = next(b for b in found if b.kind == "amount_mismatch")
    task = await claim_resolve_task(db, finance, mismatch)
    small = min(abs(mismatch.difference), Decimal("10"))
    await resolve_break(
        db, client, finance.actor, mismatch.id,
        ResolveForm(task_id=task.id, action="write_off", reason_code="bank_charge",
                    amount=format(small, "f")),
    )  # fmt: skip
    async with db.session() as session:
        booked = (
            await session.exec(select(ReconWriteOff).where(ReconWriteOff.break_id == mismatch.id))
        ).one()
        resolved = await session.get(ReconBreak, mismatch.id)
    assert (booked.status, booked.needs_approval, booked.amount) == ("booked", False, small)
    assert resolved is not None and resolved.resolution == "written_off"

    # Above the threshold (100 EUR): an ops manager must approve this exact amount.
    large = max(
        (b for b in found if b.kind in ("unmatched_line", "unmatched_record") and b.status == "open"
         and b.id != line_break.id),
        key=lambda b: abs(b.amount),
    )  # fmt: skip
    assert abs(large.amount) > 100, "the sample has a break above the threshold"
    task = await claim_resolve_task(db, dual, large)
    result = await resolve_break(
        db, client, dual.actor, large.id,
        ResolveForm(task_id=task.id, action="write_off", reason_code="unrecoverable",
                    amount=format(abs(large.amount), "f")),
    )  # fmt: skip
    assert result.case_status == "write-off awaiting approval"
    approval = await task_of(db, break_workflow_id(large.id), approve_key(1))
    assert (approval.kind, approval.candidate_role) == ("recon_write_off", "ops_manager")
    assert dual.actor.user_id in approval.excluded_actors
    with pytest.raises((Forbidden, Conflict, Invalid)):
        await tasks.claim_task(db, dual.actor, approval.id)
    # Rejected (with a reason): the break goes back to finance as a new task.
    await tasks.claim_task(db, manager.actor, approval.id)
    await tasks.decide_task(db, client, manager.actor, approval.id, outcome="reject",
                            reason="recoverable", comment="Chase the processor first.")  # fmt: skip
    retry = await claim_resolve_task(db, finance, large, attempt=2)
    await resolve_break(
        db, client, finance.actor, large.id,
        ResolveForm(task_id=retry.id, action="write_off", reason_code="unrecoverable",
                    amount=format(abs(large.amount), "f"), note="Processor confirmed: lost."),
    )  # fmt: skip
    second = await task_of(db, break_workflow_id(large.id), approve_key(2))
    await tasks.claim_task(db, manager.actor, second.id)
    await tasks.decide_task(db, client, manager.actor, second.id, outcome="approve",
                            reason=None, comment=None)  # fmt: skip
    await client.get_workflow_handle(break_workflow_id(large.id)).result()
    async with db.session() as session:
        offs = (
            await session.exec(
                select(ReconWriteOff)
                .where(ReconWriteOff.break_id == large.id)
                .order_by(col(ReconWriteOff.proposed_at))
            )
        ).all()
        brk = await session.get(ReconBreak, large.id)
        decisions = (
            await session.exec(select(Decision).where(Decision.case_id == large.case_id))
        ).all()
    assert [(w.status, w.needs_approval) for w in offs] == [("rejected", True), ("booked", True)]
    assert offs[1].decided_by == manager.actor.user_id
    assert brk is not None and (brk.status, brk.resolution) == ("resolved", "written_off")
    assert len(decisions) == 4  # proposed, rejected, proposed again, approved


async def test_refusals_say_where_and_why(skipping: Skipping, db: Database) -> None:
    finance = await new_staff(db, "finance_ops")
    setup = await recon_setup(db, "camt053")
    first = await upload(skipping, db, finance, setup)

    # The same file twice: refused at once, naming the statement it already is.
    with pytest.raises(Conflict) as duplicate:
        await upload(skipping, db, finance, setup)
    assert first.reference in duplicate.value.message
    statement = await reconciled(skipping, db, first)
    assert statement.status == "matched"

    # The same statement exported again (other bytes): refused when read, not matched twice.
    again = await upload(skipping, db, finance, setup, setup.content.replace(b"><", b">\n<", 5))
    refused = await reconciled(skipping, db, again)
    assert refused.status == "refused"
    assert f"already processed as {first.reference}" in (refused.refused_reason or "")

    # A malformed MT940: where (the line) and why.
    mt = await recon_setup(db, "mt940")
    broken = mt.content.replace(b":61:", b":61:X", 1)
    bad = await reconciled(skipping, db, await upload(skipping, db, finance, mt, broken))
    assert bad.status == "refused"
    assert "line" in (bad.refused_location or "")
    assert bad.refused_reason

    # A wrong closing balance is flagged, per statement section, and still reconciled.
    wrong = await recon_setup(db, "camt053")
    wrong.sample.closing_balance += Decimal("12.34")
    flagged = await reconciled(
        skipping,
        db,
        await upload(skipping, db, finance, wrong, statement_file("camt053", wrong.sample)),
    )
    assert flagged.status == "matched"
    assert flagged.balance_ok is False
    section = flagged.balances[0]
    assert section["ok"] is False
    assert Decimal(section["closing"]) - Decimal(section["expected_closing"]) == Decimal("12.34")

    # A statement of another account than its source's is refused, saying which.
    other = await recon_setup(db, "camt053")
    foreign = statement_file("camt053", other.sample, account="NL91ABNA0417164300")
    stranger = await reconciled(skipping, db, await upload(skipping, db, finance, other, foreign))
    assert stranger.status == "refused"
    assert "NL91ABNA0417164300" in (stranger.refused_reason or "")

    # Nothing of a refused statement was matched.
    async with db.session() as session:
        matched = (
            await run_sql(
                session,
                "SELECT count(*) FROM recon_match WHERE statement_id = ANY(:ids)",
                {"ids": [again.statement_id, bad.id, stranger.id]},
            )
        ).scalar_one()
    assert matched == 0

    # Who may not upload is refused (and audited).
    support = await new_staff(db, "support")
    with pytest.raises(Forbidden):
        await upload(skipping, db, support, await recon_setup(db, "csv"))


async def test_progress_is_stored_while_a_file_is_read(skipping: Skipping, db: Database) -> None:
    finance = await new_staff(db, "finance_ops")
    setup = await recon_setup(db, "csv", lines=45_000)
    received = await upload(skipping, db, finance, setup)

    async def progress() -> tuple[int, int] | None:
        async with db.session() as session:
            s = await session.get(ReconStatement, received.statement_id)
        assert s is not None
        return (s.lines_read, s.lines_total) if 0 < s.lines_read < s.lines_total else None

    read, total = await eventually(progress, what="a partly read statement")
    assert total == 45_000 and 0 < read < total
    statement = await reconciled(skipping, db, received)
    assert statement.lines_read == 45_000
    assert statement.summary["matched_lines"] > 40_000


async def test_our_unmatched_records_become_breaks_when_their_window_passes(
    skipping: Skipping, db: Database
) -> None:
    """A recent statement: our records of its period have until the window's end (a durable,
    named timer) to appear on a statement; not an hour before, but an hour after, each one
    still unmatched is a break."""
    finance = await new_staff(db, "finance_ops")
    today = datetime.now(UTC).date()
    setup = await recon_setup(db, "camt053", currency="CHF", start=today - timedelta(days=9))
    received = await upload(skipping, db, finance, setup)

    async def matched() -> ReconStatement | None:
        async with db.session() as session:
            s = await session.get(ReconStatement, received.statement_id)
        return s if s is not None and s.status == "matched" else None

    statement = await eventually(matched, what="the statement matched")
    assert statement.record_window_ends_at is not None
    assert statement.record_window_ends_at > datetime.now(UTC)
    assert record_breaks(await breaks_of(db, statement.id)) == []

    before = statement.record_window_ends_at - timedelta(hours=1) - datetime.now(UTC)
    await skipping.env.sleep(before)
    async with db.session() as session:
        waiting = await session.get(ReconStatement, statement.id)
    assert waiting is not None and waiting.records_checked_at is None
    assert record_breaks(await breaks_of(db, statement.id)) == []

    await skipping.env.sleep(timedelta(hours=2))
    handle = skipping.client.get_workflow_handle(received.workflow_id)
    assert await result_of(handle) == "matched"
    raised = record_breaks(await breaks_of(db, statement.id))
    assert sorted(str(r) for b in raised for r in b.record_ids) == sorted(
        setup.sample.unmatched_record_ids
    )
    history = await handle.fetch_history()
    # Timer summaries go through the payload codec like every other payload.
    timers = await skipping.client.data_converter.decode(
        [
            e.user_metadata.summary
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
        ],
        [str] * sum(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in history.events),
    )
    assert any("window for our records" in t for t in timers), timers


@contextlib.asynccontextmanager
async def reconciliation_policy(db: Database, **values: object) -> AsyncIterator[int]:
    """A new version of the `reconciliation` document made current (as an approved
    maker-checker change leaves it) for the block; the previous version current again after."""
    async with db.transaction() as session:
        setting = (
            await run_sql(
                session,
                "SELECT s.id, s.current_version, v.values FROM config_setting s "
                "JOIN config_setting_version v ON v.setting_id = s.id "
                "AND v.version = s.current_version WHERE s.key = 'reconciliation' FOR UPDATE",
            )
        ).one()
        latest = (
            await run_sql(
                session,
                "SELECT max(version) FROM config_setting_version WHERE setting_id = :s",
                {"s": setting.id},
            )
        ).scalar_one()
        await run_sql(
            session,
            "INSERT INTO config_setting_version (id, setting_id, version, values, created_at, "
            "note) VALUES (gen_random_uuid(), :s, :v, CAST(:values AS jsonb), now(), 'test')",
            {"s": setting.id, "v": latest + 1, "values": json.dumps({**setting.values, **values})},
        )
        await run_sql(
            session,
            "UPDATE config_setting SET current_version = :v WHERE id = :s",
            {"v": latest + 1, "s": setting.id},
        )
    try:
        yield latest + 1
    finally:
        async with db.transaction() as session:
            await run_sql(
                session,
                "UPDATE config_setting SET current_version = :v WHERE id = :s",
                {"v": setting.current_version, "s": setting.id},
            )


async def test_a_statement_is_matched_under_the_policy_current_when_it_arrived(
    skipping: Skipping, db: Database
) -> None:
    finance = await new_staff(db, "finance_ops")
    setup = await recon_setup(db, "csv")
    # No known fees any more: what only a fee explained is no longer matched.
    async with reconciliation_policy(db, known_fees="") as version:
        received = await upload(skipping, db, finance, setup)
        statement = await reconciled(skipping, db, received)
    assert statement.policy_version == version
    counts = statement.summary["pass_counts"]
    assert counts.get("fee", 0) == 0 < setup.sample.expected.pass_counts["fee"]
    assert counts["reference"] > 0 and counts.get("amount_date", 0) > 0
    kinds = Counter(b.kind for b in await breaks_of(db, statement.id))
    expected = setup.sample.expected.breaks
    assert kinds["unmatched_line"] > expected.get("unmatched_line", 0)


async def test_a_line_whose_record_is_already_matched_is_a_break_not_a_guess(
    skipping: Skipping, db: Database
) -> None:
    """A payment reconciled on one statement appears on a later one: the line is a break
    naming the record that holds its reference, never paired with another record of ours
    of the same amount and day."""
    finance = await new_staff(db, "finance_ops")
    setup = await recon_setup(db, "csv")
    await reconciled(skipping, db, await upload(skipping, db, finance, setup))
    index = setup.sample.labels.index("reference")
    again = setup.sample.lines[index]
    records = setup.sample.records
    original = str(records.loc[records["external_id"] == again.reference, "id"].iloc[0])
    async with db.session() as session:
        held = (
            await run_sql(
                session,
                "SELECT t.account_id, t.customer_id, t.booked_at, t.amount, t.direction, "
                "t.channel FROM transaction t WHERE t.id = :id",
                {"id": uuid.UUID(original)},
            )
        ).one()
    twin = uuid.uuid4()
    async with db.transaction() as session:
        await run_sql(
            session,
            "INSERT INTO transaction (id, external_id, account_id, customer_id, booked_at, "
            "amount, currency, direction, channel, source, received_at) VALUES (:id, :ext, "
            ":acct, :cust, :at, :amount, 'EUR', :dir, :channel, 'api', now())",
            {"id": twin, "ext": f"TWIN-{twin.hex[:8]}", "acct": held.account_id,
             "cust": held.customer_id, "at": held.booked_at, "amount": held.amount,
             "dir": held.direction, "channel": held.channel},
        )  # fmt: skip
    content = statement_file("csv", dataclasses.replace(setup.sample, lines=[again]))
    second = await reconciled(skipping, db, await upload(skipping, db, finance, setup, content))

    found = [b for b in await breaks_of(db, second.id) if b.kind != "unmatched_record"]
    assert [(b.kind, b.line_nos, [str(r) for r in b.candidate_record_ids]) for b in found] == [
        ("already_matched", [1], [original])
    ]
    assert second.summary["matched_lines"] == 0
    async with db.session() as session:
        twin_matched = (
            await run_sql(
                session,
                "SELECT count(*) FROM recon_match_record WHERE transaction_id = :t",
                {"t": twin},
            )
        ).scalar_one()
    assert twin_matched == 0


async def test_a_record_matched_on_a_later_statement_resolves_its_break(
    skipping: Skipping, db: Database
) -> None:
    """A record of ours that was on no statement within its window (a break) turns up on the
    next statement: it is matched there, and its break, case and task close by themselves."""
    finance = await new_staff(db, "finance_ops")
    setup = await recon_setup(db, "csv")
    first = await reconciled(skipping, db, await upload(skipping, db, finance, setup))
    brk = record_breaks(await breaks_of(db, first.id))[0]
    task = await task_of(db, break_workflow_id(brk.id), resolve_key(1))
    records = setup.sample.records
    row = records.loc[records["id"] == str(brk.record_ids[0])].iloc[0]
    late = StatementLine(
        line_no=1, section=0, booked_on=row["booked_on"].date() + timedelta(days=6),
        value_date=None, amount=brk.amount, currency="EUR", reference=row["external_id"],
        bank_reference=None, counterparty_name=None, counterparty_account=None,
        description="Late booking", location="line 2",
    )  # fmt: skip
    content = statement_file("csv", dataclasses.replace(setup.sample, lines=[late]))
    second = await reconciled(skipping, db, await upload(skipping, db, finance, setup, content))

    assert second.summary["pass_counts"]["reference"] == 1
    assert await skipping.client.get_workflow_handle(break_workflow_id(brk.id)).result() == (
        "resolved"
    )
    async with db.session() as session:
        closed = await session.get(ReconBreak, brk.id)
        case = await session.get(Case, brk.case_id)
        cancelled = await session.get(Task, task.id)
    assert closed is not None and case is not None and cancelled is not None
    assert (closed.status, closed.resolution) == ("resolved", "matched_later")
    assert closed.matched_on_statement_id == second.id
    assert (case.status, case.outcome) == ("closed", "matched_later")
    assert cancelled.status == "cancelled"


async def test_a_resolution_sent_straight_to_the_workflow_is_checked_again(
    skipping: Skipping, db: Database
) -> None:
    """The choke point's checks hold whatever door a decision comes through: a write-off
    above the break's open amount sent as a direct Update is refused, and nothing is stored."""
    finance = await new_staff(db, "finance_ops")
    setup = await recon_setup(db, "csv")
    statement = await reconciled(skipping, db, await upload(skipping, db, finance, setup))
    brk = next(b for b in await breaks_of(db, statement.id) if b.kind == "unmatched_line")
    task = await claim_resolve_task(db, finance, brk)
    decision = DecisionInput(
        task_id=task.id, actor_id=finance.actor.user_id, actor_name=finance.username,
        actor_roles=["finance_ops"], outcome="write_off", reason_code="bank_charge",
        details={"amount": format(abs(brk.amount) + 1, "f")},
    )  # fmt: skip
    handle = skipping.client.get_workflow_handle(break_workflow_id(brk.id))
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("decide", decision, result_type=DecisionResult)
    assert "At most the break's open amount" in str(refused.value.cause)
    async with db.session() as session:
        offs = (
            await session.exec(select(ReconWriteOff).where(ReconWriteOff.break_id == brk.id))
        ).all()
        still = await session.get(ReconBreak, brk.id)
    assert offs == [] and still is not None and still.status == "open"
