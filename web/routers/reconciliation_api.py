"""Reconciliation's JSON actions: a statement arriving from a system, and a break resolved
by automation. Both obey the same permissions and segregation rules as the pages (the
reading endpoints are in web.routers.reconciliation_pages).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Response, UploadFile, status

from models.workflow_io import DecisionResult
from reconciliation.commands.breaks import ResolveForm, resolve_break
from reconciliation.commands.statements import (
    MAX_STATEMENT_BYTES,
    StatementReceived,
    receive_statement,
)
from web.deps import CurrentActor, ServicesDep, TemporalDep, in_path, of_type, require
from web.responses import API_ERRORS, WRITE_ERRORS

api = APIRouter(prefix="/api/v1", tags=["reconciliation"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)


Uploader = Depends(
    require(
        "reconciliation",
        "upload",
        action="recon.statement_uploaded",
        about=of_type("recon_statement"),
    )
)
# Resolving a break is work on its task; the task's own checks follow once it is loaded.
Resolver = Depends(
    require("task", "work", action="recon.break_resolve", about=in_path("recon_break", "break_id"))
)


async def read_upload(file: UploadFile) -> bytes:
    """The file, read one byte past the limit: enough to refuse, never all of a huge one."""
    return await file.read(MAX_STATEMENT_BYTES + 1)


@api.post(
    "/reconciliation/statements",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=StatementReceived,
    dependencies=[Uploader],
    responses=WRITE_ERRORS,
)
async def upload_statement_api(
    response: Response,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    source_id: Annotated[uuid.UUID, Form(description="The statement's source (see /sources).")],
    file: Annotated[UploadFile, File(description="camt.053 XML, MT940 or the source's CSV.")],
) -> StatementReceived:
    """Accept a statement file and start reconciling it (202): poll the statement for its
    progress, refusal (where in the file and why), balance check and match rates. The same
    file as a statement accepted (or still being read) under any source is refused (409)
    naming it; a refused statement keeps nothing and does not count, so its file may be
    uploaded again. A source that does not exist, an empty or oversized file, and a file
    that looks like another format than the source's ("this looks like MT942; the source
    expects SWIFT MT940") are refused (422) with nothing stored."""
    received = await receive_statement(
        services.db,
        temporal,
        services.settings,
        actor,
        source_id=source_id,
        filename=file.filename,
        content=await read_upload(file),
    )
    response.headers["Location"] = f"/api/v1/reconciliation/statements/{received.statement_id}"
    return received


@api.post(
    "/reconciliation/breaks/{break_id}/resolve",
    response_model=DecisionResult,
    dependencies=[Resolver],
    responses=WRITE_ERRORS,
)
async def resolve_break_api(
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    break_id: uuid.UUID,
    body: ResolveForm,
) -> DecisionResult:
    """Resolve a break on its claimed resolve task: `matched` (line_nos + record_ids that
    belong together; amounts must agree within the tolerance), `explained` (reason_code),
    or `write_off` (amount + reason_code; above the threshold it awaits an ops manager's
    approval). Refusals say why, per field (422), or name the conflict (409)."""
    return await resolve_break(services.db, temporal, actor, break_id, body)
