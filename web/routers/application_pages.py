"""The "New application" page: support and KYC analysts take an application in the browser.

The form posts flat, indexed field names (`directors-0-full_name`); they are mapped into the
same `ApplicationCreate` the JSON API takes, so both doors obey one set of rules.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from functools import cache
from typing import Annotated, Any, Literal

import pycountry
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from identity.actors import Actor
from models.applications import BUSINESS_DOCUMENT_TYPES, DOCUMENT_TYPES, ApplicationCreate
from onboarding.commands import intake
from shared.errors import DomainError
from web.deps import HtmxRequest, ServicesDep, TemporalDep, require
from web.templating import render

pages = APIRouter(include_in_schema=False)

Submitter = Annotated[Actor, Depends(require("application", "submit"))]
Kind = Literal["individual", "business"]
Group = Literal["directors", "owners"]

CURRENCIES = ("EUR", "USD", "GBP", "CHF", "PLN", "SEK")
MAX_PEOPLE = 20  # ApplicationCreate accepts at most 20 directors and 20 owners
GROUP_TITLES = {"directors": "Director", "owners": "Beneficial owner"}
PERSON_FIELDS = ("full_name", "date_of_birth", "nationality", "country_of_residence")
PERSON_CONTACT = ("email", "phone")
ADDRESS_FIELDS = ("line1", "line2", "city", "postal_code", "country")
DOCUMENT_FIELDS = ("type", "number", "issuing_country", "expiry_date", "mrz")
BUSINESS_FIELDS = (
    "legal_name",
    "registration_number",
    "country",
    "incorporation_date",
    "industry_code",
    "website",
    "ownership_layers",
)
# Problems pydantic words for developers, reworded for the person at the form.
PATTERN_HINTS = {
    "number": "letters and digits only (and < or -)",
    "industry_code": "a NACE Rev. 2 code such as 62.01 or 64",
    "website": "a full address such as https://example.com",
    "external_ref": "the form's reference is damaged; reload the page",
}


@cache
def countries() -> list[tuple[str, str]]:
    """ISO 3166-1 countries as (alpha-2 code, name), by name."""
    named = [(c.alpha_2, getattr(c, "common_name", None) or c.name) for c in pycountry.countries]
    return sorted(named, key=lambda pair: pair[1])


# ----------------------------------------------------------------------------- form → model
def _text(form: dict[str, str], name: str) -> str:
    return form.get(name, "").strip()


def _optional(form: dict[str, str], name: str) -> str | None:
    return _text(form, name) or None


def _address(form: dict[str, str], prefix: str) -> dict[str, Any]:
    address: dict[str, Any] = {f: _text(form, f"{prefix}-address-{f}") for f in ADDRESS_FIELDS}
    address["line2"] = address["line2"] or None
    return address


def _identity_document(form: dict[str, str], prefix: str, *, required: bool) -> list[Any]:
    doc: dict[str, Any] = {f: _text(form, f"{prefix}-document-{f}") for f in DOCUMENT_FIELDS}
    if not required and not any(doc[f] for f in ("number", "issuing_country", "expiry_date")):
        return []  # a director or owner may be taken without a document; the review asks
    lines = [line.strip() for line in doc["mrz"].splitlines() if line.strip()]
    doc["mrz"] = lines or None
    return [doc]


def _person(
    form: dict[str, str], prefix: str, *, owner: bool = False, document_required: bool = False
) -> dict[str, Any]:
    person: dict[str, Any] = {f: _text(form, f"{prefix}-{f}") for f in PERSON_FIELDS}
    person["address"] = _address(form, prefix)
    person.update({f: _text(form, f"{prefix}-{f}") for f in PERSON_CONTACT})
    person["documents"] = _identity_document(form, prefix, required=document_required)
    person["pep"] = bool(form.get(f"{prefix}-pep"))
    if owner:
        person["ownership_percent"] = _text(form, f"{prefix}-ownership_percent")
    return person


def group_indexes(form: dict[str, str], group: str) -> list[int]:
    """The indexes of the person blocks of one group on the posted form, in order."""
    found = {int(m.group(1)) for k in form if (m := re.match(rf"^{group}-(\d+)-", k))}
    return sorted(i for i in found if i < 1000)


def submitted_people(form: dict[str, str]) -> dict[str, list[int]]:
    """Per group, the form indexes of the blocks that hold anything: a block left empty (added
    by mistake) is not a person. The document type alone does not count: it has a default."""

    def filled(prefix: str) -> bool:
        return any(
            v.strip()
            for k, v in form.items()
            if k.startswith(prefix) and k != f"{prefix}document-type"
        )

    return {g: [i for i in group_indexes(form, g) if filled(f"{g}-{i}-")] for g in GROUP_TITLES}


def _business(form: dict[str, str]) -> dict[str, Any]:
    business: dict[str, Any] = {f: _text(form, f"business-{f}") for f in BUSINESS_FIELDS}
    business["website"] = business["website"] or None
    business["ownership_layers"] = business["ownership_layers"] or 1
    business["address"] = _address(form, "business")
    doc = {f: _optional(form, f"business-document-{f}") for f in ("type", "number", "issued_on")}
    business["documents"] = [doc] if any(doc.values()) else []
    people = submitted_people(form)
    business["directors"] = [_person(form, f"directors-{i}") for i in people["directors"]]
    business["beneficial_owners"] = [
        _person(form, f"owners-{i}", owner=True) for i in people["owners"]
    ]
    return business


def form_to_application(form: dict[str, str]) -> dict[str, Any]:
    """The ApplicationCreate document the form describes (not yet validated)."""
    kind = "business" if form.get("kind") == "business" else "individual"
    data: dict[str, Any] = {"external_ref": _text(form, "external_ref"), "kind": kind}
    if kind == "individual":
        data["individual"] = _person(form, "individual", document_required=True)
    else:
        data["business"] = _business(form)
    # Spaces only: a comma is a decimal point to some and a thousands separator to others.
    amount = _text(form, "volume-amount").replace(" ", "")
    if amount or kind == "business":
        data["expected_monthly_volume"] = {
            "amount": amount,
            "currency": _text(form, "volume-currency"),
        }
    return data


# ----------------------------------------------------------------------------- errors → fields
def field_name(loc: Sequence[int | str], people: dict[str, list[int]]) -> str:
    """The form field a pydantic error location points at: ("business", "directors", 0,
    "full_name") → "directors-0-full_name"; "" for the application as a whole."""
    parts: list[str] = [str(p) for p in loc]
    if parts[:1] == ["expected_monthly_volume"]:
        parts[0] = "volume"
    if parts[:2] in (["business", "directors"], ["business", "beneficial_owners"]):
        group = "directors" if parts[1] == "directors" else "owners"
        parts = [group, *parts[2:]]
        if len(parts) > 1:
            # Empty blocks were skipped: the list position is not always the form's index.
            indexes = people.get(group, [])
            position = int(parts[1])
            parts[1] = str(indexes[position]) if position < len(indexes) else parts[1]
    if parts == ["business"]:
        parts = ["owners"]  # the business's own check: ownership adds up to at most 100%
    if "documents" in parts:
        at = parts.index("documents")
        parts[at : at + 2] = ["document"]  # the form has one document per person
    if "mrz" in parts:
        parts = parts[: parts.index("mrz") + 1]
    return "-".join(parts)


def _message(err: ErrorDetails, name: str, value: object) -> str:
    if value in ("", None) or err["type"] == "missing":
        return "This field is required." if name else "Something is missing."
    if err["type"] == "string_pattern_mismatch":
        return "Use " + PATTERN_HINTS.get(name.rsplit("-", 1)[-1], "the format shown")
    if err["type"] == "literal_error":
        return "Choose one of the options."
    if err["type"] == "too_short" and name in GROUP_TITLES:
        return f"Name at least one {GROUP_TITLES[name].lower()}."
    return err["msg"].removeprefix("Value error, ").rstrip(".") + "."


def errors_by_field(exc: ValidationError, form: dict[str, str]) -> dict[str, str]:
    people = submitted_people(form)
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = err["loc"]
        name = field_name(loc, people)
        message = _message(err, name, err.get("input"))
        if "mrz" in loc and loc[-1] != "mrz":
            message = f"line {int(loc[-1]) + 1}: {message}"  # the textarea holds every line
        errors.setdefault(name, message)
    return errors


def field_label(name: str) -> str:
    """A readable name for the summary: "owners-1-document-number" → "Beneficial owner 2 ·
    document · number"."""
    parts = name.split("-")
    if parts[0] in GROUP_TITLES and len(parts) > 1 and parts[1].isdigit():
        head = f"{GROUP_TITLES[parts[0]]} {int(parts[1]) + 1}"
        parts = parts[2:]
    else:
        head = {"volume": "Expected monthly volume", "individual": "Applicant"}.get(
            parts[0], parts[0].replace("_", " ").capitalize() or "Application"
        )
        parts = parts[1:]
    return " · ".join([head, *(p.replace("_", " ") for p in parts)])


