"""Card disputes: opening one (the support form and the JSON API), evidence, withdrawal, the
sandbox processor's merchant, reading a dispute, and an account's money adjustments.

The case page's dispute section posts its forms here: a plain form post gets a 303 back to
the case page (its `#dispute` section) with a notice; an HTMX post is sent there with
HX-Location; a refusal is a readable page (or notice fragment) from web.errors.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from disputes.commands import adjustments, evidence, processor_events, withdrawal
from disputes.commands.opening import open_dispute
from disputes.engines import sandbox
from disputes.queries import detail
from disputes.rules import CATEGORIES, MERCHANT_RESPONSES, SCHEMES, WITHDRAW_REASONS
from models.dispute_io import MerchantResponse, WithdrawalResult
from models.disputes import DisputeCreate, DisputeOpened
from shared.errors import Conflict, DomainError, Invalid, Unavailable
from web.deps import (
    CurrentActor,
    HtmxRequest,
    LongPerPageParam,
    OneOf,
    PageParam,
    ServicesDep,
    TemporalDep,
    in_body,
    in_path,
    require,
)
from web.responses import API_ERRORS, WRITE_ERRORS
from web.templating import render

api = APIRouter(prefix="/api/v1", tags=["disputes"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)

CASE = in_path("case", "case_id")
Opener = Depends(
    require(
        "dispute", "open", action="dispute.open", about=in_body("transaction", "transaction_id")
    )
)
EvidenceAdder = Depends(require("dispute", "evidence", action="dispute.evidence_added", about=CASE))
Withdrawer = Depends(require("dispute", "withdraw", action="dispute.withdraw", about=CASE))
SandboxOperator = Depends(
    require("dispute", "sandbox", action="sandbox.merchant_response", about=CASE)
)
Processor = Depends(
    require("dispute", "merchant_response", action="dispute.merchant_response", about=CASE)
)


Stage = Annotated[str, OneOf(MERCHANT_RESPONSES)]
# The merchant's answers at any stage (which fit which stage is checked by the domain).
RESPONSES = tuple(dict.fromkeys(r for answers in MERCHANT_RESPONSES.values() for r in answers))


class EvidenceNote(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(max_length=20_000, description="The note (at most 4000 characters).")


class WithdrawRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason_code: Annotated[str, OneOf(WITHDRAW_REASONS)]
    comment: str | None = Field(
        default=None, max_length=4000, description="Required for `other` (at most 1000)."
    )


class SandboxResponseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: Stage
    response: Annotated[str, OneOf(RESPONSES)] = Field(
        description="chargeback: no_response | accept | represent; "
        "pre_arbitration: no_response | accept | decline",
    )
    note: str | None = Field(default=None, max_length=4000)


class SandboxResponseResult(BaseModel):
    delivered: bool = Field(description="The merchant answered now (the dispute was waiting).")
    message: str


# ----------------------------------------------------------------------------- JSON API
@api.post(
    "/disputes",
    status_code=status.HTTP_201_CREATED,
    response_model=DisputeOpened,
    dependencies=[Opener],
    responses=WRITE_ERRORS,
)
async def open_dispute_api(
    services: ServicesDep, temporal: TemporalDep, actor: CurrentActor, body: DisputeCreate
) -> DisputeOpened:
    """Open a dispute on a card payment out of a customer's account (one per transaction).

    Refused with the reason: not a card payment, money in, past the scheme's filing window,
    an amount above the transaction's, an incomplete statement (422); a transaction that
    already has a dispute (409, naming it).
    """
    return await open_dispute(services.db, temporal, services.settings, actor, body)


# `:uuid` so that a fixed path beside it (e.g. a report under /disputes/) is never taken
# for a case id, whatever order the routers are included in.
@api.get("/disputes/{case_id:uuid}", response_model=detail.DisputePublic)
async def read_dispute(
    services: ServicesDep, actor: CurrentActor, case_id: uuid.UUID
) -> detail.DisputePublic:
    """One dispute: where it stands, its stages with their deadlines, the money booked on the
    account, and the evidence (without the documents' bytes)."""
    return await detail.read_dispute(services.db, actor, case_id)


@api.post(
    "/disputes/{case_id}/evidence",
    status_code=status.HTTP_201_CREATED,
    response_model=evidence.EvidencePublic,
    dependencies=[EvidenceAdder],
    responses=WRITE_ERRORS,
)
async def add_evidence(
    services: ServicesDep, actor: CurrentActor, case_id: uuid.UUID, body: EvidenceNote
) -> evidence.EvidencePublic:
    """Add a note to an open dispute's evidence (documents are uploaded on the case page)."""
    return await evidence.add_evidence(services.db, actor, case_id, note=body.note)


@api.post(
    "/disputes/{case_id}/withdraw",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=WithdrawalResult,
    dependencies=[Withdrawer],
    responses=WRITE_ERRORS,
)
async def withdraw_dispute(
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    case_id: uuid.UUID,
    body: WithdrawRequest,
) -> WithdrawalResult:
    """Record that the customer withdrew the dispute; it then concludes as withdrawn (any
    provisional credit is reversed, a filed chargeback withdrawn with the processor)."""
    return await withdrawal.withdraw_dispute(
        services.db, temporal, actor, case_id, reason_code=body.reason_code, comment=body.comment
    )


@api.post(
    "/disputes/{case_id}/sandbox-response",
    response_model=SandboxResponseResult,
    dependencies=[SandboxOperator],
    responses=WRITE_ERRORS,
)
async def set_sandbox_response(
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    case_id: uuid.UUID,
    body: SandboxResponseRequest,
) -> SandboxResponseResult:
    """Script how the sandbox processor's merchant answers this dispute at a scheme stage
    (delivered at once if the dispute is waiting on that answer)."""
    result = await sandbox.set_merchant_response(
        services.db,
        temporal,
        actor,
        case_id,
        stage=body.stage,
        response=body.response,
        note=body.note,
    )
    return SandboxResponseResult(delivered=result.delivered, message=result.message)


class MerchantResponseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: Stage
    response: Annotated[str, OneOf(r for r in RESPONSES if r != "no_response")] = Field(
        description="chargeback: accept | represent; pre_arbitration: accept | decline",
    )
    processor_ref: str = Field(max_length=100, description="The chargeback's reference with you.")


@api.post(
    "/disputes/{case_id}/merchant-response",
    response_model=MerchantResponse,
    dependencies=[Processor],
    responses=WRITE_ERRORS,
)
async def record_merchant_response(
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    case_id: uuid.UUID,
    body: MerchantResponseRequest,
) -> MerchantResponse:
    """For the card processor (a service account with role `upstream_system`): the merchant's answer to a chargeback
    or a pre-arbitration we filed with you. Refused (409, with the reason) when the reference
    is not the chargeback on file, the dispute is not waiting for that answer, or the
    response window has closed."""
    return await processor_events.record_merchant_response(
        services.db,
        temporal,
        actor,
        case_id,
        stage=body.stage,
        response=body.response,
        processor_ref=body.processor_ref,
    )


@api.get("/accounts/{account_id}/adjustments", response_model=adjustments.AdjustmentPage)
async def list_account_adjustments(
    services: ServicesDep,
    actor: CurrentActor,
    account_id: uuid.UUID,
    page: PageParam = 1,
    per_page: LongPerPageParam = 50,
) -> adjustments.AdjustmentPage:
    """Money adjustments for core banking to book on the account (provisional credits, their
    reversals, final credits), newest first, each with its status: provisional, final or
    reversed."""
    return await adjustments.account_adjustments(
        services.db, actor, account_id, page=page, per_page=per_page
    )


# ----------------------------------------------------------------------------- pages
def _uuid_or_nil(value: str) -> uuid.UUID:
    """A form's id; junk becomes the nil id, which the domain answers like any unknown id."""
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        return uuid.UUID(int=0)


@pages.get("/disputes/new", name="new_dispute_form")
async def new_dispute_form(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    transaction_id: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    view = await detail.dispute_form(services.db, actor, _uuid_or_nil(transaction_id))
    form = {"category": "", "scheme": "visa", "amount": view.amount, "statement": ""}
    return _form_page(request, view, form=form)


@pages.post("/disputes/new", name="open_dispute_page", dependencies=[Opener])
async def open_dispute_page(
    request: Request,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    transaction_id: Annotated[str, Form(max_length=40)] = "",
    category: Annotated[str, Form(max_length=40)] = "",
    scheme: Annotated[str, Form(max_length=20)] = "",
    amount: Annotated[str, Form(max_length=40)] = "",
    statement: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    form = {"category": category, "scheme": scheme, "amount": amount, "statement": statement}
    txn_id = _uuid_or_nil(transaction_id)
    try:
        opened = await open_dispute(
            services.db,
            temporal,
            services.settings,
            actor,
            DisputeCreate(
                transaction_id=txn_id,
                category=category,
                scheme=scheme,
                amount=amount.strip() or None,
                statement=statement,
            ),
        )
    except (Invalid, Conflict, Unavailable) as exc:
        # On the form again, with what was typed (permission and unknown-id refusals are not
        # about the form: they are answered as error pages).
        request.state.error_reason = f"{exc.code}: {exc.message}"[:500]
        view = await detail.dispute_form(services.db, actor, txn_id)
        return _form_page(request, view, form=form, error=exc)
    return _back_to_case(request, False, opened.case_id, "dispute-opened")


def _form_page(
    request: Request,
    view: detail.DisputeForm,
    *,
    form: dict[str, str],
    error: DomainError | None = None,
) -> Response:
    """The support form, or why this payment cannot be disputed; a refusal keeps the input."""
    context: dict[str, Any] = {
        "view": view,
        "form": form,
        "error": error.message if error else None,
        "errors": error.fields if error else {},
        "status_code": error.status_code if error else 200,
        "categories": CATEGORIES,
        "schemes": SCHEMES,
    }
    response: Response = render(
        request, "dispute_new.html", context, status_code=error.status_code if error else 200
    )
    return response


@pages.post("/disputes/{case_id}/evidence", name="add_evidence_form", dependencies=[EvidenceAdder])
async def add_evidence_form(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    case_id: uuid.UUID,
    note: Annotated[str, Form(max_length=20_000)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    upload = None
    if file is not None and (file.filename or file.size):
        # Read one byte past the limit: enough to refuse, never the whole of a huge file.
        content = await file.read(evidence.MAX_BYTES + 1)
        upload = evidence.Upload(file.filename or "", content)
    added = await evidence.add_evidence(services.db, actor, case_id, note=note, upload=upload)
    key = "evidence-added" if added.filename is None else "evidence-file-added"
    return _back_to_case(request, htmx, case_id, key)


@pages.get("/disputes/{case_id}/evidence/{evidence_id}", name="download_evidence")
async def download_evidence(
    services: ServicesDep, actor: CurrentActor, case_id: uuid.UUID, evidence_id: uuid.UUID
) -> Response:
    found = await evidence.evidence_file(services.db, actor, case_id, evidence_id)
    allowed = {t for t, _ in evidence.ALLOWED_TYPES.values()}
    media_type = found.content_type if found.content_type in allowed else "application/octet-stream"
    return Response(
        content=found.content,
        media_type=media_type,
        headers={
            "Content-Disposition": content_disposition(found.filename),
            "X-Content-Type-Options": "nosniff",
        },
    )


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII-only fallback name and the exact name per RFC 6266/5987."""
    fallback = re.sub(r"[^A-Za-z0-9._-]+", "_", filename).strip("._") or "evidence"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@pages.post("/disputes/{case_id}/withdraw", name="withdraw_dispute_form", dependencies=[Withdrawer])
async def withdraw_dispute_form(
    request: Request,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    case_id: uuid.UUID,
    reason: Annotated[str, Form(max_length=60)] = "",
    comment: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    await withdrawal.withdraw_dispute(
        services.db, temporal, actor, case_id, reason_code=reason, comment=comment
    )
    return _back_to_case(request, htmx, case_id, "dispute-withdrawn")


@pages.post(
    "/disputes/{case_id}/sandbox", name="sandbox_response_form", dependencies=[SandboxOperator]
)
async def sandbox_response_form(
    request: Request,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    case_id: uuid.UUID,
    stage: Annotated[str, Form(max_length=30)] = "",
    response: Annotated[str, Form(max_length=30)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    result = await sandbox.set_merchant_response(
        services.db, temporal, actor, case_id, stage=stage, response=response, note=note
    )
    key = "sandbox-delivered" if result.delivered else "sandbox-scripted"
    return _back_to_case(request, htmx, case_id, key)


def _back_to_case(request: Request, htmx: bool, case_id: uuid.UUID, notice_key: str) -> Response:
    """To the case page's dispute section, with a notice named by a key of its NOTICES."""
    url = (
        str(request.url_for("read_case", case_id=case_id).include_query_params(notice=notice_key))
        + "#dispute"
    )
    if htmx:
        return Response(status_code=200, headers={"HX-Location": url})
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)
