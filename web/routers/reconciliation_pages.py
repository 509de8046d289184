"""Reconciliation pages and their JSON reads: statements (upload, list, one statement with its
progress), the breaks queue, the report with CSV, and the statement sources.

A break's own section is part of the case page (casework.cases.get_case); its resolve form posts
here. JSON writes live in web.routers.reconciliation_api.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile, status
from fastapi.responses import RedirectResponse, Response

from casework import cases as case_service
from identity.access import can, not_found
from identity.access import require as domain_require
from models.aml import CHANNELS
from models.changes import ChangeCreated
from models.reconciliation import BREAK_KINDS, PASSES
from reconciliation.commands import source_changes
from reconciliation.commands import sources as source_service
from reconciliation.commands.breaks import ResolveForm, resolve_break
from reconciliation.commands.statements import MAX_STATEMENT_BYTES, receive_statement
from reconciliation.engines.accounts import split_accounts
from reconciliation.engines.lines import FORMAT_LABELS
from reconciliation.queries import report as report_service
from reconciliation.queries.ageing import AGE_LABELS
from reconciliation.queries.break_queue import BreakPage, list_breaks
from reconciliation.queries.case_view import break_case_id
from reconciliation.queries.statement_detail import (
    StatementDetail,
    statement_detail,
    statement_progress,
)
from reconciliation.queries.statement_list import STATUS_LABELS, StatementPage, list_statements
from shared.errors import Conflict, DomainError, Invalid, Unavailable
from web.deps import (
    MAX_INT4,
    CurrentActor,
    HtmxRequest,
    OneOf,
    PageParam,
    PerPageParam,
    ServicesDep,
    TemporalDep,
    in_path,
    require,
)
from web.responses import API_ERRORS, WRITE_ERRORS
from web.routers.reconciliation_api import Resolver, Uploader
from web.templating import render

api = APIRouter(prefix="/api/v1", tags=["reconciliation"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)
PER_PAGE = 25
REPORT_DAYS = 90

Search = Annotated[
    str | None, Query(max_length=100, description="Reference, file name or source name.")
]
BreakSearch = Annotated[
    str | None,
    Query(
        max_length=100,
        description="Case or statement reference, a line's reference or counterparty, "
        "a record's id or counterparty.",
    ),
]
Page = PageParam
PerPage = PerPageParam
BreakStatus = Literal["open", "resolved", "all"]
StatementStatus = Annotated[str, OneOf(STATUS_LABELS)]
BreakKind = Annotated[str, OneOf(BREAK_KINDS)]
Age = Annotated[str, OneOf(AGE_LABELS)]
PassName = Annotated[str, OneOf(PASSES)]
SourceManager = Depends(
    require(
        "reconciliation",
        "manage_sources",
        action=source_service.ACTION,
        about=in_path("recon_source", "source_id"),
    )
)


def _blank(value: str | None) -> str | None:
    return (value or "").strip() or None


def _uuid(value: str | None, field: str) -> uuid.UUID | None:
    """A filter's or form's id: blank is none; junk is refused naming the field."""
    text = _blank(value)
    if text is None:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        raise Invalid("The filters are not valid.", fields={field: "not a known id"}) from None


def _pages(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))


# ----------------------------------------------------------------------------- JSON API
@api.get("/reconciliation/statements", response_model=StatementPage)
async def list_recon_statements_api(
    services: ServicesDep,
    actor: CurrentActor,
    source_id: uuid.UUID | None = None,
    status: StatementStatus | None = None,
    q: Search = None,
    page: Page = 1,
    per_page: PerPage = PER_PAGE,
) -> StatementPage:
    """Statements, the latest upload first: status (`reconciled` once matched, every break
    resolved and the window for our records passed), lines, match rate, open breaks, the
    balance check and, while processing, progress."""
    return await list_statements(
        services.db,
        actor,
        source_id=source_id,
        status=_blank(status),
        search=_blank(q),
        page=page,
        per_page=per_page,
    )


@api.get("/reconciliation/statements/{statement_id:uuid}", response_model=StatementDetail)
async def read_recon_statement_api(
    services: ServicesDep,
    actor: CurrentActor,
    statement_id: uuid.UUID,
    match_page: Page = 1,
    match_per_page: PerPage = PER_PAGE,
    pass_name: Annotated[PassName | None, Query(alias="pass")] = None,
    break_page: Page = 1,
) -> StatementDetail:
    """One statement: balances per section, matches per pass, the matched pairs (paged, each
    with why it matched) and its breaks (paged)."""
    return await statement_detail(
        services.db,
        actor,
        statement_id,
        match_page=match_page,
        match_per_page=match_per_page,
        pass_filter=_blank(pass_name),
        break_page=break_page,
    )


@api.get("/reconciliation/breaks", response_model=BreakPage)
async def list_recon_breaks_api(
    services: ServicesDep,
    actor: CurrentActor,
    status: BreakStatus = "open",
    kind: BreakKind | None = None,
    source_id: uuid.UUID | None = None,
    age: Annotated[Age | None, Query(description="Age in days: 0-2 | 3-7 | 8-30 | 31+")] = None,
    q: BreakSearch = None,
    page: Page = 1,
    per_page: PerPage = PER_PAGE,
) -> BreakPage:
    """Breaks (open ones unless `status` says otherwise), the oldest first, with their age in
    days, the case and its open task (status, priority, due)."""
    return await list_breaks(
        services.db,
        actor,
        status=status,
        kind=_blank(kind),
        source_id=source_id,
        age=_blank(age),
        search=_blank(q),
        page=page,
        per_page=per_page,
    )


@api.get("/reconciliation/sources", response_model=source_service.SourcePage)
async def list_recon_sources_api(
    services: ServicesDep, actor: CurrentActor, page: Page = 1, per_page: PerPage = 50
) -> source_service.SourcePage:
    """Statement sources: format, account, currency, the channels of ours they are matched
    against (and those settled as daily batches), a CSV source's column mapping."""
    return await source_service.list_sources(services.db, actor, page=page, per_page=per_page)


