"""The API's edges: integers are bounded, permission comes before the body, the OpenAPI
document declares the closed sets and the statuses (issue 13, "Web edges")."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlmodel import select

from core.db import Database
from models.audit import AuditEvent
from policies.enforcer import allowed
from tests.helpers import Staff, api_headers, new_staff, web_login
from web.deps import UNSAFE_METHODS, route_permissions

ABSURD = "19882380026373388369920"

# State-changing API routes that need no permission, and why.
OPEN_ROUTES = {
    ("POST", "/api/v1/auth/token"): "signing in: the credentials are the body",
    ("POST", "/api/v1/auth/logout"): "any signed-in person may revoke their own token",
}
# People each holding one role; for each route the test picks one whose role does not grant
# the route's permission. Between them they lack every write permission of the product.
ROLES = ("engineer", "support", "auditor", "finance_ops")


def _routes(routes: list[Any]) -> list[APIRoute]:
    """Every endpoint, also inside included routers (FastAPI may keep those nested)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif (inner := getattr(route, "original_router", None)) is not None:
            found += _routes(inner.routes)
    return found


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path.replace("{target_type}", "fee"))


async def _denied_events(db: Database, request_id: str) -> list[AuditEvent]:
    async with db.session() as session:
        rows = await session.exec(
            select(AuditEvent).where(
                AuditEvent.request_id == request_id, AuditEvent.outcome == "denied"
            )
        )
        return list(rows)


@pytest.mark.parametrize(
    "path",
    ["/api/v1/tasks", "/api/v1/customers", "/api/v1/transactions", "/api/v1/notifications"],
)
async def test_an_absurd_page_number_is_a_422_naming_the_parameter(
    http: httpx.AsyncClient, db: Database, path: str
) -> None:
    user = await new_staff(db, "aml_investigator", "support", "kyc_analyst")
    headers = await api_headers(http, user.username)
    response = await http.get(f"{path}?page={ABSURD}", headers=headers)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid"
    assert "page" in body["fields"], body
    per_page = await http.get(f"{path}?per_page={ABSURD}", headers=headers)
    assert per_page.status_code in (422, 200)  # notifications have no per_page
    assert (await http.get(f"{path}?page=100000", headers=headers)).status_code == 200


@pytest.mark.parametrize(
    "path", ["/customers", "/cases", "/inbox", "/audit", "/aml", "/disputes", "/reconciliation"]
)
async def test_pages_answer_an_absurd_page_number_with_a_readable_422(
    http: httpx.AsyncClient, db: Database, path: str
) -> None:
    user = await new_staff(
        db, "auditor", "support", "aml_investigator", "disputes_agent", "finance_ops"
    )
    await web_login(http, user.username)
    response = await http.get(f"{path}?page={ABSURD}")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "page" in response.text and "less than or equal to 100000" in response.text


async def test_every_state_changing_route_checks_permission_before_the_body(
    http: httpx.AsyncClient, app: Any, db: Database
) -> None:
    """Someone without the route's permission gets 403 (audited `denied`), whatever they send:
    a body of the wrong shape, or no JSON at all; never a 422 that is audited as a failure."""
    people: dict[str, Staff] = {role: await new_staff(db, role) for role in ROLES}
    tokens = {role: await api_headers(http, s.username) for role, s in people.items()}
    routes = [
        (method, route)
        for route in _routes(app.routes)
        if route.path.startswith("/api/")
        for method in sorted(route.methods & UNSAFE_METHODS)
    ]
    assert len(routes) >= 18
    checked = 0
    for method, route in routes:
        if (method, route.path) in OPEN_ROUTES:
            continue
        guards = route_permissions(route)
        assert guards, f"{method} {route.path} declares no permission guard in dependencies="
        permissions = [p for guard in guards for p in guard.permissions]
        role = next(
            (r for r in ROLES if not any(allowed([r], obj, act) for obj, act in permissions)),
            None,
        )
        assert role, f"every test role may {permissions}: add one that may not"
        bodies: list[Callable[[], dict[str, Any]]] = [
            lambda: {"json": {"unexpected": ["x"] * 3, "amount": 10**30}},
            lambda: {"content": b"{not json", "headers": {"content-type": "application/json"}},
            lambda: {"json": [1, 2, 3]},
            lambda: {"content": b"\xff\xfe{", "headers": {"content-type": "application/json"}},
        ]
        for body in bodies:
            kwargs = body()
            headers = {**tokens[role], **kwargs.pop("headers", {})}
            response = await http.request(method, _fill(route.path), headers=headers, **kwargs)
            assert response.status_code == 403, (method, route.path, role, response.text)
            assert response.json()["error"] == "permission_denied"
            events = await _denied_events(db, response.headers["x-request-id"])
            assert events, f"{method} {route.path}: the refusal was not audited as denied"
            checked += 1
    assert checked >= 4 * 15


