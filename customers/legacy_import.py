"""Migrating a legacy book: its customers and their accounts, from one CSV file.

One row is one account; rows sharing a `legacy_ref` are one customer with several
accounts. The file is read as a stream: each row is checked (`customers.legacy_rows`:
IBAN check digits, currency, country, ...) and COPYed, good or bad, into a temporary
staging table; the checks that need other rows or the database (an IBAN twice, one
customer described two ways, an IBAN owned by someone else) run there as set-based
UPDATEs, and customers and accounts are written by two INSERT ... SELECT statements,
references drawn from `customer_reference_seq` by the same statement.

Everything happens in one transaction with one summary audit event for the run (counts,
file name and SHA-256): the run is the change the operator made, and 100 000 per-row
events would hold the audit chain's lock for seconds while saying nothing the summary
does not. Re-running a file creates nothing: customers are keyed by `legacy_ref`,
accounts by IBAN.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from aml.commands.importing import ImportReport, Progress, no_progress
from audit import trail as audit
from audit.trail import SYSTEM, ActorRef
from core.db import Database, run_sql
from customers.legacy_rows import ImportFileError, open_csv, scan, staged_rows
from models.audit import AuditEvent
from models.base import utcnow
from models.onboarding import Customer

__all__ = ["IMPORT_ACTION", "CustomerImportReport", "ImportFileError", "import_customers_csv"]

IMPORT_ACTION = "customers.imported"
CHUNK = 5000  # rows between progress reports
_LOCK = 0x6C6567616379  # "legacy": one customer import at a time per database


@dataclass
class CustomerImportReport(ImportReport):
    customers_created: int = 0  # `inserted` counts the accounts opened
    customers_extended: int = 0  # customers already here that gained an account
    sha256: str = ""
    # The created_at of every customer this run created: how their screening finds them.
    imported_at: datetime | None = None


# ----------------------------------------------------------------------------- the database
_STAGE = """
CREATE TEMP TABLE legacy_customer_stage (
    line integer PRIMARY KEY, raw_ref text,
    legacy_ref text, kind text, name text, segment text, country text, email text,
    risk_level text, risk_score integer, iban text, currency text, opened_at timestamptz,
    account_status text, tariff_plan text,
    reason_kind text, reason text,
    duplicate boolean NOT NULL DEFAULT false, plan_id uuid
) ON COMMIT DROP
"""
_COPY = (
    "COPY legacy_customer_stage (line, raw_ref, legacy_ref, kind, name, segment, country, "
    "email, risk_level, risk_score, iban, currency, opened_at, account_status, tariff_plan, "
    "reason_kind, reason) FROM STDIN"
)
# The checks that need other rows or the database, in order; each rejects what is left.
# (`regexp_replace(iban, '(.{4})', '\1 ', 'g')` prints an IBAN in groups of four.)
_CHECKS = (
    # The same IBAN twice in the file: the first row keeps it.
    """UPDATE legacy_customer_stage s SET reason_kind = 'IBAN repeated in the file',
        reason = 'IBAN ' || trim(regexp_replace(s.iban, '(.{4})', '\\1 ', 'g'))
            || ' is already on line ' || f.first_line
    FROM (SELECT line, min(line) OVER (PARTITION BY iban) AS first_line
          FROM legacy_customer_stage WHERE reason IS NULL) f
    WHERE s.line = f.line AND f.line <> f.first_line""",
    # One customer described two ways: its first row describes it.
    """UPDATE legacy_customer_stage s SET reason_kind = 'customer details differ',
        reason = 'legacy_ref ' || s.legacy_ref || ' is described differently on line '
            || f.line || ' (' || array_to_string(array_remove(ARRAY[
                CASE WHEN s.kind IS DISTINCT FROM f.kind THEN 'kind' END,
                CASE WHEN s.name IS DISTINCT FROM f.name THEN 'name' END,
                CASE WHEN s.segment IS DISTINCT FROM f.segment THEN 'segment' END,
                CASE WHEN s.country IS DISTINCT FROM f.country THEN 'country' END,
                CASE WHEN s.email IS DISTINCT FROM f.email THEN 'email' END,
                CASE WHEN s.risk_level IS DISTINCT FROM f.risk_level THEN 'risk_level' END,
                CASE WHEN s.risk_score IS DISTINCT FROM f.risk_score THEN 'risk_score' END
            ], NULL), ', ') || ')'
    FROM (SELECT DISTINCT ON (legacy_ref) * FROM legacy_customer_stage
          WHERE reason IS NULL ORDER BY legacy_ref, line) f
    WHERE s.legacy_ref = f.legacy_ref AND s.reason IS NULL AND s.line <> f.line
      AND (s.kind, s.name, s.segment, s.country, s.email, s.risk_level, s.risk_score)
          IS DISTINCT FROM (f.kind, f.name, f.segment, f.country, f.email, f.risk_level,
                            f.risk_score)""",
    # Already imported (a re-run): nothing to do for the row.
    """UPDATE legacy_customer_stage s SET duplicate = true
    FROM account a JOIN customer c ON c.id = a.customer_id
    WHERE a.iban = s.iban AND c.legacy_ref = s.legacy_ref AND s.reason IS NULL""",
    """UPDATE legacy_customer_stage s SET reason_kind = 'IBAN belongs to another customer',
        reason = 'IBAN ' || trim(regexp_replace(s.iban, '(.{4})', '\\1 ', 'g'))
            || ' already belongs to customer ' || c.reference
    FROM account a JOIN customer c ON c.id = a.customer_id
    WHERE a.iban = s.iban AND s.reason IS NULL AND NOT s.duplicate""",
    # The plan the file names, else the segment's default (ordered as opening's default_plan).
    """UPDATE legacy_customer_stage s SET plan_id = p.id FROM tariff_plan p
    WHERE s.reason IS NULL AND NOT s.duplicate AND p.code = s.tariff_plan""",
    """UPDATE legacy_customer_stage s SET plan_id = d.id
    FROM (SELECT DISTINCT ON (segment) segment, id FROM tariff_plan
          ORDER BY segment, is_default DESC, created_at) d
    WHERE s.reason IS NULL AND NOT s.duplicate AND s.tariff_plan IS NULL
      AND d.segment = s.segment""",
    """UPDATE legacy_customer_stage s SET
        reason_kind = CASE WHEN s.tariff_plan IS NULL THEN 'no tariff plan for the segment'
                      ELSE 'unknown tariff plan' END,
        reason = CASE WHEN s.tariff_plan IS NULL
                      THEN 'no tariff plan exists for the ' || s.segment || ' segment'
                      ELSE 'tariff plan ' || s.tariff_plan || ' does not exist' END
    WHERE s.reason IS NULL AND NOT s.duplicate AND s.plan_id IS NULL""",
)
_EXTENDED = """SELECT count(DISTINCT s.legacy_ref) FROM legacy_customer_stage s
    JOIN customer c ON c.legacy_ref = s.legacy_ref WHERE s.reason IS NULL AND NOT s.duplicate"""
# A customer is its first good row; references follow the file's order (nextval runs as
# the ordered subquery is read).
_INSERT_CUSTOMERS = """
INSERT INTO customer (id, reference, kind, name, segment, country, email, status, kyc_status,
                      risk_level, risk_score, application_id, legacy_ref, created_at)