# ----------------------------------------------------------------------------- pages
def _form_page(
    request: Request,
    kind: Kind,
    form: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
    block: str | None = None,
) -> Response:
    directors = group_indexes(form, "directors") or [0]
    owners = group_indexes(form, "owners") or [0]
    context = {
        "kind": kind,
        "form": form,
        "errors": errors or {},
        "error": error,
        "labels": {name: field_label(name) for name in errors or {}},
        "directors": directors,
        "owners": owners,
        "next_index": {"directors": max(directors) + 1, "owners": max(owners) + 1},
        **_choices(),
    }
    return render(request, "application_new.html", context, status_code=status_code, block=block)


def _choices() -> dict[str, Any]:
    return {
        "countries": countries(),
        "currencies": [(c, c) for c in CURRENCIES],
        "document_types": DOCUMENT_TYPES,
        "business_document_types": BUSINESS_DOCUMENT_TYPES,
        "group_titles": GROUP_TITLES,
        "max_people": MAX_PEOPLE,
    }


def _new_ref() -> str:
    return f"web-{uuid.uuid4()}"


@pages.get("/applications/new")
async def new_application(
    request: Request, actor: Submitter, kind: Kind = "individual"
) -> Response:
    form = {"external_ref": _new_ref(), "volume-currency": "EUR", "business-ownership_layers": "1"}
    return _form_page(request, kind, form)


