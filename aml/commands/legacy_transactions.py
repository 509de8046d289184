"""`backoffice import transactions FILE.csv [--alert]`: a legacy book's transactions, in bulk.

The file is read as a stream, `CHUNK` rows at a time, never whole. Each chunk is checked
row by row (the API's rules: `aml.commands.transaction_rows`), copied into a temporary
staging table and moved with one `INSERT ... SELECT ... ON CONFLICT (external_id) DO NOTHING`,
with its audit event, in one transaction; so a re-run inserts nothing, and an external_id
already used for a different transaction is refused. Refused rows go to the report file
(line, external_id, reason).

Imported history feeds the rules' baselines (they read the transaction table). With
`alert`, the rules then judge the imported rows themselves, in booked order, read back
through a server-side cursor, `MONITOR_CHUNK` at a time (progress after each slice:
judged, of how many, alerts so far), and alerts go to their customers' cases as from the
API - except that a slice's cases are signalled after the slice commits, so each case's
workflow starts on a committed case (`aml.commands.casework`).
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from aml.commands.casework import signal_committed
from aml.commands.importing import ImportReport, JudgingProgress, Progress, no_judging_progress
from aml.commands.judges import load_judges
from aml.commands.monitoring_store import txn_from_row
from aml.commands.transaction_rows import ParsedRow, parse_row
from aml.commands.transactions import SAME_ID_OTHER_CONTENT, accounts_by_iban
from aml.engines import monitoring
from audit import trail as audit
from audit.trail import SYSTEM, ActorRef
from core.db import Database, run_sql
from core.settings import Settings
from models.base import utcnow
from shared.errors import Invalid

COLUMNS = (
    "external_id",
    "account_iban",
    "booked_at",
    "amount",
    "currency",
    "direction",
    "channel",
    "counterparty_name",
    "counterparty_account",
    "counterparty_country",
    "description",
)
REQUIRED = COLUMNS[:7]
CHUNK = 5_000
_LOCK = 0x74786E696D70  # "txnimp": one import chunk at a time
MONITOR_CHUNK = 2_000
# The API names fields as the JSON has them; the report names the file's columns.
COLUMN_OF = {
    "account": "account_iban",
    "counterparty.name": "counterparty_name",
    "counterparty.account": "counterparty_account",
    "counterparty.country": "counterparty_country",
}
STAGE_COLUMNS = (
    "line, id, external_id, account_id, customer_id, booked_at, amount, currency, direction, "
    "channel, counterparty_name, counterparty_account, counterparty_country, description"
)


def _api_row(raw: dict[str | None, Any]) -> dict[str, Any]:
    """A CSV record in the API's shape (empty cells are absent values)."""

    def cell(name: str) -> str | None:
        value = raw.get(name)
        return (value.strip() or None) if isinstance(value, str) else None

    parts = {k: cell(f"counterparty_{k}") for k in ("name", "account", "country")}
    return {
        "external_id": cell("external_id"),
        "account": cell("account_iban"),
        "booked_at": cell("booked_at"),
        "amount": cell("amount"),
        "currency": cell("currency"),
        "direction": cell("direction"),
        "channel": cell("channel"),
        "counterparty": parts if any(parts.values()) else None,
        "description": cell("description"),
    }


def _reader(handle: TextIO) -> csv.DictReader[str]:
    """Records by column name; the header may use any letter case and spacing."""
    reader = csv.DictReader(handle)
    reader.fieldnames = [h.strip().lower() for h in reader.fieldnames or ()]
    missing = [c for c in REQUIRED if c not in reader.fieldnames]
    if missing:
        raise Invalid(
            f"The file lacks the column(s) {', '.join(missing)}; the columns are "
            f"{', '.join(COLUMNS)} (the last four may be empty).",
            code="bad_header",
            fields={"file": f"missing columns: {', '.join(missing)}"},
        )
    return reader


def _count_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return sum(1 for _ in _reader(handle))