async def test_a_support_user_posting_a_malformed_change_gets_403_not_422(
    http: httpx.AsyncClient, db: Database
) -> None:
    support = await new_staff(db, "support")
    headers = await api_headers(http, support.username)
    response = await http.post("/api/v1/changes", json={"target_type": 7}, headers=headers)
    assert response.status_code == 403
    (event,) = await _denied_events(db, response.headers["x-request-id"])
    assert event.action == "change.propose" and event.actor == support.username
    # Someone who may propose gets the 422 for the same body, naming the fields.
    maker = await new_staff(db, "product_manager")
    refused = await http.post(
        "/api/v1/changes",
        json={"target_type": 7},
        headers=await api_headers(http, maker.username),
    )
    assert refused.status_code == 422 and "target_type" in refused.json()["fields"]


async def test_a_body_that_cannot_be_read_is_a_422_naming_the_body(
    http: httpx.AsyncClient, db: Database
) -> None:
    maker = await new_staff(db, "product_manager")
    headers = {**await api_headers(http, maker.username), "content-type": "application/json"}
    for content in (b"\xff\xfe{", b"{not json"):
        response = await http.post("/api/v1/changes", content=content, headers=headers)
        assert response.status_code == 422, response.text
        assert "body" in response.json()["fields"]


async def test_an_over_long_username_is_a_422_not_a_server_error(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/api/v1/auth/token", json={"username": "u" * 65, "password": "whatever-it-is"}
    )
    assert response.status_code == 422
    assert "username" in response.json()["fields"]


async def test_integers_in_a_body_are_bounded_too(http: httpx.AsyncClient, db: Database) -> None:
    finance = await new_staff(db, "finance_ops")
    response = await http.post(
        f"/api/v1/reconciliation/breaks/{uuid.uuid4()}/resolve",
        json={"task_id": str(uuid.uuid4()), "action": "matched", "line_nos": [int(ABSURD)]},
        headers=await api_headers(http, finance.username),
    )
    assert response.status_code == 422, response.text
    assert any(key.startswith("line_nos") for key in response.json()["fields"])


async def test_a_request_without_a_token_is_a_401_whatever_the_body(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post(
        "/api/v1/changes", content=b"{broken", headers={"content-type": "application/json"}
    )
    assert response.status_code == 401


async def test_the_openapi_document_declares_enums_and_error_statuses(app: Any) -> None:
    schema = app.openapi()
    tasks = schema["paths"]["/api/v1/tasks"]["get"]
    params = {p["name"]: p["schema"] for p in tasks["parameters"]}
    assert "enum" in str(params["kind"]) and "aml_l1_review" in str(params["kind"])
    assert params["page"]["maximum"] == 100_000
    breaks = schema["paths"]["/api/v1/reconciliation/breaks"]["get"]
    age = next(p for p in breaks["parameters"] if p["name"] == "age")
    assert "31+" in str(age["schema"])
    decision = schema["paths"]["/api/v1/tasks/{task_id}/decision"]["post"]["responses"]
    assert "409" in decision  # already decided, not claimed by you…
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/v1/") or path.startswith("/api/v1/auth/"):
            continue
        for method, operation in operations.items():
            declared = set(operation["responses"])
            assert {"401", "403", "422"} <= declared, (method, path, declared)
            error = operation["responses"]["422"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)
