"""A statement arriving: checked, stored once, and handed to its ReconciliationWorkflow.

The statement row, its bytes and the audit event commit together with the workflow's start:
if Temporal refuses the start, nothing is stored. A file that looks like another format than
the source's (an MT942, a camt file sent to an MT940 source) is refused before anything is
stored. The same file twice is recognised by its SHA-256 and refused with the statement it
already is, under whichever source; a refused statement does not count (it kept nothing, and
the same file may be uploaded again, e.g. to the right source). A different file of a
statement already processed is refused when it is parsed (its identity: account, statement
ids and period).
"""

from __future__ import annotations

import hashlib
import uuid

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from casework.starting import start_process
from casework.store import Event
from core.db import Database, run_sql
from core.search_attributes import CASE_STATUS, CASE_TYPE
from core.settings import Settings
from identity.access import record_refusal, require
from identity.actors import Actor
from models.base import utcnow
from models.recon_io import StatementInput
from models.reconciliation import ReconSource, ReconStatement, ReconStatementFile
from reconciliation.engines.lines import FORMAT_LABELS
from reconciliation.engines.parsing import sniff, upload_problem
from reconciliation.rules import CASE_TYPE_RECON, statement_workflow_id
from shared.errors import Conflict, DomainError, Invalid, NotFound

MAX_STATEMENT_BYTES = 200 * 1024 * 1024


class StatementReceived(BaseModel):
    statement_id: uuid.UUID
    reference: str
    status: str
    workflow_id: str


def refusal_next_step(reason: str | None) -> str:
    """What the person who uploaded a refused statement can do now. A refused statement
    kept no lines and does not count as uploaded, so the same file may go in again."""
    reason = reason or ""
    if "already processed as" in reason:
        return (
            "Nothing to do: this statement was already reconciled under the reference named above."
        )
    if "MT942" in reason or "intraday" in reason:
        return "Nothing of this file was kept. Upload the end-of-day statement instead."
    if " account " in reason or " is in " in reason or "takes no statement" in reason:
        return (
            "Nothing of this file was kept, and it does not count as uploaded: upload the "
            "same file to the source for its account and currency (or have this source's "
            "accounts changed), and it is read again from the start."
        )
    return (
        "Nothing of this file was kept, and it does not count as uploaded: correct the file "
        "(or ask the bank for a fresh export) and upload it again, or upload it to the "
        "source it belongs to."
    )


def clean_filename(raw: str | None) -> str:
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return "".join(ch for ch in name if ch.isprintable())[:200] or "statement"


async def receive_statement(
    db: Database,
    temporal: Client,
    settings: Settings,
    actor: Actor,
    *,
    source_id: uuid.UUID | None,
    filename: str | None,
    content: bytes,
) -> StatementReceived:
    """Store an uploaded statement and start reconciling it; refusals say why."""
    action = "recon.statement_uploaded"
    await require(
        db, actor, "reconciliation", "upload", action=action, object_type="recon_statement"
    )
    name = clean_filename(filename)
    digest = hashlib.sha256(content).hexdigest()
    try:
        async with db.transaction() as session:
            source = await session.get(ReconSource, source_id) if source_id else None
            fields: dict[str, str] = {}
            if source is None:
                fields["source_id"] = "Choose where the statement comes from."
            if not content:
                fields["file"] = "The file is empty."
            elif len(content) > MAX_STATEMENT_BYTES:
                fields["file"] = (
                    f"The file is {len(content) // (1024 * 1024)} MB; at most "
                    f"{MAX_STATEMENT_BYTES // (1024 * 1024)} MB is accepted."
                )
            if fields:
                raise Invalid("The statement was not accepted.", fields=fields)
            assert source is not None
            if source.format == "csv" and not source.csv_mapping:
                raise Invalid(
                    f"{source.name} has no CSV column mapping yet; save one first.",
                    fields={"source_id": "This source needs a column mapping."},
                )
            # What the file looks like, before anything is stored: an MT942 or a camt file
            # sent to an MT940 source is named as such (422), not read and refused later.
            if problem := upload_problem(sniff(content), source.name, source.format):
                raise Invalid(problem, fields={"file": problem})
            # Two uploads of one file at once: the second waits for the first's commit here.
            await run_sql(session, "SELECT pg_advisory_xact_lock(hashtext(:d))", {"d": digest})
            await _refuse_duplicate(session, digest)
            number = (
                await run_sql(session, "SELECT nextval('recon_statement_reference_seq')")
            ).scalar_one()
            statement_id = uuid.uuid4()
            reference = f"STM-{number:06d}"
            workflow_id = statement_workflow_id(statement_id)
            session.add(
                ReconStatement(
                    id=statement_id,
                    reference=reference,
                    source_id=source.id,
                    filename=name,
                    format=source.format,
                    sha256=digest,
                    size=len(content),
                    uploaded_by=actor.user_id,
                    uploaded_at=utcnow(),
                    channel=actor.origin.channel,
                    status="received",
                    workflow_id=workflow_id,
                )
            )
            await session.flush()
            session.add(ReconStatementFile(statement_id=statement_id, content=content))
            await session.flush()
            await start_process(
                session,
                temporal,
                "ReconciliationWorkflow",
                StatementInput(statement_id=statement_id, reference=reference),
                workflow_id=workflow_id,
                task_queue=settings.task_queue,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(CASE_TYPE, CASE_TYPE_RECON),
                        SearchAttributePair(CASE_STATUS, "received"),
                    ]
                ),
                summary=f"{reference} {FORMAT_LABELS[source.format]} from {source.name}",
                what="the statement",
                event=Event(
                    action,
                    actor=actor.ref,
                    origin=actor.origin,
                    object_type="recon_statement",
                    object_id=statement_id,
                    details={
                        "reference": reference,
                        "source": source.name,
                        "filename": name,
                        "sha256": digest,
                        "size": len(content),
                    },
                ),
            )
    except IntegrityError as exc:  # the same bytes raced past the lock through another path
        error: DomainError = Conflict(
            "This file was already uploaded; it is not processed again.",
            code="duplicate_statement",
        )
        await record_refusal(db, actor, error, action=action, object_type="recon_statement")
        raise error from exc
    except (Invalid, Conflict, NotFound) as error:
        await record_refusal(
            db,
            actor,
            error,
            action=action,
            object_type="recon_statement",
            details={"filename": name, "sha256": digest},
        )
        raise
    return StatementReceived(
        statement_id=statement_id, reference=reference, status="received", workflow_id=workflow_id
    )


async def _refuse_duplicate(session: AsyncSession, digest: str) -> None:
    """The same bytes as a statement accepted (or still being read) under any source are
    refused naming it; a refused statement kept nothing and does not count."""
    existing = (
        await session.exec(
            select(ReconStatement)
            .where(ReconStatement.sha256 == digest, ReconStatement.status != "refused")
            .order_by(col(ReconStatement.uploaded_at))
        )
    ).first()
    if existing is None:
        return
    source = await session.get(ReconSource, existing.source_id)
    where = f"{existing.reference} to {source.name if source else 'another source'}"
    when = f"{existing.uploaded_at:%Y-%m-%d %H:%M} UTC"
    if existing.status in ("received", "parsing"):
        raise Conflict(
            f"This file is being read as {where} (uploaded {when}); wait for its outcome. "
            "If it is refused, the same file can be uploaded again.",
            code="duplicate_statement",
        )
    raise Conflict(
        f"This file was already uploaded as {where} on {when} ({existing.status}); it is "
        "not processed again.",
        code="duplicate_statement",
    )
