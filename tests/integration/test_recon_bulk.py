"""Statement lines, our records, matches and breaks through PostgreSQL in bulk: stored once
however often they are sent, and a record of ours matched once across statements."""

from __future__ import annotations

import random
import string
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pandas as pd
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.db import Database, run_sql
from demo.statement_samples import Sample, generate
from models.aml import Transaction
from models.reconciliation import ReconBreak, ReconSource, ReconStatement
from reconciliation.commands import bulk
from reconciliation.engines.lines import StatementLine, scaled
from reconciliation.engines.matching import MatchSettings, match
from reconciliation.policy import parse_fees
from tests.aml_data import CustomerRef, new_customer
from tests.helpers import new_staff

SETTINGS = MatchSettings(fees=parse_fees("0.20, 0.35, 1.50, 1.4%"), batch_channels=frozenset({"card"}))  # fmt: skip
DAY = date(2031, 3, 2)


class Book:
    """A source of its own (its own currency, so no other test's records are in scope),
    a customer whose transactions are our records, and statements of the source."""

    def __init__(self, db: Database, customer: CustomerRef, source: ReconSource, staff: uuid.UUID):
        self.db = db
        self.customer = customer
        self.source = source
        self.staff = staff

    @classmethod
    async def make(cls, db: Database) -> Book:
        currency = "Q" + "".join(random.choices(string.ascii_uppercase, k=2))
        customer = await new_customer(db, prefix="Recon Bulk")
        staff = await new_staff(db, "finance_ops")
        source = ReconSource(
            name=f"Bulk test {uuid.uuid4().hex[:8]}",
            format="csv",
            currency=currency,
            channels=["sepa", "card", "swift", "cash"],
            batch_channels=["card"],
        )
        async with db.transaction() as session:
            session.add(source)
        return cls(db, customer, source, staff.actor.user_id)

    async def statement(self) -> uuid.UUID:
        tag = uuid.uuid4().hex
        statement = ReconStatement(
            reference=f"STM-T{tag[:12]}",
            source_id=self.source.id,
            filename="statement.csv",
            format="csv",
            sha256=tag * 2,
            size=1,
            uploaded_by=self.staff,
            workflow_id=f"recon-bulk-test-{tag}",
        )
        async with self.db.transaction() as session:
            session.add(statement)
        return statement.id

    async def record(
        self, amount: str, *, booked_on: date = DAY, direction: str = "in", channel: str = "sepa"
    ) -> Transaction:
        tx = Transaction(
            external_id=f"bulk-{uuid.uuid4().hex}",
            account_id=self.customer.account_id,
            customer_id=self.customer.id,
            booked_at=datetime.combine(booked_on, time(23, 30), tzinfo=UTC),
            amount=Decimal(amount),
            currency=self.source.currency,
            direction=direction,
            channel=channel,
        )
        async with self.db.transaction() as session:
            session.add(tx)
        return tx

    async def sample_records(self, sample: Sample) -> None:
        r = sample.records
        days = r["booked_on"].to_numpy().astype("datetime64[D]").astype(object).tolist()
        async with self.db.transaction() as session:
            for rid, ext, day, amount, direction, channel in zip(
                r["id"], r["external_id"], days, r["amount"], r["direction"], r["channel"],
                strict=True,
            ):  # fmt: skip
                session.add(
                    Transaction(
                        id=uuid.UUID(rid),
                        external_id=ext,
                        account_id=self.customer.account_id,
                        customer_id=self.customer.id,
                        booked_at=datetime.combine(day, time(12), tzinfo=UTC),
                        amount=amount,
                        currency=self.source.currency,
                        direction=direction,
                        channel=channel,
                    )
                )

    async def match(self, statement_id: uuid.UUID) -> dict[str, int]:
        async with self.db.transaction() as session:
            lines = await bulk.load_lines(session, statement_id)
            records = await self.records(session)
            result = match(lines, records, SETTINGS)
            return await bulk.save_result(
                session, statement_id, self.source.id, self.source.currency, result
            )

    async def records(self, session: AsyncSession) -> pd.DataFrame:
        return await bulk.load_records(
            session,
            currency=self.source.currency,
            channels=list(self.source.channels),
            booked_from=date(2031, 1, 1),
            booked_to=date(2031, 12, 31),
        )