@pages.get("/applications/new/{group}")
async def new_person_block(
    request: Request,
    actor: Submitter,
    group: Group,
    index: Annotated[int, Query(ge=1, lt=MAX_PEOPLE)],
) -> Response:
    """One more director or owner block, appended to its list by the "Add …" button."""
    context = {"group": group, "index": index, "form": {}, "errors": {}, **_choices()}
    return render(request, "partials/application_person.html", context)


@pages.post("/applications/new")
async def submit_application_form(
    request: Request,
    services: ServicesDep,
    temporal: TemporalDep,
    actor: Submitter,
    htmx: HtmxRequest,
) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    kind: Kind = "business" if form.get("kind") == "business" else "individual"
    block = "application_form" if htmx else None
    data = form_to_application(form)
    try:
        application = ApplicationCreate.model_validate(data)
    except ValidationError as exc:
        errors = errors_by_field(exc, form)
        request.state.error_reason = f"invalid: {', '.join(errors)}"[:500]
        message = f"The application was not submitted: {len(errors)} field{'s' if len(errors) != 1 else ''} to correct."
        return _form_page(
            request, kind, form, errors=errors, error=message, status_code=422, block=block
        )
    try:
        accepted = await intake.submit_application(
            services.db, temporal, services.settings, actor, application
        )
    except DomainError as exc:
        request.state.error_reason = f"{exc.code}: {exc.message}"[:500]
        if exc.code == "external_ref_reused":
            # The form was changed after it was submitted: submitting again is a new application.
            form["external_ref"] = _new_ref()
            message = (
                "This form was already submitted with different details, as another "
                "application; nothing new was started. Your input is kept below: submit it "
                "again only if it is a different application."
            )
        else:
            message = exc.message
        return _form_page(
            request,
            kind,
            form,
            errors=exc.fields,
            error=message,
            status_code=exc.status_code,
            block=block,
        )
    notice = "submitted" if accepted.created else "resubmitted"
    url = f"{request.url_for('read_case', case_id=accepted.case_id)}?notice={notice}"
    if htmx:
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)
