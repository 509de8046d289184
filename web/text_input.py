"""Text with a NUL character is refused at the door, whatever route it is sent to.

PostgreSQL can hold `\\0` neither in text nor in jsonb, so a NUL that got as far as a
query was a 500 (and, in jsonb, could not even be audited). One app-wide dependency looks
at every place text arrives — the JSON body at any depth, form fields, query and path
parameters — and refuses with a 422 naming each field as validation errors name them
(`parties.0.name`, `q`), after the route's permission check. Uploaded files are not text fields: their content is left to the parsers, which
refuse bad bytes themselves; only a file's name is checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from shared.errors import Invalid
from web.deps import check_route_permission

NUL = "\x00"
PROBLEM = "must not contain a NUL character (\\0)"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _label(part: object) -> str:
    return str(part).replace(NUL, "\\0")[:100]


def _join(path: str, key: object) -> str:
    return f"{path}.{_label(key)}" if path else _label(key)


def nul_fields(value: Any, path: str = "") -> Iterator[str]:
    """The dotted path of every string (or object key) holding a NUL, at any depth, named
    as validation errors name fields (`parties.0.name`; the whole body: `body`)."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:  # iterative: a deeply nested body cannot exhaust the call stack here
        item, where = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                yield where or "body"
        elif isinstance(item, dict):
            for key, sub in reversed(list(item.items())):
                if isinstance(key, str) and NUL in key:
                    yield _join(where, key)
                else:
                    stack.append((sub, _join(where, key)))
        elif isinstance(item, list):
            stack.extend((sub, _join(where, i)) for i, sub in reversed(list(enumerate(item))))


async def _body_fields(request: Request) -> list[str]:
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith(FORM_TYPES):
        form = await request.form()  # cached by Starlette: the route reads the same form
        found = []
        for key, value in form.multi_items():
            if NUL in key:
                found.append(_label(key))
            elif isinstance(value, UploadFile):
                if value.filename and NUL in value.filename:
                    found.append(f"{_label(key)} (file name)")
            elif NUL in value:
                found.append(_label(key))
        return found
    if "json" in content_type:
        raw = await request.body()  # cached by Starlette, as FastAPI read it before us
        # JSON can only carry NUL escaped; most bodies are spared a second parse.
        if b"\\u0000" not in raw:
            return []
        try:
            body = json.loads(raw)
        except ValueError:
            return []  # not JSON at all: FastAPI's own validation answers that
        return list(nul_fields(body))
    return []


async def refuse_nul_text(request: Request) -> None:
    """App-wide dependency: 422 naming each field whose text holds a NUL character.

    Fields are named as FastAPI's validation errors name them (`name`, `changes.note`,
    `page`); the message says where each one was (body, query, path)."""
    found = [
        (_label(key), "path")
        for key, value in request.path_params.items()
        if isinstance(value, str) and NUL in value
    ]
    found += [
        (_label(key), "query")
        for key, value in request.query_params.multi_items()
        if NUL in key or NUL in value
    ]
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        found += [(name, "body") for name in await _body_fields(request)]
    if not found:
        return
    # Who is asking, and whether they may, is answered before what they sent is judged.
    await check_route_permission(request)
    raise Invalid(
        "Text may not contain a NUL character (\\0); remove it from: "
        + ", ".join(f"{name} ({where})" for name, where in found)
        + ".",
        fields=dict.fromkeys((name for name, _ in found), PROBLEM),
    )
