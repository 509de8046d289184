"""Demo reconciliation: three statement sources, their statements matched, breaks worked.

Made through the real entry points: finance.fay saves the sources and uploads the files
(reconciliation.commands.statements), the ReconciliationWorkflow parses and matches them,
and breaks are resolved on their tasks. The result: a CHF nostro's camt.053 statement
whose period is over (our unmatched records raised as breaks too), a GBP nostro's MT940
statement still inside the window for our records, a USD card processor's CSV settlement
report, one file refused (where and why: an earlier week from the GBP bank's new export,
whose account form the source does not list yet; it keeps no lines, and the same file can
be uploaded again once the re-map below is approved), one statement whose closing balance
does not add up, a later settlement report that resolves a break by itself and repeats a payment,
and breaks open, matched by hand, explained, written off, and one write-off above the
threshold waiting for an ops manager. The sources are the demo's starting point (written
directly, as an installation's first configuration); a re-map of the GBP nostro adding the
account as the bank's BIC + number form, proposed by finance.fay, waits for a second
finance member or an ops manager (maker-checker).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlmodel import col, select
from temporalio.client import Client

from casework.registry import task_id_for
from core.db import Database
from core.settings import Settings
from demo import statement_samples as sample_files
from demo.seed import actor_named, work_task
from identity.actors import Actor
from models.onboarding import Account
from models.reconciliation import ReconBreak, ReconSource, ReconStatement
from reconciliation.commands import bulk
from reconciliation.commands.breaks import ResolveForm, resolve_break
from reconciliation.commands.source_changes import propose_source_change
from reconciliation.commands.sources import SourceForm, check_source, write_source
from reconciliation.commands.statements import receive_statement
from reconciliation.engines.csv_mapping import CARD_PROCESSOR_SETTLEMENT
from reconciliation.rules import break_workflow_id, resolve_key

LINES = 200  # the smallest sample with every kind of line
# How Barclays' new MT940 export writes the GBP nostro's :25: (the re-map below adds it).
BARCLAYS_NEW_FORM = "BUKBGB22/20201555555555/GBP"


@dataclass(frozen=True)
class DemoSource:
    name: str
    format: str
    account: str | None
    currency: str
    description: str
    starts_days_ago: int  # the statement's period
    days: int
    seed: int


# Each source in a currency of its own, apart from the AML demo's EUR book: the records a
# statement is matched against are our transactions in its currency and channels.
SOURCES = [
    DemoSource("Nostro CHF · PostFinance", "camt053", "CH9300762011623852957", "CHF",
               "Our CHF settlement account: camt.053 statements.", 24, 10, 11),
    DemoSource("Nostro GBP · Barclays", "mt940", "GB33BUKB20201555555555", "GBP",
               "Our GBP account: MT940 statements.", 8, 7, 12),
    # A CSV report names no account: the source's mapping says which file it is.
    DemoSource("Card processor · settlement report", "csv", None, "USD",
               "The card processor's settlement details report (CSV).", 18, 10, 13),
]  # fmt: skip


def _file(demo: DemoSource, sample: sample_files.Sample) -> bytes:
    return sample_files.statement_file(
        demo.format, sample, account=demo.account or "", mapping=CARD_PROCESSOR_SETTLEMENT
    )


async def insert_records(
    db: Database, sample: sample_files.Sample, account_id: uuid.UUID, customer_id: uuid.UUID
) -> int:
    """Our side of a sample: its records as core banking booked them on an account."""
    async with db.transaction() as session:
        return await bulk.copy_sample_records(
            session,
            sample.records,
            currency=sample.currency,
            account_id=account_id,
            customer_id=customer_id,
        )


async def _matched(db: Database, statement_id: uuid.UUID, *, status: str = "matched") -> None:
    for _ in range(600):
        async with db.session() as session:
            statement = await session.get(ReconStatement, statement_id)
            open_cases = (
                await session.exec(
                    select(ReconBreak.id).where(
                        ReconBreak.statement_id == statement_id,
                        ReconBreak.case_id.is_(None),  # type: ignore[union-attr]
                    )
                )
            ).first()
        # Past its window, a statement is done once our unmatched records are breaks too.
        window_over = (
            statement is not None
            and statement.record_window_ends_at is not None
            and statement.record_window_ends_at <= datetime.now(UTC)
        )
        checked = statement is not None and (
            statement.records_checked_at is not None or not window_over
        )
        if (
            statement is not None
            and statement.status == status
            and open_cases is None
            and (checked or status == "refused")
        ):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"statement {statement_id} did not reach {status}; is a worker running?")


async def _breaks(db: Database, statement_id: uuid.UUID, kind: str) -> list[ReconBreak]:
    async with db.session() as session:
        return list(
            (
                await session.exec(
                    select(ReconBreak)
                    .where(ReconBreak.statement_id == statement_id, ReconBreak.kind == kind)
                    .order_by(ReconBreak.dedupe_key)
                )
            ).all()
        )


async def seed_reconciliation(db: Database, temporal: Client, settings: Settings) -> dict[str, int]:
    async with db.session() as session:
        if (await session.exec(select(ReconSource.id))).first():
            return {}
        account = (await session.exec(select(Account).order_by(col(Account.opened_at)))).first()
    if account is None:
        return {}
    fay = await actor_named(db, "finance.fay")
    today = datetime.now(UTC).date()
    statements: dict[str, uuid.UUID] = {}
    samples: dict[str, tuple[uuid.UUID, sample_files.Sample]] = {}
    for demo in SOURCES:
        source = await _first_source(
            db,
            fay,
            SourceForm(
                name=demo.name,
                format=demo.format,
                accounts=[demo.account] if demo.account else [],
                currency=demo.currency,
                channels=["sepa", "swift", "cash", "card"],
                batch_channels=["card"],
                description=demo.description,
                csv_mapping=CARD_PROCESSOR_SETTLEMENT.model_dump(mode="json")
                if demo.format == "csv"
                else None,
                reason="The demo installation's first configuration.",
            ),
        )
        sample = sample_files.generate(
            LINES,
            seed=demo.seed,
            currency=demo.currency,
            start=today - timedelta(days=demo.starts_days_ago),
            days=demo.days,
            ref_prefix=f"{demo.format.upper()}-",
        )
        await insert_records(db, sample, account.id, account.customer_id)
        received = await receive_statement(
            db,
            temporal,
            settings,
            fay,
            source_id=source.id,
            filename=f"{demo.format}-{sample.period_to:%Y%m%d}.{_extension(demo.format)}",
            content=_file(demo, sample),
        )
        statements[demo.format] = received.statement_id
        samples[demo.format] = (source.id, sample)
        if demo.format == "camt053":
            # The same statement again, with a closing balance the entries do not reach.
            wrong = sample_files.generate(
                LINES,
                seed=demo.seed + 100,
                currency=demo.currency,
                start=today - timedelta(days=demo.starts_days_ago + 22),
                days=demo.days,
                ref_prefix="CAMTOLD-",
            )
            wrong.closing_balance += Decimal("250.00")
            await insert_records(db, wrong, account.id, account.customer_id)
            statements["wrong_balance"] = (
                await receive_statement(
                    db,
                    temporal,
                    settings,
                    fay,
                    source_id=source.id,
                    filename=f"camt053-{wrong.period_to:%Y%m%d}.xml",
                    content=_file(demo, wrong),
                )
            ).statement_id
        if demo.format == "mt940":
            # An earlier week from Barclays' new export, which names the account as
            # BIC/number/currency: refused with where and why (the source does not list
            # that form yet), keeping no lines. The page says what to do; once the re-map
            # proposed below is approved, the very same file can be uploaded again.
            earlier = sample_files.generate(
                LINES,
                seed=demo.seed + 200,
                currency=demo.currency,
                start=today - timedelta(days=demo.starts_days_ago + 14),
                days=demo.days,
                ref_prefix="MT940NEW-",
            )
            await insert_records(db, earlier, account.id, account.customer_id)
            new_export = sample_files.statement_file("mt940", earlier, account=BARCLAYS_NEW_FORM)
            statements["refused"] = (
                await receive_statement(
                    db, temporal, settings, fay, source_id=source.id,
                    filename=f"barclays-new-export-{earlier.period_to:%Y%m%d}.sta",
                    content=new_export,
                )
            ).statement_id  # fmt: skip
    for key, statement_id in statements.items():
        await _matched(db, statement_id, status="refused" if key == "refused" else "matched")
    resolved = await _work_breaks(db, temporal, fay, statements)
    source_id, sample = samples["csv"]
    later = await _later_report(db, temporal, settings, fay, statements["csv"], source_id, sample)
    await _matched(db, later)
    gbp_id, _ = samples["mt940"]
    await propose_source_change(
        db,
        temporal,
        settings,
        fay,
        SourceForm(
            name="Nostro GBP · Barclays",
            format="mt940",
            accounts=["GB33BUKB20201555555555", "BUKBGB22/20201555555555/GBP"],
            currency="GBP",
            channels=["sepa", "swift", "cash", "card"],
            batch_channels=["card"],
            description="Our GBP account: MT940 statements.",
            reason="Barclays' new MT940 export names the account as BIC/number/currency.",
        ),
        source_id=gbp_id,
    )
    return {
        "reconciliation statements": len(statements) + 1,
        "breaks resolved": resolved,
        "source changes pending": 1,
    }


async def _first_source(db: Database, actor: Actor, form: SourceForm) -> ReconSource:
    """A source of the installation's first configuration, written as version 1 (every
    later change to it is a maker-checker change)."""
    values, errors = check_source(form)
    if errors:
        raise ValueError(f"demo source {form.name}: {errors}")
    async with db.transaction() as session:
        return await write_source(
            session,
            values=values,
            source_id=uuid.uuid4(),
            version=1,
            actor=actor.ref,
            created_by=actor.user_id,
            origin=actor.origin,
        )


async def _later_report(
    db: Database,
    temporal: Client,
    settings: Settings,
    fay: Actor,
    first: uuid.UUID,
    source_id: uuid.UUID,
    sample: sample_files.Sample,
) -> uuid.UUID:
    """The processor's next report: a payment of ours the first one lacked turns up (its
    break resolves itself), and one payment of the first report is reported again (a break
    naming the record it already matched)."""
    missing = (await _breaks(db, first, "unmatched_record"))[0]
    records = sample.records
    row = records.loc[records["id"] == str(missing.record_ids[0])].iloc[0]
    again = sample.lines[sample.labels.index("reference")]
    late = dataclasses.replace(
        again,
        line_no=2,
        booked_on=row["booked_on"].date() + timedelta(days=6),
        value_date=None,
        amount=missing.amount,
        reference=row["external_id"],
        description="Late settlement",
    )
    repeated = dataclasses.replace(again, line_no=1, booked_on=late.booked_on)
    content = sample_files.to_csv(
        dataclasses.replace(sample, lines=[repeated, late]), CARD_PROCESSOR_SETTLEMENT
    )
    received = await receive_statement(
        db, temporal, settings, fay, source_id=source_id,
        filename=f"csv-{late.booked_on:%Y%m%d}.csv", content=content,
    )  # fmt: skip
    return received.statement_id


def _extension(fmt: str) -> str:
    return {"camt053": "xml", "mt940": "sta"}.get(fmt, "csv")


async def _work_breaks(
    db: Database, temporal: Client, fay: Actor, statements: dict[str, uuid.UUID]
) -> int:
    async def resolve(brk: ReconBreak, **form: object) -> None:
        workflow_id = break_workflow_id(brk.id)
        await work_task(db, temporal, fay, workflow_id, resolve_key(1), None)
        await resolve_break(
            db,
            temporal,
            fay,
            brk.id,
            ResolveForm(task_id=task_id_for(workflow_id, resolve_key(1)), **form),  # type: ignore[arg-type]
        )

    camt = statements["camt053"]
    done = 0
    # An ambiguous pair: Fay picks the record that belongs to the line.
    for brk in (await _breaks(db, camt, "ambiguous"))[:1]:
        await resolve(
            brk,
            action="matched",
            line_nos=brk.line_nos[:1],
            record_ids=brk.candidate_record_ids[:1],
            note="The invoice number in the remittance text names this payment.",
        )
        done += 1
    # An unmatched line explained as a timing difference.
    for brk in (await _breaks(db, camt, "unmatched_line"))[:1]:
        await resolve(
            brk,
            action="explained",
            reason_code="timing_difference",
            note="Booked by the bank on the last day; our booking follows on Monday.",
        )
        done += 1
    # An amount mismatch written off (small: booked at once).
    for brk in (await _breaks(db, camt, "amount_mismatch"))[:1]:
        await resolve(
            brk,
            action="write_off",
            reason_code="bank_charge",
            amount=format(min(abs(brk.difference), Decimal(50)), "f"),
            note="Correspondent bank charge deducted in transit.",
        )
        done += 1
    # A large unmatched line proposed for write-off: waits for an ops manager (four-eyes).
    usd = await _breaks(db, statements["csv"], "unmatched_line")
    large = sorted(usd, key=lambda b: abs(b.amount), reverse=True)[:1]
    for brk in large:
        await resolve(
            brk,
            action="write_off",
            reason_code="unrecoverable",
            amount=format(abs(brk.amount), "f"),
            note="Processor confirms the payout cannot be traced; request write-off.",
        )
    return done