def line(line_no: int, amount: str, reference: str | None, booked_on: date = DAY) -> StatementLine:
    return StatementLine(
        line_no=line_no,
        section=0,
        booked_on=booked_on,
        value_date=booked_on,
        amount=Decimal(amount),
        currency="EUR",
        reference=reference,
        bank_reference=f"B{line_no}",
        counterparty_name="Tab\there and a \\ backslash",
        counterparty_account=None,
        description="Line\nbreak",
        location=f"line {line_no}",
    )


async def count(db: Database, table: str, statement_id: uuid.UUID) -> int:
    async with db.session() as session:
        found = await run_sql(
            session, f"SELECT count(*) FROM {table} WHERE statement_id = :s", {"s": statement_id}
        )
        return int(found.scalar_one())


async def test_lines_sent_again_by_a_resumed_parse_are_stored_once(db: Database) -> None:
    book = await Book.make(db)
    statement_id = await book.statement()
    lines = [line(n, f"{n}0.5", f"REF-{n}" if n % 2 else None) for n in range(1, 6)]
    async with db.transaction() as session:
        assert await bulk.copy_lines(session, statement_id, lines[:3]) == 3
    async with db.transaction() as session:
        assert await bulk.copy_lines(session, statement_id, lines) == 2
        assert await bulk.copy_lines(session, statement_id, lines[1:2]) == 0
    assert await count(db, "recon_line", statement_id) == 5
    async with db.session() as session:
        frame = await bulk.load_lines(session, statement_id)
        stored = (
            await run_sql(
                session,
                "SELECT counterparty_name, description, amount FROM recon_line "
                "WHERE statement_id = :s AND line_no = 2",
                {"s": statement_id},
            )
        ).one()
    assert frame["line_no"].tolist() == [1, 2, 3, 4, 5]
    assert frame["amount"].tolist() == [scaled(Decimal(f"{n}0.5")) for n in range(1, 6)]
    assert frame["booked_on"].tolist() == [pd.Timestamp(DAY)] * 5
    assert frame["reference"].where(frame["reference"].notna(), None).tolist() == [
        "REF-1", None, "REF-3", None, "REF-5"
    ]  # fmt: skip
    assert tuple(stored) == ("Tab\there and a \\ backslash", "Line\nbreak", Decimal("20.50000"))


async def test_a_result_saved_again_by_a_retry_is_saved_once(db: Database) -> None:
    book = await Book.make(db)
    a = await book.record("100.00")
    await book.record("55.55", direction="out")  # on no statement
    statement_id = await book.statement()
    async with db.transaction() as session:
        await bulk.copy_lines(
            session,
            statement_id,
            [line(1, "100.00", a.external_id), line(2, "12.34", None), line(3, "-7.00", None)],
        )
    async with db.session() as session:
        lines = await bulk.load_lines(session, statement_id)
        records = await book.records(session)
    result = match(lines, records, SETTINGS)
    expected = {
        "matches": 1,
        "match_lines": 1,
        "match_records": 1,
        "unmatched_line": 2,
        "amount_mismatch": 0,
        "ambiguous": 0,
        "already_matched": 0,
    }
    for _ in range(2):
        async with db.transaction() as session:
            saved = await bulk.save_result(
                session, statement_id, book.source.id, book.source.currency, result
            )
        assert saved == expected
    assert await count(db, "recon_match", statement_id) == 1
    assert await count(db, "recon_match_record", statement_id) == 1
    assert await count(db, "recon_break", statement_id) == 2
    async with db.session() as session:
        breaks = (
            await session.exec(
                select(ReconBreak)
                .where(ReconBreak.statement_id == statement_id)
                .order_by(ReconBreak.dedupe_key)
            )
        ).all()
        stored = (
            await run_sql(
                session,
                "SELECT pass_name, lines_amount, records_amount FROM recon_match "
                "WHERE statement_id = :s",
                {"s": statement_id},
            )
        ).one()
    assert [(b.dedupe_key, b.kind, b.line_nos, b.status) for b in breaks] == [
        (f"line:{statement_id}:2", "unmatched_line", [2], "open"),
        (f"line:{statement_id}:3", "unmatched_line", [3], "open"),
    ]
    assert (breaks[1].amount, breaks[1].currency, breaks[1].booked_on) == (
        Decimal("-7.00000"), book.source.currency, DAY
    )  # fmt: skip
    assert tuple(stored) == ("reference", Decimal("100.00000"), Decimal("100.00000"))
    # The lines matched are matched: loading the statement again gives the others.
    async with db.session() as session:
        assert (await bulk.load_lines(session, statement_id))["line_no"].tolist() == [2, 3]


