"""Notes and attachments on a case: the case page's section (partials/case_notes.html), its
forms, the notes search page, downloads, and the JSON API under /api/v1/cases/{id}/.

A plain form post gets a 303 back to the case page's `#case-notes` section; an HTMX post
gets the section re-rendered in place. Refusals are readable pages or notice fragments
(web/errors.py).
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from casework import attachments, notes
from casework.case_work_view import case_work
from core.settings import Settings
from identity.access import not_found
from models.case_notes import (
    NOTE_MAX_CHARS,
    CaseAttachmentPage,
    CaseAttachmentPublic,
    CaseNotePage,
    CaseNotePublic,
)
from models.cases import Case
from models.roles import ROLES
from policies.enforcer import POLICY_PATH, allowed, read_rules
from web.deps import CurrentActor, HtmxRequest, PageParam, ServicesDep, in_path, require_any
from web.responses import API_ERRORS, WRITE_ERRORS
from web.templating import render

api = APIRouter(prefix="/api/v1/cases", tags=["case notes and attachments"], responses=API_ERRORS)
pages = APIRouter(include_in_schema=False)

PerPage = Annotated[int, Query(ge=1, le=100, description="Items per page (at most 100).")]
CASE = in_path("case", "case_id")


def _family(prefix: str, act: str) -> list[tuple[str, str]]:
    """Every `prefix:<case type>` permission the policy grants `act` on (route guards: the
    exact one is checked once the case is loaded)."""
    objects = {r.obj for r in read_rules(POLICY_PATH) if r.obj.startswith(prefix + ":")}
    return sorted(
        (o, act) for o in objects if "*" not in o and any(allowed([role], o, act) for role in ROLES)
    )


NoteWriter = Depends(
    require_any(*_family("case_note", "write"), action="case.note_added", about=CASE)
)
Uploader = Depends(
    require_any(*_family("case_file", "upload"), action="case.attachment_added", about=CASE)
)
Remover = Depends(
    require_any(
        *_family("case_file", "remove"),
        action="case.attachment_removed",
        about=in_path("attachment", "attachment_id"),
    )
)


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(
        max_length=20_000,
        description=f"Plain text, at most {NOTE_MAX_CHARS} characters; `@username` notifies "
        "that person (who must be an active staff member able to read the case).",
    )
    corrects: int | None = Field(
        default=None, ge=1, le=10**6, description="The number of the note this one corrects."
    )


class AttachmentRemoval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=2000, description="Why the file is removed (5-500 chars).")


def attachment_rules(settings: Settings) -> dict[str, Any]:
    """What the upload form says it takes."""
    return {
        "types": attachments.allowed_label(settings),
        "accept": ",".join(f".{e}" for e in attachments.allowed_types(settings)),
        "max_bytes": settings.attachment_max_bytes,
    }


# ----------------------------------------------------------------------------- JSON API
@api.get("/{case_id}/notes", response_model=CaseNotePage)
async def list_case_notes(
    services: ServicesDep,
    actor: CurrentActor,
    case_id: uuid.UUID,
    q: Annotated[str | None, Query(max_length=200, description="Search words.")] = None,
    page: PageParam = 1,
    per_page: PerPage = 20,
) -> CaseNotePage:
    """A case's notes, newest first; `q` keeps those holding its words ("a phrase",
    -excluded)."""
    return await notes.list_notes(services.db, actor, case_id, q=q, page=page, per_page=per_page)


@api.post(
    "/{case_id}/notes",
    status_code=status.HTTP_201_CREATED,
    response_model=CaseNotePublic,
    dependencies=[NoteWriter],
    responses=WRITE_ERRORS,
)
async def add_case_note(
    services: ServicesDep, actor: CurrentActor, case_id: uuid.UUID, body: NoteCreate
) -> CaseNotePublic:
    """Append a note to a case (never edited: correct one with a new note naming it)."""
    return await notes.add_note(services.db, actor, case_id, body=body.body, corrects=body.corrects)


@api.get("/{case_id}/attachments", response_model=CaseAttachmentPage)
async def list_case_attachments(
    services: ServicesDep,
    actor: CurrentActor,
    case_id: uuid.UUID,
    page: PageParam = 1,
    per_page: PerPage = 20,
) -> CaseAttachmentPage:
    """A case's files, newest first (removed ones stay listed, with who removed them)."""
    return await attachments.list_attachments(
        services.db, actor, case_id, page=page, per_page=per_page
    )


@api.post(
    "/{case_id}/attachments",
    status_code=status.HTTP_201_CREATED,
    response_model=CaseAttachmentPublic,
    dependencies=[Uploader],
    responses=WRITE_ERRORS,
)
async def add_case_attachment(
    services: ServicesDep,
    actor: CurrentActor,
    case_id: uuid.UUID,
    file: Annotated[UploadFile, File(description="The file (multipart/form-data).")],
) -> CaseAttachmentPublic:
    """Attach a file to a case (size and type limits; its sha256 is recorded)."""
    content = await file.read(services.settings.attachment_max_bytes + 1)
    return await attachments.add_attachment(
        services.db, services.settings, actor, case_id,
        filename=file.filename or "", content=content,
    )  # fmt: skip


@api.get("/{case_id}/attachments/{attachment_id}/content")
async def download_case_attachment_api(
    services: ServicesDep, actor: CurrentActor, case_id: uuid.UUID, attachment_id: uuid.UUID
) -> Response:
    """The file's bytes (audited)."""
    return await _download(services, actor, case_id, attachment_id)