@api.post(
    "/reconciliation/sources",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ChangeCreated,
    dependencies=[SourceManager],
    responses=WRITE_ERRORS,
)
async def propose_recon_source_api(
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    body: source_service.SourceForm,
) -> ChangeCreated:
    """Propose a new statement source (its accounts, format, currency, channels, CSV
    mapping, and `reason`); it exists once a different finance_ops member or an ops_manager
    approves the change (`POST /api/v1/tasks/{id}/decision`)."""
    return await source_changes.propose_source_change(
        services.db, temporal, services.settings, actor, body
    )


@api.put(
    "/reconciliation/sources/{source_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ChangeCreated,
    dependencies=[SourceManager],
    responses=WRITE_ERRORS,
)
async def propose_recon_source_remap_api(
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    source_id: uuid.UUID,
    body: source_service.SourceForm,
) -> ChangeCreated:
    """Propose new values for a source (all of them, as for a new one); they apply once a
    different finance_ops member or an ops_manager approves."""
    return await source_changes.propose_source_change(
        services.db, temporal, services.settings, actor, body, source_id=source_id
    )


# ----------------------------------------------------------------------------- statements
async def _statements_page(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    *,
    source: str | None,
    status: str | None,
    q: str | None,
    page: int,
    per_page: int,
    upload: dict[str, Any] | None = None,
    status_code: int = 200,
    block: str | None = None,
) -> Response:
    result = await list_statements(
        services.db,
        actor,
        source_id=_uuid(source, "source"),
        status=_blank(status),
        search=_blank(q),
        page=page,
        per_page=per_page,
    )
    filters = {"source": _blank(source) or "", "status": _blank(status) or "", "q": _blank(q) or ""}
    if per_page != PER_PAGE:
        filters["per_page"] = str(per_page)
    context = {
        "result": result,
        "pages": _pages(result.total, result.per_page),
        "filters": filters,
        "rest": urlencode({k: v for k, v in filters.items() if v}),
        "sources": await source_service.source_choices(services.db),
        "statuses": STATUS_LABELS,
        "upload": upload or {"errors": {}, "error": None, "source_id": ""},
        "max_mb": MAX_STATEMENT_BYTES // (1024 * 1024),
    }
    return render(request, "recon_statements.html", context, block=block, status_code=status_code)