def _chunks(
    reader: csv.DictReader[str], size: int
) -> Iterator[list[tuple[int, dict[str | None, Any]]]]:
    chunk: list[tuple[int, dict[str | None, Any]]] = []
    for record in reader:
        chunk.append((reader.line_num, dict(record)))
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Refusals:
    """The report file and the counts behind `ImportReport.rejected` and `.reasons`."""

    def __init__(self, handle: TextIO, report: ImportReport) -> None:
        self.writer = csv.writer(handle)
        self.writer.writerow(["line", "external_id", "reason"])
        self.report = report

    def add(self, line: int, external_id: str | None, errors: dict[str, str]) -> None:
        reasons = [f"{COLUMN_OF.get(f, f)}: {m}" for f, m in errors.items()]
        self.writer.writerow([line, external_id or "", "; ".join(reasons)])
        self.report.rejected += 1
        kind = _kind(*next(iter(errors.items())))
        self.report.reasons[kind] = self.report.reasons.get(kind, 0) + 1


def _kind(field: str, message: str) -> str:
    """What the counts group a refusal by (its row's first problem): `bad amount`..."""
    column = COLUMN_OF.get(field, field)
    if message.startswith("required"):
        return f"missing {column}"
    if field == "account" and message.startswith("no account"):
        return "unknown account"
    if message == SAME_ID_OTHER_CONTENT:
        return "external_id reused"
    if field == "row":
        return "malformed row"
    if message == "unknown field":
        return "unknown field"
    return f"bad {column}"


async def import_transactions_csv(
    db: Database,
    settings: Settings,
    path: Path,
    *,
    alert: bool,
    progress: Progress,
    report_path: Path,
    temporal: Client | None = None,
    actor: ActorRef = SYSTEM,
    chunk_size: int = CHUNK,
    judging: JudgingProgress = no_judging_progress,
) -> ImportReport:
    """Import a CSV of transactions (columns: `COLUMNS`); with `alert`, monitor the new ones."""
    if alert and temporal is None:
        raise ValueError("monitoring imported transactions needs a Temporal client")
    report = ImportReport(total=_count_rows(path), report_path=report_path)
    # Every row this run inserts carries this received_at: how the monitoring pass finds them.
    marker = utcnow()
    done = 0
    with (
        path.open(newline="", encoding="utf-8-sig") as handle,
        report_path.open("w", newline="", encoding="utf-8") as out,
    ):
        refusals = _Refusals(out, report)
        for chunk in _chunks(_reader(handle), chunk_size):
            await _load_chunk(db, chunk, refusals, marker=marker, actor=actor, file=path.name)
            done += len(chunk)
            progress(done, report.total)
    if alert and report.inserted:
        assert temporal is not None
        report.alerts = await _monitor_imported(
            db, temporal, settings, marker, actor, total=report.inserted, judging=judging
        )
    return report


async def _load_chunk(
    db: Database,
    chunk: list[tuple[int, dict[str | None, Any]]],
    refusals: _Refusals,
    *,
    marker: Any,
    actor: ActorRef,
    file: str,
) -> None:
    now = utcnow()
    parsed: list[ParsedRow] = []
    for line, raw in chunk:
        if None in raw:  # csv puts cells beyond the header under None
            refusals.add(line, raw.get("external_id"), {"row": "more cells than the header has"})
            continue
        row, errors = parse_row(_api_row(raw), line, now)
        if row is None:
            refusals.add(line, raw.get("external_id"), errors)
        else:
            parsed.append(row)
    report = refusals.report
    async with db.transaction() as session:
        # Two imports at once take turns chunk by chunk: each sees what the other wrote.
        await run_sql(session, "SELECT pg_advisory_xact_lock(:k)", {"k": _LOCK})
        accounts = await accounts_by_iban(session, [r.iban for r in parsed])
        known = []
        for row in parsed:
            if row.iban in accounts:
                known.append(row)
            else:
                refusals.add(
                    row.index,
                    row.external_id,
                    {"account": "no account with this IBAN at this bank"},
                )
        inserted, clashes = await _stage_and_insert(session, known, accounts, marker)
        for line, external_id in clashes:
            refusals.add(line, external_id, {"external_id": SAME_ID_OTHER_CONTENT})
        duplicates = len(known) - inserted - len(clashes)
        report.inserted += inserted
        report.duplicates += duplicates
        await audit.record(
            session,
            action="transactions.imported",
            actor=actor,
            object_type="transaction_import",
            object_id=file[:100],
            details={
                "file": file,
                "lines": [chunk[0][0], chunk[-1][0]],
                "rows": len(chunk),
                "inserted": inserted,
                "duplicates": duplicates,
                "rejected": len(chunk) - inserted - duplicates,
            },
        )


