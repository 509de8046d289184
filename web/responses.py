"""The error answers of the JSON API, declared once for the OpenAPI document.

Every refusal has one body (web.errors.error_response): `{"error": code, "message": ...,
"fields": {name: problem}}`. Routers declare which statuses they answer with `errors(...)`;
the usual sets are below, so a client (or schemathesis) knows every status it can get.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    error: str = Field(description="A stable code, e.g. `permission_denied`, `invalid`.")
    message: str = Field(description="A sentence a person can act on.")
    fields: dict[str, str] | None = Field(
        default=None, description="For 422: each field (or parameter) refused, and why."
    )


DESCRIPTIONS = {
    401: "Not signed in: no bearer token, or it has expired or was revoked.",
    403: "Your roles do not allow this, or segregation of duties excludes you (audited).",
    404: "No such object, or not one you may see (the same answer, so ids are no oracle).",
    409: "The object is not in a state that allows this (already claimed, decided, closed…).",
    422: "The request is not valid: `fields` names each field or parameter and why.",
    429: "Too many failed attempts: try again after `Retry-After` seconds.",
    503: "The database or the workflow engine is unavailable; nothing was changed.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for these error statuses, each with the error body's schema."""
    return {
        status: {"model": ErrorBody, "description": DESCRIPTIONS[status]} for status in statuses
    }


# Every JSON route needs a token, checks a permission and validates what it is sent.
API_ERRORS = errors(401, 403, 404, 422, 503)
# A state-changing route can also meet an object in the wrong state.
WRITE_ERRORS = errors(409)
