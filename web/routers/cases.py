"""Case pages: the list, and one case with its steps, decisions, audit timeline and actions."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from aml.queries.backtest_view import backtest_of_change
from casework import cases as case_service
from casework.case_work_view import case_work
from casework.manual import manual_case_view
from casework.process_endings import latest_ending
from casework.snooze import follow_up_of, list_follow_up
from identity.access import can, not_found
from models.cases import CasePage, CasePublic
from web.deps import CurrentActor, HtmxRequest, OneOf, PageParam, PerPageParam, ServicesDep
from web.responses import API_ERRORS
from web.routers import case_notes
from web.templating import render

api = APIRouter(prefix="/api/v1/cases", tags=["cases"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)

CaseType = Annotated[str, OneOf(case_service.CASE_TYPES)]

NOTICES = {
    "manual-opened": "The case is open; its first step is in the inbox of the team that works it.",
    "snoozed": "The case is snoozed: its steps are out of the inbox until the date below.",
    "unsnoozed": "The case is awake: its steps are back in the inbox.",
    "tagged": "The tag was added.",
    "untagged": "The tag was removed.",
    "assigned": "The task was assigned; its new holder has been notified.",
    "note-added": "Your note was added to the case; anyone it @mentions was notified.",
    "attachment-added": "The file was attached to the case.",
    "attachment-removed": "The file was removed; who removed it, when and why stay on the case.",
    "proposed": "Your change was submitted for approval. A different person must approve it.",
    "decided-approve": "Your approval was recorded.",
    "decided-reject": "Your rejection was recorded; the change is closed.",
    "withdrawn": "The change was withdrawn.",
    "decided-reject:onboarding": "Your rejection was recorded; the application is closed.",
    "decided-request_info": "Your request for information was recorded; the applicant is asked to answer.",
    "decided-confirm_match": "The match is confirmed; the customer is restricted.",
    "decided-false_positive": "Recorded as a false positive. A second analyst is asked to "
    "approve whitelisting the hit; the alert closes once they do.",
    "decided-approve_whitelist": "Whitelisting approved: the alert is closed, and this entry "
    "stays quiet for this customer until the listing changes.",
    "decided-reject_whitelist": "Whitelisting rejected: the hit goes back to an analyst.",
    "decided-close:aml": "Closure recorded. At L1 the case closes; at L2 a second "
    "investigator must approve the closure.",
    "decided-escalate:aml": "Escalated: the case moves to the next tier.",
    "decided-approve:aml": "Closure approved: the case is closed.",
    "decided-reject:aml": "Closure rejected: the case goes back to L2.",
    "decided-sar:aml": "SAR decision recorded: the report is filed with the case.",
    "decided-no_sar:aml": "No-SAR decision recorded with your rationale; the case is closed.",
    "restricted": "Outgoing payments from the account are blocked from now on. Lifting the "
    "restriction is a four-eyes change.",
    "submitted": "The application was submitted; screening and risk scoring have started. "
    "You made it, so a different person reviews it.",
    "resubmitted": "This form had already been submitted: here is that application; nothing new was started.",
    "dispute-opened": "The dispute is open. The customer is told we received it; provisional "
    "credit follows (at once under the threshold, otherwise a disputes agent decides).",
    "evidence-added": "Your note was added to the evidence.",
    "evidence-file-added": "The file was added to the evidence.",
    "dispute-withdrawn": "The withdrawal is recorded: the dispute closes as withdrawn and any "
    "provisional credit is reversed.",
    "sandbox-scripted": "The sandbox merchant's answer is set; it is given when the chargeback "
    "reaches that stage.",
    "sandbox-delivered": "The sandbox merchant answered now; the dispute moves on.",
    "decided-grant:dispute": "Provisional credit granted: it is booked on the customer's account.",
    "decided-decline:dispute": "Provisional credit declined; the dispute goes on to evidence.",
    "decided-submit:dispute": "The chargeback is filed with the card processor; the merchant's "
    "response window is running.",
    "decided-accept_loss:dispute": "Loss accepted: the dispute closes as lost and any "
    "provisional credit is reversed.",
    "decided-pre_arbitration:dispute": "Pre-arbitration is filed; the merchant's response "
    "window is running again.",
    "decided-matched:recon_exception": "Matched by hand: the break is resolved and the lines "
    "and records are recorded as one match.",
    "decided-explained:recon_exception": "Your explanation is recorded; the break is resolved.",
    "decided-write_off:recon_exception": "Write-off recorded: within the threshold it is booked "
    "at once; above it, an ops manager must approve it first (see the write-off on this page).",
    "decided-approve:recon_exception": "Write-off approved: it is booked and the break is resolved.",
    "decided-reject:recon_exception": "Write-off rejected: the break goes back to finance to be "
    "resolved another way.",
    "decided-resume": "Your proposal to resume the process is recorded; a second engineer "
    "must approve it.",
    "decided-close_case": "Your proposal to close the case is recorded; a second engineer must "
    "approve it.",
    "decided-approve_repair": "Approved: the product now resumes the process or closes the case "
    "(see the timeline).",
    "decided-reject_repair": "Rejected: an engineer makes a new proposal.",
}


@api.get("", response_model=CasePage)
async def list_cases_api(
    services: ServicesDep,
    actor: CurrentActor,
    case_type: Annotated[CaseType | None, Query(alias="type")] = None,
    status: Literal["open", "closed"] | None = None,
    ended_outside: Annotated[
        bool | None,
        Query(description="Only cases whose workflow ended outside backoffice (true), or not."),
    ] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    snoozed: Annotated[
        bool | None,
        Query(description="Only open cases snoozed until a date (true), or only the others."),
    ] = None,
    tag: Annotated[
        str | None, Query(max_length=32, description="Only cases with this tag.")
    ] = None,
    page: PageParam = 1,
    per_page: PerPageParam = 25,
) -> CasePage:
    """The cases your roles may see, newest first. `process_ended_outside`: the case's
    workflow was terminated, cancelled or reset outside backoffice and awaits an engineer's
    repair (resume or close, four-eyes). A case's snooze and tags:
    `GET /api/v1/cases/{id}/follow-up`."""
    items, total = await case_service.list_cases(
        services.db,
        actor,
        case_type=case_type,
        status=status,
        q=(q or "").strip() or None,
        ended_outside=ended_outside,
        snoozed=snoozed,
        tag=(tag or "").strip() or None,
        page=page,
        per_page=per_page,
    )
    return CasePage(
        items=[CasePublic.model_validate(c, from_attributes=True) for c in items],
        total=total,
        page=page,
        per_page=per_page,
    )


@pages.get("/cases")
async def list_cases(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    case_type: Annotated[str | None, Query(alias="type")] = None,
    status: str | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    outside: Annotated[
        Literal["", "only"], Query(description="`only`: cases whose workflow ended outside")
    ] = "",
    snoozed: Literal["", "only"] = "",
    tag: Annotated[str | None, Query(max_length=32)] = None,
    page: PageParam = 1,
) -> Response:
    case_type, status, q = case_type or None, status or None, (q or "").strip() or None
    tag = (tag or "").strip().lower() or None
    items, total = await case_service.list_cases(
        services.db,
        actor,
        case_type=case_type,
        status=status,
        q=q,
        ended_outside=True if outside == "only" else None,
        snoozed=True if snoozed == "only" else None,
        tag=tag,
        page=page,
    )
    context = {
        "items": items,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // 25)),
        "filters": {
            "type": case_type or "",
            "status": status or "",
            "q": q or "",
            "outside": outside,
            "snoozed": snoozed,
            "tag": tag or "",
        },
        # Each listed case's tags and snooze; the tags in use for the filter (casework/snooze.py).
        "follow_up": await list_follow_up(
            services.db, [c.id for c in items], case_service.visible_case_types(actor)
        ),
        "case_types": {
            t: case_service.CASE_TYPES[t] for t in case_service.visible_case_types(actor)
        },
    }
    block = "case_list" if htmx and request.headers.get("hx-target") == "case-list" else None
    return render(request, "cases.html", context, block=block)


@pages.get("/cases/{case_id}")
async def read_case(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    case_id: uuid.UUID,
    notice: str | None = None,
) -> Response:
    view = await case_service.get_case(services.db, actor, case_id)
    if view is None:
        # Not there, or not yours to see: the same answer, and the attempt is recorded.
        raise await not_found(services.db, actor, "case", case_id, action="case.read")
    context = await case_page_context(services, actor, view)
    context["notice"] = NOTICES.get(f"{notice}:{view.case.case_type}") or NOTICES.get(notice or "")
    return render(request, "case.html", context)


async def case_page_context(
    services: ServicesDep, actor: CurrentActor, view: case_service.CaseView
) -> dict[str, Any]:
    """What case.html needs besides a notice: also for a form posted on it that comes back
    refused (the decision form, web/routers/tasks.py)."""
    return {
        "view": view,
        "case": view.case,
        "change": view.change,
        "outcome_labels": case_service.OUTCOME_LABELS,
        "show_temporal": can(actor, "temporal_ui", "read"),
        "ending": await latest_ending(services.db, view.case),
        "work": await case_work(services.db, actor, view.case),
        "attachment_rules": case_notes.attachment_rules(services.settings),
        "follow_up": await follow_up_of(services.db, actor, view.case),
        "manual": await manual_case_view(services.db, actor, view.case),
        # An AML rule change's backtest (issue 17): partials/aml_backtest.html.
        "backtest": await backtest_of_change(services.db, view.change.id, actor)
        if view.change
        else None,
    }