SELECT gen_random_uuid(), 'CUS-' || nextval('customer_reference_seq'), kind, name, segment,
       country, email, 'active', 'migrated', risk_level, risk_score, NULL, legacy_ref, :now
FROM (SELECT * FROM (SELECT DISTINCT ON (legacy_ref) * FROM legacy_customer_stage
                     WHERE reason IS NULL AND NOT duplicate ORDER BY legacy_ref, line) firsts
      WHERE NOT EXISTS (SELECT 1 FROM customer c WHERE c.legacy_ref = firsts.legacy_ref)
      ORDER BY line) f
ON CONFLICT (legacy_ref) DO NOTHING
"""
_INSERT_ACCOUNTS = """
INSERT INTO account (id, customer_id, application_id, iban, currency, tariff_plan_id, status,
                     opened_at)
SELECT gen_random_uuid(), c.id, NULL, s.iban, s.currency, s.plan_id, s.account_status,
       coalesce(s.opened_at, :now)
FROM legacy_customer_stage s JOIN customer c ON c.legacy_ref = s.legacy_ref
WHERE s.reason IS NULL AND NOT s.duplicate
ORDER BY s.line
ON CONFLICT (iban) DO NOTHING
"""
_REPORT = (
    "COPY (SELECT line, raw_ref AS legacy_ref, reason FROM legacy_customer_stage "
    "WHERE reason IS NOT NULL ORDER BY line) TO STDOUT (FORMAT csv, HEADER)"
)


async def _stage(
    session: AsyncSession, path: Path, total: int, now: datetime, progress: Progress
) -> None:
    """Stream the file into the staging table, checking each row on the way."""
    await run_sql(session, _STAGE)
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    done = 0
    with open_csv(path) as handle:
        async with driver.cursor() as cursor, cursor.copy(_COPY) as copy:
            for row in staged_rows(handle, now):
                await copy.write_row(row)
                done += 1
                if done % CHUNK == 0:
                    progress(done, total)
    progress(done, total)
    await run_sql(session, "ANALYZE legacy_customer_stage")


async def _write_report(session: AsyncSession, out: BinaryIO) -> None:
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    async with driver.cursor() as cursor, cursor.copy(_REPORT) as copy:
        async for data in copy:
            out.write(data)


async def import_customers_csv(
    db: Database,
    path: Path,
    *,
    report_path: Path,
    progress: Progress = no_progress,
    actor: ActorRef = SYSTEM,
) -> CustomerImportReport:
    """Load the file's good rows (one transaction), list the rest with reasons in `report_path`."""
    total, sha256 = scan(path)
    report = CustomerImportReport(total=total, report_path=report_path, sha256=sha256)
    try:
        out = report_path.open("wb")
    except OSError as exc:
        raise ImportFileError(f"Cannot write the report to {report_path}: {exc.strerror}") from None
    try:
        with out:
            await _load(db, path, report, out, progress, actor)
    except BaseException:
        # Nothing was written: a report of refused rows would suggest the rest went in.
        report_path.unlink(missing_ok=True)  # noqa: ASYNC240 (a CLI run: nothing else waits on this loop)
        raise
    return report


