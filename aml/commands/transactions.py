"""Transactions in from core banking, monitored as they arrive; and read back page by page.

A batch is judged row by row: a bad row is reported by its index with a message per
field and the good rows of the same batch are kept. Each transaction is unique by the
sender's `external_id`: the same row again is a duplicate and changes nothing; the same
`external_id` with different content is refused for that row. Rows go in with one
`INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING RETURNING id`, so only rows that
are really new are monitored, and the insert, the alerts, their cases and the audit event
commit together.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from aml.commands.judges import load_judges
from aml.commands.transaction_rows import MAX_BATCH, ParsedRow, parse_row
from aml.engines import monitoring
from aml.engines.monitoring_data import Txn
from audit import trail as audit
from core.db import Database, run_sql
from core.settings import Settings
from identity.access import require
from identity.actors import Actor
from models.base import utcnow
from shared.errors import Invalid

# --- what the API answers ----------------------------------------------------------------


class RejectedRow(BaseModel):
    index: int = Field(description="Position of the row in the batch, counting from 0.")
    external_id: str | None = Field(description="The row's external_id, if it had one.")
    errors: dict[str, str] = Field(
        description="What is wrong, per field (`counterparty.country`, `account`...)."
    )


class AlertRaised(BaseModel):
    id: uuid.UUID
    rule: str = Field(description="The rule that fired (its configuration is aml_rule_<rule>).")
    rule_version: int = Field(description="The version of the rule's configuration used.")
    severity: str = Field(description="low, medium or high.")
    reason: str = Field(description="Why, in words.")
    customer_id: uuid.UUID
    case_id: uuid.UUID | None = Field(description="The AML case the alert was attached to.")


class CaseTouched(BaseModel):
    case_id: uuid.UUID
    reference: str = Field(description="The case's reference, e.g. AML-1042.")
    customer_id: uuid.UUID
    opened: bool = Field(description="True when this batch opened the case.")
    alerts: int = Field(description="Alerts of this batch attached to the case.")


class IngestResult(BaseModel):
    received: int = Field(description="Rows in the request.")
    accepted: int = Field(description="New transactions stored (and monitored).")
    duplicates: int = Field(
        description="Rows already received with the same content: nothing changed for them."
    )
    rejected: int = Field(description="Rows refused; each is listed in `rejected_rows`.")
    rejected_rows: list[RejectedRow] = Field(default_factory=list)
    alerts: list[AlertRaised] = Field(
        default_factory=list, description="Alerts the new transactions raised."
    )
    cases: list[CaseTouched] = Field(
        default_factory=list, description="AML cases the alerts went to."
    )


# --- a batch into the table ----------------------------------------------------------------


@dataclass
class StoredBatch:
    inserted: list[Txn]
    duplicates: int
    rejected: list[RejectedRow]


async def accounts_by_iban(
    session: AsyncSession, ibans: Sequence[str]
) -> dict[str, tuple[uuid.UUID, uuid.UUID]]:
    """IBAN -> (account id, customer id) for the IBANs that are ours."""
    rows = (
        await run_sql(
            session,
            "SELECT iban, id, customer_id FROM account WHERE iban = ANY(:ibans)",
            {"ibans": list(set(ibans))},
        )
    ).all()
    return {row.iban: (row.id, row.customer_id) for row in rows}


INSERT_SQL = (
    "INSERT INTO transaction (id, external_id, account_id, customer_id, booked_at, amount, "
    "currency, direction, channel, counterparty_name, counterparty_account, "
    "counterparty_country, description, source, received_at) "
    "SELECT u.*, CAST(:source AS varchar), CAST(:received_at AS timestamptz) FROM unnest("
    "CAST(:id AS uuid[]), CAST(:external_id AS varchar[]), CAST(:account_id AS uuid[]), "
    "CAST(:customer_id AS uuid[]), CAST(:booked_at AS timestamptz[]), "
    "CAST(:amount AS numeric[]), CAST(:currency AS varchar[]), CAST(:direction AS varchar[]), "
    "CAST(:channel AS varchar[]), CAST(:counterparty_name AS varchar[]), "
    "CAST(:counterparty_account AS varchar[]), CAST(:counterparty_country AS varchar[]), "
    "CAST(:description AS varchar[])) AS u "
    "ON CONFLICT (external_id) DO NOTHING RETURNING id"
)
SAME_ID_OTHER_CONTENT = (
    "external_id already used for a different transaction; "
    "nothing was changed (use a new external_id for a new transaction)"
)


async def store_rows(
    session: AsyncSession,
    rows: Sequence[ParsedRow],
    *,
    source: str,
    received_at: datetime,
) -> StoredBatch:
    """Insert the rows that are new; sort the rest into duplicates and refusals."""
    accounts = await accounts_by_iban(session, [r.iban for r in rows])
    rejected: list[RejectedRow] = []
    first: dict[str, ParsedRow] = {}
    repeats: list[ParsedRow] = []  # an external_id already earlier in this batch
    for row in rows:
        if row.iban not in accounts:
            rejected.append(
                RejectedRow(
                    index=row.index,
                    external_id=row.external_id,
                    errors={"account": "no account with this IBAN at this bank"},
                )
            )
        elif row.external_id in first:
            repeats.append(row)
        else:
            first[row.external_id] = row
    ids = {ext: uuid.uuid4() for ext in first}
    # In key order: two batches sharing external_ids wait for each other, never deadlock.
    fresh = sorted(first.values(), key=lambda r: r.external_id)
    new_ids: set[uuid.UUID] = set()
    if fresh:
        columns: dict[str, list[Any]] = {
            "id": [ids[r.external_id] for r in fresh],
            "external_id": [r.external_id for r in fresh],
            "account_id": [accounts[r.iban][0] for r in fresh],
            "customer_id": [accounts[r.iban][1] for r in fresh],
            "booked_at": [r.booked_at for r in fresh],
            "amount": [r.amount for r in fresh],
            "currency": [r.currency for r in fresh],
            "direction": [r.direction for r in fresh],
            "channel": [r.channel for r in fresh],
            "counterparty_name": [r.counterparty_name for r in fresh],
            "counterparty_account": [r.counterparty_account for r in fresh],
            "counterparty_country": [r.counterparty_country for r in fresh],
            "description": [r.description for r in fresh],
        }
        result = await run_sql(
            session, INSERT_SQL, {**columns, "source": source, "received_at": received_at}
        )
        new_ids = set(result.scalars().all())
    inserted = [r for r in fresh if ids[r.external_id] in new_ids]
    # Rows that were not inserted (sent before) and repeats: the same content or not?
    others = [r for r in fresh if ids[r.external_id] not in new_ids] + repeats
    stored = await _stored_content(session, [r.external_id for r in others])
    duplicates = 0
    for row in others:
        if stored.get(row.external_id) == row.content(accounts[row.iban][0]):
            duplicates += 1
        else:
            rejected.append(
                RejectedRow(
                    index=row.index,
                    external_id=row.external_id,
                    errors={"external_id": SAME_ID_OTHER_CONTENT},
                )
            )
    txns = [
        Txn(
            id=ids[r.external_id],
            external_id=r.external_id,
            account_id=accounts[r.iban][0],
            customer_id=accounts[r.iban][1],
            booked_at=r.booked_at,
            amount=r.amount,
            currency=r.currency,
            direction=r.direction,
            channel=r.channel,
            counterparty_name=r.counterparty_name,
            counterparty_account=r.counterparty_account,
            counterparty_country=r.counterparty_country,
        )
        for r in inserted
    ]
    return StoredBatch(inserted=txns, duplicates=duplicates, rejected=rejected)


async def _stored_content(
    session: AsyncSession, external_ids: Sequence[str]
) -> dict[str, tuple[Any, ...]]:
    if not external_ids:
        return {}
    rows = (
        await run_sql(
            session,
            "SELECT external_id, account_id, booked_at, amount, currency, direction, channel, "
            "counterparty_name, counterparty_account, counterparty_country, description "
            "FROM transaction WHERE external_id = ANY(:ids)",
            {"ids": list(set(external_ids))},
        )
    ).all()
    return {row[0]: tuple(row[1:]) for row in rows}


# --- ingest --------------------------------------------------------------------------------


async def ingest(
    db: Database,
    temporal: Client,
    settings: Settings,
    actor: Actor,
    rows: Sequence[Mapping[str, Any]],
    *,
    source: str = "api",
    monitor: bool = True,
) -> IngestResult:
    """Store the new transactions of a batch, monitor them, and say what happened to each row."""
    await require(
        db, actor, "transaction", "submit", action="transaction.submit", object_type="transaction"
    )
    if len(rows) > MAX_BATCH:
        raise Invalid(
            f"A batch holds at most {MAX_BATCH:,} transactions; this one has {len(rows):,}. "
            "Split it into smaller batches.",
            code="batch_too_large",
            fields={"transactions": f"at most {MAX_BATCH} rows"},
        )
    if not rows:
        raise Invalid(
            "The batch holds no transactions.",
            fields={"transactions": "send at least one transaction"},
        )
    now = utcnow()
    parsed: list[ParsedRow] = []
    rejected: list[RejectedRow] = []
    for index, raw in enumerate(rows):
        row, errors = parse_row(raw, index, now)
        if row is not None:
            parsed.append(row)
        else:
            ext = raw.get("external_id") if isinstance(raw, Mapping) else None
            rejected.append(
                RejectedRow(
                    index=index,
                    external_id=ext[:100] if isinstance(ext, str) else None,
                    errors=errors,
                )
            )
    judges = await load_judges(db) if monitor else []
    outcome = monitoring.MonitoringOutcome()
    async with db.transaction() as session:
        batch = await store_rows(session, parsed, source=source, received_at=now)
        if judges:
            outcome = await monitoring.monitor(
                session,
                batch.inserted,
                judges,
                temporal=temporal,
                task_queue=settings.task_queue,
                actor=actor.ref,
            )
        rejected = sorted(rejected + batch.rejected, key=lambda r: r.index)
        result = _result(len(rows), batch, rejected, outcome)
        await audit.record(
            session,
            action="transactions.ingested",
            actor=actor.ref,
            outcome=audit.SUCCESS if result.accepted or result.duplicates else audit.FAILURE,
            object_type="transaction_batch",
            object_id=uuid.uuid4(),
            origin=actor.origin,
            details={
                "source": source,
                "received": result.received,
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rejected": result.rejected,
                "rejected_indexes": [r.index for r in rejected[:50]],
                "alerts": len(result.alerts),
                "cases": [c.reference for c in result.cases],
            },
        )
    return result


def _result(
    received: int,
    batch: StoredBatch,
    rejected: list[RejectedRow],
    outcome: monitoring.MonitoringOutcome,
) -> IngestResult:
    return IngestResult(
        received=received,
        accepted=len(batch.inserted),
        duplicates=batch.duplicates,
        rejected=len(rejected),
        rejected_rows=rejected,
        alerts=[
            AlertRaised(
                id=a.id,
                rule=a.rule_key,
                rule_version=a.rule_version,
                severity=a.severity,
                reason=a.reason,
                customer_id=a.customer_id,
                case_id=a.case_id,
            )
            for a in outcome.alerts
        ],
        cases=[
            CaseTouched(
                case_id=r.case_id,
                reference=r.reference,
                customer_id=r.customer_id,
                opened=r.opened,
                alerts=len(r.alert_ids),
            )
            for r in outcome.routes
        ],
    )