@api.post(
    "/{case_id}/attachments/{attachment_id}/remove",
    response_model=CaseAttachmentPublic,
    dependencies=[Remover],
    responses=WRITE_ERRORS,
)
async def remove_case_attachment(
    services: ServicesDep,
    actor: CurrentActor,
    case_id: uuid.UUID,
    attachment_id: uuid.UUID,
    body: AttachmentRemoval,
) -> CaseAttachmentPublic:
    """Remove a file you uploaded by mistake (refused once a decision or SAR cites it)."""
    return await attachments.remove_attachment(
        services.db, services.settings, actor, case_id, attachment_id, reason=body.reason
    )


# ----------------------------------------------------------------------------- pages
async def _section(
    request: Request, services: ServicesDep, actor: CurrentActor, case_id: uuid.UUID, notice: str
) -> Response:
    """The notes-and-files section re-rendered (an HTMX post's answer)."""
    async with services.db.session() as session:
        case = await session.get(Case, case_id)
    assert case is not None  # the post just wrote to it
    context = {
        "case": case,
        "work": await case_work(services.db, actor, case),
        "attachment_rules": attachment_rules(services.settings),
        "work_notice": notice,
    }
    return render(request, "partials/case_notes.html", context)


def _back(request: Request, case_id: uuid.UUID, notice: str) -> Response:
    url = (
        str(request.url_for("read_case", case_id=case_id).include_query_params(notice=notice))
        + "#case-notes"
    )
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


@pages.post("/cases/{case_id}/notes", name="add_case_note_form", dependencies=[NoteWriter])
async def add_case_note_form(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    case_id: uuid.UUID,
    body: Annotated[str, Form(max_length=20_000)] = "",
    corrects: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    number = corrects.strip().upper().removeprefix("N-")
    added = await notes.add_note(
        services.db, actor, case_id, body=body,
        corrects=int(number) if number.isdigit() else None,
    )  # fmt: skip
    notice = f"Note {added.label} was added" + (
        f"; {', '.join('@' + m for m in added.mentions)} {'was' if len(added.mentions) == 1 else 'were'} notified."
        if added.mentions
        else "."
    )
    if htmx:
        return await _section(request, services, actor, case_id, notice)
    return _back(request, case_id, "note-added")


@pages.post(
    "/cases/{case_id}/attachments", name="add_case_attachment_form", dependencies=[Uploader]
)
async def add_case_attachment_form(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    case_id: uuid.UUID,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    content = b""
    filename = ""
    if file is not None:
        # Read one byte past the limit: enough to refuse, never the whole of a huge file.
        content = await file.read(services.settings.attachment_max_bytes + 1)
        filename = file.filename or ""
    added = await attachments.add_attachment(
        services.db, services.settings, actor, case_id, filename=filename, content=content
    )
    if htmx:
        return await _section(
            request, services, actor, case_id, f"{added.label} ({added.filename}) was attached."
        )
    return _back(request, case_id, "attachment-added")


@pages.post(
    "/cases/{case_id}/attachments/{attachment_id}/remove",
    name="remove_case_attachment_form",
    dependencies=[Remover],
)
async def remove_case_attachment_form(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    case_id: uuid.UUID,
    attachment_id: uuid.UUID,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    removed = await attachments.remove_attachment(
        services.db, services.settings, actor, case_id, attachment_id, reason=reason
    )
    if htmx:
        return await _section(request, services, actor, case_id, f"{removed.label} was removed.")
    return _back(request, case_id, "attachment-removed")


@pages.get("/cases/{case_id}/attachments/{attachment_id}", name="download_case_attachment")
async def download_case_attachment(
    services: ServicesDep, actor: CurrentActor, case_id: uuid.UUID, attachment_id: uuid.UUID
) -> Response:
    return await _download(services, actor, case_id, attachment_id)


@pages.get("/cases/{case_id}/notes", name="case_notes")
async def case_notes_page(
    request: Request,
    services: ServicesDep,
    actor: CurrentActor,
    htmx: HtmxRequest,
    case_id: uuid.UUID,
    q: Annotated[str | None, Query(max_length=200)] = None,
    page: PageParam = 1,
) -> Response:
    """The search over a case's notes (full page, or its results block for HTMX)."""
    found = await notes.list_notes(services.db, actor, case_id, q=q, page=page, per_page=20)
    async with services.db.session() as session:
        case = await session.get(Case, case_id)
    if case is None:  # list_notes already refused an unknown case; this is a race
        raise await not_found(services.db, actor, "case", case_id, action="case.notes_read")
    context = {
        "case": case,
        "found": found,
        "q": (q or "").strip(),
        "pages": max(1, -(-found.total // found.per_page)),
    }
    block = "note_results" if htmx and request.headers.get("hx-target") == "note-results" else None
    return render(request, "case_notes_search.html", context, block=block)


async def _download(
    services: ServicesDep, actor: CurrentActor, case_id: uuid.UUID, attachment_id: uuid.UUID
) -> Response:
    found = await attachments.download(
        services.db, services.settings, actor, case_id, attachment_id
    )
    return Response(
        content=found.content,
        media_type=found.content_type,
        headers={
            "Content-Disposition": content_disposition(found.filename),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII-only fallback name and the exact name per RFC 6266/5987."""
    fallback = re.sub(r"[^A-Za-z0-9._-]+", "_", filename).strip("._") or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