async def test_a_record_matched_by_one_statement_is_not_loaded_for_another(db: Database) -> None:
    book = await Book.make(db)
    a = await book.record("100.00")
    b = await book.record("42.10", direction="out", channel="card")
    first, second = await book.statement(), await book.statement()
    async with db.transaction() as session:
        await bulk.copy_lines(session, first, [line(1, "100.00", a.external_id)])
    async with db.session() as session:
        before = await book.records(session)
    assert sorted(before["record_id"]) == sorted([str(a.id), str(b.id)])
    assert dict(zip(before["record_id"], before["amount"], strict=True)) == {
        str(a.id): scaled(Decimal("100.00")),
        str(b.id): scaled(Decimal("-42.10")),
    }
    assert await book.match(first) == {
        "matches": 1, "match_lines": 1, "match_records": 1,
        "unmatched_line": 0, "amount_mismatch": 0, "ambiguous": 0, "already_matched": 0,
    }  # fmt: skip
    async with db.session() as session:
        after = await book.records(session)
    assert after["record_id"].tolist() == [str(b.id)]
    # The same line on the second statement finds its record taken.
    async with db.transaction() as session:
        await bulk.copy_lines(session, second, [line(1, "100.00", a.external_id)])
    counts = await book.match(second)
    assert (counts["matches"], counts["unmatched_line"]) == (0, 1)


async def test_unmatched_records_are_raised_once(db: Database) -> None:
    book = await Book.make(db)
    await book.record("19.99", direction="out")
    statement_id = await book.statement()
    async with db.session() as session:
        records = await book.records(session)
    for expected in (1, 0):
        async with db.transaction() as session:
            raised = await bulk.save_record_breaks(
                session, statement_id, book.source.id, book.source.currency, records
            )
        assert raised == expected
    async with db.session() as session:
        (brk,) = (
            await session.exec(select(ReconBreak).where(ReconBreak.statement_id == statement_id))
        ).all()
    record_id = uuid.UUID(records["record_id"][0])
    assert (brk.kind, brk.record_ids, brk.amount, brk.dedupe_key) == (
        "unmatched_record", [record_id], Decimal("-19.99000"), f"record:{record_id}"
    )  # fmt: skip


async def test_a_generated_statement_round_trips_with_its_expected_outcome(db: Database) -> None:
    book = await Book.make(db)
    sample = generate(
        600,
        seed=3,
        currency=book.source.currency,
        start=date(2031, 3, 1),
        days=10,
        ref_prefix=f"T{uuid.uuid4().hex[:6]}-",
    )
    await book.sample_records(sample)
    statement_id = await book.statement()
    async with db.transaction() as session:
        assert await bulk.copy_lines(session, statement_id, sample.lines) == len(sample.lines)
    counts = await book.match(statement_id)
    expected = sample.expected
    assert counts["match_lines"] == sum(expected.pass_counts.values())
    assert {k: counts[k] for k in bulk.LINE_BREAK_KINDS} == {
        **expected.breaks,
        "already_matched": 0,
    }
    async with db.session() as session:
        left = await book.records(session)
    # Not matched: the records on no line, those an ambiguous break holds, and those an
    # amount mismatch holds (one each).
    assert set(sample.unmatched_record_ids + sample.ambiguous_record_ids) <= set(left["record_id"])
    assert len(left) == (
        expected.unmatched_records + expected.ambiguous_records + expected.breaks["amount_mismatch"]
    )