async def _stage_and_insert(
    session: AsyncSession,
    rows: list[ParsedRow],
    accounts: dict[str, tuple[uuid.UUID, uuid.UUID]],
    marker: Any,
) -> tuple[int, list[tuple[int, str]]]:
    """COPY into a staging table, then insert what is new; (inserted, refused clashes)."""
    if not rows:
        return 0, []
    await run_sql(
        session,
        "CREATE TEMP TABLE import_stage (line int, id uuid, external_id varchar(100), "
        "account_id uuid, customer_id uuid, booked_at timestamptz, amount numeric(20, 4), "
        "currency varchar(3), direction varchar(3), channel varchar(10), "
        "counterparty_name varchar(200), counterparty_account varchar(64), "
        "counterparty_country varchar(2), description varchar(500)) ON COMMIT DROP",
    )
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    async with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY import_stage ({STAGE_COLUMNS}) FROM STDIN") as copy,
    ):
        for r in rows:
            account_id, customer_id = accounts[r.iban]
            await copy.write_row(
                (
                    r.index,
                    uuid.uuid4(),
                    r.external_id,
                    account_id,
                    customer_id,
                    r.booked_at,
                    r.amount,
                    r.currency,
                    r.direction,
                    r.channel,
                    r.counterparty_name,
                    r.counterparty_account,
                    r.counterparty_country,
                    r.description,
                )
            )
    inserted = (
        await run_sql(
            session,
            "WITH ins AS (INSERT INTO transaction (id, external_id, account_id, customer_id, "
            "booked_at, amount, currency, direction, channel, counterparty_name, "
            "counterparty_account, counterparty_country, description, source, received_at) "
            "SELECT id, external_id, account_id, customer_id, booked_at, amount, currency, "
            "direction, channel, counterparty_name, counterparty_account, counterparty_country, "
            "description, 'import', :marker FROM import_stage ORDER BY line "
            "ON CONFLICT (external_id) DO NOTHING RETURNING 1) SELECT count(*) FROM ins",
            {"marker": marker},
        )
    ).scalar_one()
    clashes = (
        await run_sql(
            session,
            "SELECT s.line, s.external_id FROM import_stage s "
            "JOIN transaction t ON t.external_id = s.external_id WHERE t.id <> s.id AND "
            "(t.account_id, t.booked_at, t.amount, t.currency, t.direction, t.channel, "
            "t.counterparty_name, t.counterparty_account, t.counterparty_country, t.description) "
            "IS DISTINCT FROM "
            "(s.account_id, s.booked_at, s.amount, s.currency, s.direction, s.channel, "
            "s.counterparty_name, s.counterparty_account, s.counterparty_country, s.description) "
            "ORDER BY s.line",
        )
    ).all()
    return int(inserted), [(c.line, c.external_id) for c in clashes]


async def _monitor_imported(
    db: Database,
    temporal: Client,
    settings: Settings,
    marker: Any,
    actor: ActorRef,
    *,
    total: int,
    judging: JudgingProgress,
) -> int:
    """Judge this run's new rows in booked order, a slice at a time; the alerts raised.

    Each slice's alerts and cases commit first; their workflows are signalled after."""
    judges = await load_judges(db)
    raised = judged = 0
    judging(0, total, 0)
    async with db.session() as reader:
        connection = await reader.connection()
        stream = await connection.stream(
            text(
                "SELECT id, external_id, account_id, customer_id, booked_at, amount, currency, "
                "direction, channel, counterparty_name, counterparty_account, "
                "counterparty_country FROM transaction "
                "WHERE source = 'import' AND received_at = :marker "
                "ORDER BY booked_at, external_id"
            ),
            {"marker": marker},
        )
        async for part in stream.partitions(MONITOR_CHUNK):
            new = [txn_from_row(r) for r in part]
            async with db.transaction() as session:
                outcome = await monitoring.monitor(
                    session,
                    new,
                    judges,
                    temporal=temporal,
                    task_queue=settings.task_queue,
                    actor=actor,
                    signal=False,
                )
            if outcome.routes:
                await signal_committed(temporal, settings.task_queue, outcome.routes)
            raised += len(outcome.alerts)
            judged += len(new)
            judging(judged, total, raised)
    return raised