async def _load(
    db: Database,
    path: Path,
    report: CustomerImportReport,
    out: BinaryIO,
    progress: Progress,
    actor: ActorRef,
) -> None:
    now = utcnow()
    report.imported_at = now
    async with db.transaction() as session:
        await run_sql(session, "SELECT pg_advisory_xact_lock(:k)", {"k": _LOCK})
        await _stage(session, path, report.total, now, progress)
        for statement in _CHECKS:
            await run_sql(session, statement)
        report.customers_extended = (await run_sql(session, _EXTENDED)).scalar_one()
        report.customers_created = (
            await run_sql(session, _INSERT_CUSTOMERS, {"now": now})
        ).rowcount
        report.inserted = (await run_sql(session, _INSERT_ACCOUNTS, {"now": now})).rowcount
        counts = (
            await run_sql(
                session,
                "SELECT reason_kind, count(*) FROM legacy_customer_stage "
                "WHERE reason IS NOT NULL GROUP BY reason_kind ORDER BY count(*) DESC",
            )
        ).all()
        report.reasons = {kind: n for kind, n in counts}
        report.rejected = sum(report.reasons.values())
        # Rows that passed every check but lost a race for their IBAN count as present.
        report.duplicates = report.total - report.rejected - report.inserted
        await _write_report(session, out)
        await audit.record(
            session,
            action=IMPORT_ACTION,
            actor=actor,
            object_type="customer_import",
            object_id=uuid.uuid4(),
            details={
                "file": path.name,
                "sha256": report.sha256,
                "rows": report.total,
                "customers_created": report.customers_created,
                "customers_extended": report.customers_extended,
                "accounts_opened": report.inserted,
                "already_present": report.duplicates,
                "rejected": report.rejected,
                "reasons": report.reasons,
                # Every customer this run created carries it as created_at.
                "imported_at": now,
            },
        )


async def import_event(session: AsyncSession, customer: Customer) -> AuditEvent | None:
    """The summary event of the import run that created a migrated customer."""
    if customer.legacy_ref is None:
        return None
    return (
        await session.exec(
            select(AuditEvent)
            .where(
                AuditEvent.action == IMPORT_ACTION,
                col(AuditEvent.details)["imported_at"].astext
                == audit.jsonable(customer.created_at),
            )
            .limit(1)
        )
    ).first()