@pages.get("/reconciliation")
async def list_recon_statements(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    source: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    q: Search = None,
    page: Page = 1,
    per_page: PerPage = PER_PAGE,
) -> Response:
    block = (
        "statement_list" if htmx and request.headers.get("hx-target") == "statement-list" else None
    )
    return await _statements_page(
        request,
        services,
        actor,
        source=source,
        status=status,
        q=q,
        page=page,
        per_page=per_page,
        block=block,
    )


@pages.post("/reconciliation/statements", dependencies=[Uploader])
async def upload_recon_statement(
    request: Request,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    source_id: Annotated[str, Form(max_length=40)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    content = b""
    filename = None
    if file is not None:
        filename = file.filename
        # One byte past the limit is enough to refuse; never more than that in memory.
        content = await file.read(MAX_STATEMENT_BYTES + 1)
    try:
        chosen = uuid.UUID(source_id.strip()) if source_id.strip() else None
    except ValueError:
        chosen = None
    try:
        received = await receive_statement(
            services.db,
            temporal,
            services.settings,
            actor,
            source_id=chosen,
            filename=filename,
            content=content,
        )
    except (Invalid, Conflict, Unavailable) as exc:
        # The list again with the form showing what went wrong, per field.
        request.state.error_reason = f"{exc.code}: {exc.message}"[:500]
        upload = {"errors": exc.fields, "error": exc.message, "source_id": source_id}
        return await _statements_page(
            request,
            services,
            actor,
            source=None,
            status=None,
            q=None,
            page=1,
            per_page=PER_PAGE,
            upload=upload,
            status_code=exc.status_code,
            block="upload_form" if htmx else None,
        )
    url = (
        str(request.url_for("read_recon_statement", statement_id=received.statement_id))
        + "?notice=uploaded"
    )
    if htmx:
        return Response(status_code=200, headers={"HX-Location": url})
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


STATEMENT_NOTICES = {
    "uploaded": "The statement was received. It is read and matched in the background; "
    "this page follows its progress.",
}


@pages.get("/reconciliation/statements/{statement_id:uuid}")
async def read_recon_statement(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    statement_id: uuid.UUID,
    match_page: Page = 1,
    pass_name: Annotated[str | None, Query(alias="pass", max_length=20)] = None,
    break_page: Page = 1,
    notice: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    detail = await statement_detail(
        services.db,
        actor,
        statement_id,
        match_page=match_page,
        pass_filter=_blank(pass_name),
        break_page=break_page,
    )
    context = {
        "d": detail,
        "s": detail.statement,
        "passes": PASSES,
        "kinds": BREAK_KINDS,
        "match_pages": _pages(detail.match_total, detail.match_per_page),
        "break_pages": _pages(detail.breaks.total, detail.breaks.per_page),
        "pass_query": urlencode({"pass": detail.pass_filter}) if detail.pass_filter else "",
        "notice": STATEMENT_NOTICES.get(notice or ""),
    }
    return render(request, "recon_statement.html", context)


@pages.get("/reconciliation/statements/{statement_id:uuid}/progress")
async def read_recon_statement_progress(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    statement_id: uuid.UUID,
) -> Response:
    row = await statement_progress(services.db, actor, statement_id)
    headers = {}
    if htmx and not row.running:
        # Done: the whole page once more, now with the matches, breaks and balances.
        headers["HX-Refresh"] = "true"
    return render(request, "partials/recon_progress.html", {"s": row}, headers=headers)


# ----------------------------------------------------------------------------- breaks
@pages.get("/reconciliation/breaks")
async def list_recon_breaks(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    status: BreakStatus = "open",
    kind: Annotated[str | None, Query(max_length=20)] = None,
    source: Annotated[str | None, Query(max_length=40)] = None,
    age: Annotated[str | None, Query(max_length=5)] = None,
    q: BreakSearch = None,
    page: Page = 1,
    per_page: PerPage = PER_PAGE,
) -> Response:
    result = await list_breaks(
        services.db,
        actor,
        status=status,
        kind=_blank(kind),
        source_id=_uuid(source, "source"),
        age=_blank(age),
        search=_blank(q),
        page=page,
        per_page=per_page,
    )
    filters = {
        "status": status,
        "kind": _blank(kind) or "",
        "source": _blank(source) or "",
        "age": _blank(age) or "",
        "q": _blank(q) or "",
    }
    if per_page != PER_PAGE:
        filters["per_page"] = str(per_page)
    context = {
        "result": result,
        "pages": _pages(result.total, result.per_page),
        "filters": filters,
        "rest": urlencode({k: v for k, v in filters.items() if v}),
        "kinds": BREAK_KINDS,
        "ages": AGE_LABELS,
        "sources": await source_service.source_choices(services.db),
    }
    block = "break_list" if htmx and request.headers.get("hx-target") == "break-queue" else None
    return render(request, "recon_breaks.html", context, block=block)


def _resolve_input(
    task_id: str,
    action: str,
    line_nos: list[str],
    record_ids: list[str],
    reason_code: str,
    note: str,
    amount: str,
) -> tuple[ResolveForm | None, dict[str, str]]:
    """The form as ResolveForm, or a message per field that is not even well-formed."""
    errors: dict[str, str] = {}
    try:
        task = uuid.UUID(task_id.strip())
    except ValueError:
        task = None
        errors["task_id"] = "This form does not name a task; reload the case page."
    if action not in ("matched", "explained", "write_off"):
        errors["action"] = "Choose what to do: match by hand, explain, or write off."
    lines: list[int] = []
    for raw in line_nos:
        if raw.strip().isdigit() and 0 < int(raw) <= MAX_INT4:
            lines.append(int(raw))
        else:
            errors["line_nos"] = f"{raw!r} is not a statement line number."
    records: list[uuid.UUID] = []
    for raw in record_ids:
        try:
            records.append(uuid.UUID(raw.strip()))
        except ValueError:
            errors["record_ids"] = f"{raw!r} is not one of our records."
    if errors or task is None:
        return None, errors
    form = ResolveForm(
        task_id=task,
        action=action,  # type: ignore[arg-type]  # checked against the Literal above
        line_nos=lines,
        record_ids=records,
        reason_code=_blank(reason_code),
        note=_blank(note),
        amount=_blank(amount),
    )
    return form, {}


@pages.post("/reconciliation/breaks/{break_id:uuid}/resolve", dependencies=[Resolver])
async def resolve_recon_break(
    request: Request,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    break_id: uuid.UUID,
    task_id: Annotated[str, Form(max_length=40)] = "",
    action: Annotated[str, Form(max_length=20)] = "",
    line_nos: Annotated[list[str] | None, Form()] = None,
    record_ids: Annotated[list[str] | None, Form()] = None,
    reason_code: Annotated[str, Form(max_length=60)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
    amount: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    typed = {
        "task_id": task_id,
        "action": action,
        "line_nos": line_nos or [],
        "record_ids": record_ids or [],
        "reason_code": reason_code,
        "note": note,
        "amount": amount,
    }
    form, errors = _resolve_input(
        task_id, action, line_nos or [], record_ids or [], reason_code, note, amount
    )
    error: DomainError | None = (
        Invalid("The break was not resolved; see each field.", fields=errors) if errors else None
    )
    if form is not None:
        try:
            result = await resolve_break(services.db, temporal, actor, break_id, form)
        except (Invalid, Conflict, Unavailable) as exc:
            error = exc
        else:
            url = (
                str(request.url_for("read_case", case_id=await _case_of(services, actor, break_id)))
                + f"?notice=decided-{result.outcome}#recon"
            )
            if htmx:
                return Response(status_code=200, headers={"HX-Location": url})
            return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)
    assert error is not None
    request.state.error_reason = f"{error.code}: {error.message}"[:500]
    return await _resolve_refused(request, services, actor, htmx, break_id, typed, error)


async def _case_of(services: ServicesDep, actor: CurrentActor, break_id: uuid.UUID) -> uuid.UUID:
    case_id = await break_case_id(services.db, break_id)
    if case_id is None:
        raise await not_found(services.db, actor, "recon_break", break_id, action="recon.resolve")
    return case_id


async def _resolve_refused(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: bool,
    break_id: uuid.UUID,
    typed: dict[str, Any],
    error: DomainError,
) -> Response:
    """The resolve form again with what was typed and why it was refused: alone for HTMX
    (it swaps itself), otherwise the whole case page."""
    view = await case_service.get_case(
        services.db, actor, await _case_of(services, actor, break_id)
    )
    if view is None or view.recon is None or view.recon.brk.id != break_id:
        raise error
    item = next((i for i in view.tasks if str(i.task.id) == typed["task_id"].strip()), None)
    context: dict[str, Any] = {
        "view": view,
        "case": view.case,
        "change": None,
        "outcome_labels": case_service.OUTCOME_LABELS,
        "show_temporal": can(actor, "temporal_ui", "read"),
        "recon_form": typed,
        "recon_errors": error.fields,
        "recon_error": error.message,
        "recon_status": error.status_code,
    }
    if htmx and item is not None:
        context.update({"item": item, "t": item.task})
        return render(
            request,
            "partials/recon_resolve_form.html",
            context,
            status_code=error.status_code,
        )
    if item is None:
        raise error
    return render(request, "case.html", context, status_code=error.status_code)


# ----------------------------------------------------------------------------- report
From = Annotated[date | None, Query(alias="from", description="First UTC day, included.")]
To = Annotated[date | None, Query(alias="to", description="Last UTC day, included.")]


async def _report(
    services: ServicesDep,
    actor: CurrentActor,
    start: date | None,
    end: date | None,
    *,
    with_breaks: bool = False,
) -> report_service.ReconReport:
    last = end or datetime.now(UTC).date()
    first = start or last - timedelta(days=REPORT_DAYS - 1)
    if first > last:
        raise Invalid("The period starts after it ends.", fields={"from": "on or before 'to'"})
    return await report_service.build_report(
        services.db, actor, start=first, end=last, with_breaks=with_breaks
    )


@pages.get("/reconciliation/report")
async def recon_report(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    start: From = None,
    end: To = None,
) -> Response:
    report = await _report(services, actor, start, end)
    return render(
        request,
        "recon_report.html",
        {
            "report": report,
            "charts": report.charts(),
            "query": urlencode({"from": report.start.isoformat(), "to": report.end.isoformat()}),
            "kinds": BREAK_KINDS,
            "ages": AGE_LABELS,
        },
    )


@pages.get("/reconciliation/report.csv")
async def recon_report_csv(
    services: ServicesDep,
    actor: CurrentActor,
    start: From = None,
    end: To = None,
    table: Literal["summary", "sources", "ages", "breaks"] = "summary",
) -> Response:
    report = await _report(services, actor, start, end, with_breaks=table == "breaks")
    filename, text = report_service.to_csv(report, table)
    return Response(
        content=text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# ----------------------------------------------------------------------------- sources
@pages.get("/reconciliation/sources")
async def list_recon_sources(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    page: Page = 1,
    notice: Annotated[str | None, Query(max_length=40)] = None,
    change: Annotated[str | None, Query(max_length=20, pattern=r"^CHG-\d+$")] = None,
    case: uuid.UUID | None = None,
) -> Response:
    result = await source_service.list_sources(services.db, actor, page=page)
    return render(
        request,
        "recon_sources.html",
        {
            "result": result,
            "pages": _pages(result.total, result.per_page),
            "notice": {"saved": "The source was saved."}.get(notice or ""),
            "proposed": change if notice == "proposed" else None,
            "proposed_case": case,
        },
    )


def _source_form_page(
    request: Request,
    *,
    source: source_service.SourcePublic | None,
    form: dict[str, Any],
    error: DomainError | None = None,
    preset: str = "",
) -> Response:
    context = {
        "presets": source_service.PRESET_LABELS,
        "preset": preset,
        "source": source,
        "form": form,
        "error": error.message if error else None,
        "errors": error.fields if error else {},
        "formats": FORMAT_LABELS,
        "channels": CHANNELS,
        "mapping_fields": source_service.mapping_fields(),
        "prefix": source_service.MAPPING_PREFIX,
    }
    return render(
        request,
        "recon_source_form.html",
        context,
        status_code=error.status_code if error else 200,
    )


def _form_of(source: source_service.SourcePublic | None) -> dict[str, Any]:
    if source is None:
        return {
            "name": "",
            "format": "camt053",
            "accounts": "",
            "currency": "EUR",
            "channels": ["sepa"],
            "batch_channels": [],
            "description": "",
            "reason": "",
            "mapping": {f.name: f.default for f in source_service.mapping_fields()},
        }
    return {
        "name": source.name,
        "format": source.format,
        "accounts": "\n".join(source.accounts),
        "currency": source.currency,
        "channels": source.channels,
        "batch_channels": source.batch_channels,
        "description": source.description or "",
        "reason": "",
        "mapping": {
            k: source_service.mapping_text(v) for k, v in (source.csv_mapping or {}).items()
        },
    }


@pages.get("/reconciliation/sources/new")
async def new_recon_source(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    preset: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    await domain_require(
        services.db,
        actor,
        "reconciliation",
        "manage_sources",
        action=source_service.ACTION,
        object_type="recon_source",
    )
    form = _form_of(None)
    mapping = source_service.preset_mapping(preset) if preset else None
    if mapping is not None:  # a ready CSV layout to start from
        form.update(format="csv", mapping=mapping, currency=mapping.get("currency") or "EUR")
    return _source_form_page(request, source=None, form=form, preset=preset or "")


@pages.get("/reconciliation/sources/{source_id:uuid}")
async def edit_recon_source(
    request: Request, services: ServicesDep, actor: CurrentActor, source_id: uuid.UUID
) -> Response:
    source = await source_service.get_source(services.db, actor, source_id)
    return _source_form_page(request, source=source, form=_form_of(source))


async def _submitted_source(request: Request) -> tuple[source_service.SourceForm, dict[str, Any]]:
    """The posted form as SourceForm, and as typed (to show it again)."""
    data = await request.form()

    def text(name: str, limit: int) -> str:
        value = data.get(name)
        return value[:limit] if isinstance(value, str) else ""

    prefix = source_service.MAPPING_PREFIX
    mapping = {
        key.removeprefix(prefix): value[:500]
        for key, value in data.multi_items()
        if key.startswith(prefix) and isinstance(value, str)
    }
    channels = [v for v in data.getlist("channels") if isinstance(v, str)][:10]
    batch = [v for v in data.getlist("batch_channels") if isinstance(v, str)][:10]
    form = source_service.SourceForm(
        name=text("name", 200),
        format=text("format", 20),
        accounts=split_accounts(text("accounts", 2000))[:50],
        currency=text("currency", 10),
        channels=channels,
        batch_channels=batch,
        description=text("description", 2000),
        csv_mapping=mapping,
        reason=text("reason", 2100),
    )
    typed = {
        "name": form.name,
        "format": form.format,
        "accounts": text("accounts", 2000),
        "currency": form.currency,
        "channels": channels,
        "batch_channels": batch,
        "description": form.description,
        "reason": form.reason,
        "mapping": mapping,
    }
    return form, typed


async def _save_source(
    request: Request,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    source_id: uuid.UUID | None,
) -> Response:
    """Propose the source as a maker-checker change; the list then names the change."""
    form, typed = await _submitted_source(request)
    try:
        created = await source_changes.propose_source_change(
            services.db, temporal, services.settings, actor, form, source_id=source_id
        )
    except (Invalid, Conflict) as exc:
        request.state.error_reason = f"{exc.code}: {exc.message}"[:500]
        source = (
            await source_service.get_source(services.db, actor, source_id) if source_id else None
        )
        return _source_form_page(request, source=source, form=typed, error=exc)
    query = urlencode(
        {"notice": "proposed", "change": created.reference, "case": str(created.case_id)}
    )
    url = f"{request.url_for('list_recon_sources')}?{query}"
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


@pages.post("/reconciliation/sources/new", dependencies=[SourceManager])
async def create_recon_source(
    request: Request, services: ServicesDep, temporal: TemporalDep, actor: CurrentActor
) -> Response:
    return await _save_source(request, services, temporal, actor, None)


@pages.post("/reconciliation/sources/{source_id:uuid}", dependencies=[SourceManager])
async def update_recon_source(
    request: Request,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: CurrentActor,
    source_id: uuid.UUID,
) -> Response:
    return await _save_source(request, services, temporal, actor, source_id)
