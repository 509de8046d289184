"""The codec server the Temporal UI calls (/codec/decode): engineers and auditors read a
history's payloads decoded, each decode audited without content; nobody can encode."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlmodel import col, select
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import WorkflowSerializationContext

from core.codec import SCOPE, EncryptionCodec
from core.db import Database
from core.settings import Settings
from models.audit import AuditEvent
from tests.codec_keys import readable_without_key, stored_payloads
from tests.helpers import (
    api_headers,
    new_plan,
    new_staff,
    proposal,
    served_by_uvicorn,
    task_of,
    web_login,
)
from tests.integration.test_temporal_doors import temporal_cli
from web.services import Services

JSON = {"Content-Type": "application/json"}
UI_ORIGIN = "https://temporal-ui.example.com"


async def audit_events(db: Database, action: str, actor: str) -> list[AuditEvent]:
    async with db.session() as session:
        rows = await session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == action, AuditEvent.actor == actor)
            .order_by(col(AuditEvent.id))
        )
        return list(rows.all())


async def signed_in(app: object, username: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 5555))  # type: ignore[arg-type]
    client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    await web_login(client, username)
    return client


async def approved_change(
    http: httpx.AsyncClient, db: Database, settings: Settings, comment: str
) -> tuple[str, list[dict[str, Any]]]:
    """A real change approved with `comment`: its workflow id and its history's payloads, as
    Temporal holds them (read without key)."""
    plan = await new_plan(db)
    maker = await new_staff(db, "product_manager")
    checker = await new_staff(db, "ops_manager")
    maker_h, checker_h = (
        await api_headers(http, maker.username),
        await api_headers(http, checker.username),
    )
    created = await http.post(
        "/api/v1/changes", json=proposal("fee", plan.fee_id, fixed_amount="3.10"), headers=maker_h
    )
    workflow_id = created.json()["workflow_id"]
    task = await task_of(db, workflow_id)
    await http.post(f"/api/v1/tasks/{task.id}/claim", headers=checker_h)
    decided = await http.post(
        f"/api/v1/tasks/{task.id}/decision",
        json={"outcome": "approve", "reason": None, "comment": comment},
        headers=checker_h,
    )
    assert decided.status_code == 200, decided.text
    raw = await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
    )
    history = await raw.get_workflow_handle(workflow_id).fetch_history()
    return workflow_id, stored_payloads(json.loads(history.to_json()))


async def test_engineer_reads_a_history_decoded_and_the_decode_is_audited_without_content(
    app: object, http: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    comment = "Fee matches the board-approved schedule"
    _, payloads = await approved_change(http, db, settings, comment)
    assert comment not in json.dumps(payloads)
    engineer = await new_staff(db, "engineer")
    eng = await signed_in(app, engineer.username)
    # What the UI sends: same origin, JSON, X-Namespace, the session cookie, no CSRF token.
    response = await eng.post(
        "/codec/decode",
        json={"payloads": payloads},
        headers={"X-Namespace": "default", "Origin": "http://testserver"},
    )
    assert response.status_code == 200, response.text
    decoded = response.json()["payloads"]
    assert len(decoded) == len(payloads)
    texts = [base64.b64decode(p["data"]).decode() for p in decoded]
    assert any(comment in text for text in texts)
    encodings = {base64.b64decode(p["metadata"]["encoding"]).decode() for p in decoded}
    assert "binary/encrypted" not in encodings and "json/plain" in encodings

    [event] = await audit_events(db, "temporal.decode", engineer.username)
    assert event.outcome == "success"
    assert event.details == {
        "payloads": len(payloads),
        "not_decrypted": 0,
        "withheld": 0,
        "namespace": "default",
    }
    assert comment not in json.dumps(event.details) + (event.reason or "")


async def test_auditor_may_decode_and_undecryptable_payloads_come_back_unchanged(
    app: object, db: Database
) -> None:
    auditor = await new_staff(db, "auditor")
    client = await signed_in(app, auditor.username)
    plain = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()}, "data": "IjEi"}
    foreign = {
        "metadata": {
            "encoding": base64.b64encode(b"binary/encrypted").decode(),
            "encryption-key-id": base64.b64encode(b"elsewhere").decode(),
        },
        "data": base64.b64encode(b"\x00" * 40).decode(),
    }
    response = await client.post("/codec/decode", json={"payloads": [plain, foreign]})
    assert response.status_code == 200, response.text
    assert response.json()["payloads"] == [plain, foreign]
    [event] = await audit_events(db, "temporal.decode", auditor.username)
    assert event.details["not_decrypted"] == 1


def wire(payload: Payload) -> dict[str, Any]:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


async def sealed_in(app: object, workflow_id: str, text: str) -> dict[str, Any]:
    """`text` as a worker of `workflow_id` seals it (the app's key, that workflow's context)."""
    codec: EncryptionCodec = app.state.display_codec  # type: ignore[attr-defined]
    context = WorkflowSerializationContext(namespace="default", workflow_id=workflow_id)
    [sealed] = await codec.with_context(context).encode(
        [Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())]
    )
    return wire(sealed)


def shown(payload: dict[str, Any]) -> str:
    return base64.b64decode(payload["data"]).decode("utf-8", "replace")


async def test_engineer_gets_aml_payloads_sealed_and_change_ones_decoded_auditor_gets_both(
    app: object, db: Database
) -> None:
    narrative = "Structuring below threshold; SAR filed on the customer"
    comment = "Fee matches the board-approved schedule"
    aml = await sealed_in(app, "aml-0b7e4a4e-5d1f-4c55-9a55-1f0f5b2d0c11", narrative)
    change = await sealed_in(app, "change-81", comment)
    assert base64.b64decode(aml["metadata"][SCOPE]) == b"aml"
    body = {"payloads": [aml, change]}

    engineer = await new_staff(db, "engineer")
    eng = await signed_in(app, engineer.username)
    response = await eng.post("/codec/decode", json=body, headers={"X-Namespace": "default"})
    assert response.status_code == 200, response.text
    withheld, decoded = response.json()["payloads"]
    assert withheld == aml  # exactly as it came: still sealed
    assert narrative not in shown(withheld)
    assert shown(decoded) == json.dumps(comment)
    [event] = await audit_events(db, "temporal.decode", engineer.username)
    assert event.outcome == "success"
    assert event.details["withheld"] == 1 and event.details["not_decrypted"] == 0
    assert narrative not in json.dumps(event.details)

    auditor = await new_staff(db, "auditor")
    aud = await signed_in(app, auditor.username)
    response = await aud.post("/codec/decode", json=body, headers={"X-Namespace": "default"})
    assert response.status_code == 200, response.text
    assert [shown(p) for p in response.json()["payloads"]] == [
        json.dumps(narrative),
        json.dumps(comment),
    ]
    [event] = await audit_events(db, "temporal.decode", auditor.username)
    assert event.details["withheld"] == 0 and event.details["payloads"] == 2


async def test_a_scope_tag_changed_to_one_the_engineer_may_read_decrypts_for_nobody(
    app: object, db: Database
) -> None:
    narrative = "Customer account restricted pending investigation"
    forged = await sealed_in(app, "aml-1", narrative)
    forged["metadata"][SCOPE] = base64.b64encode(b"change").decode()
    untagged = await sealed_in(app, "aml-2", narrative)
    del untagged["metadata"][SCOPE]
    body = {"payloads": [forged, untagged]}
    for role in ("engineer", "auditor"):
        reader = await new_staff(db, role)
        client = await signed_in(app, reader.username)
        response = await client.post("/codec/decode", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["payloads"] == [forged, untagged]
        [event] = await audit_events(db, "temporal.decode", reader.username)
        # The engineer may read `change` (it fails to decrypt) but not `unscoped` (withheld);
        # the auditor may read both, and neither decrypts.
        expected = (1, 1) if role == "engineer" else (2, 0)
        assert (event.details["not_decrypted"], event.details["withheld"]) == expected


async def test_codec_refuses_without_session_other_roles_and_foreign_pages(
    app: object, http: httpx.AsyncClient, db: Database
) -> None:
    body: dict[str, list[object]] = {"payloads": []}
    anonymous = await http.post("/codec/decode", json=body)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "login_required"

    support = await new_staff(db, "support")
    client = await signed_in(app, support.username)
    refused = await client.post("/codec/decode", json=body)
    assert refused.status_code == 403
    assert refused.json()["error"] == "permission_denied"
    malformed = await client.post("/codec/decode", json={"payloads": "not a list"})
    assert malformed.status_code == 403  # who may is answered before what was sent
    denied = await audit_events(db, "temporal.decode", support.username)
    assert [e.outcome for e in denied] == ["denied", "denied"]

    engineer = await new_staff(db, "engineer")
    eng = await signed_in(app, engineer.username)
    cross_site = await eng.post("/codec/decode", json=body, headers={"Origin": "https://evil.test"})
    assert cross_site.status_code == 403 and cross_site.json()["error"] == "csrf"
    form_post = await eng.post(
        "/codec/decode", content=json.dumps(body), headers={"Content-Type": "text/plain"}
    )
    assert form_post.status_code == 403 and form_post.json()["error"] == "csrf"
    assert await audit_events(db, "temporal.decode", engineer.username) == []


async def test_encode_is_refused_for_everyone_and_audited(app: object, db: Database) -> None:
    engineer = await new_staff(db, "engineer")
    eng = await signed_in(app, engineer.username)
    payload = {"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "IjEi"}
    response = await eng.post(
        "/codec/encode", json={"payloads": [payload]}, headers={"X-Namespace": "default"}
    )
    assert response.status_code == 403
    assert response.json()["error"] == "encode_refused"
    assert "forge" in response.json()["message"]
    [event] = await audit_events(db, "temporal.encode", engineer.username)
    assert event.outcome == "denied"


@pytest.fixture
def ui_elsewhere(app: object) -> Iterator[None]:
    services: Services = app.state.services  # type: ignore[attr-defined]
    before = services.settings
    services.settings = before.model_copy(update={"temporal_ui_origin": UI_ORIGIN})
    yield
    services.settings = before


async def test_cors_preflight_is_granted_to_the_configured_ui_origin_only(
    app: object, http: httpx.AsyncClient, db: Database, ui_elsewhere: None
) -> None:
    asked = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    granted = await http.options("/codec/decode", headers={"Origin": UI_ORIGIN, **asked})
    assert granted.status_code == 204
    assert granted.headers["access-control-allow-origin"] == UI_ORIGIN
    assert granted.headers["access-control-allow-credentials"] == "true"
    other = await http.options("/codec/decode", headers={"Origin": "https://evil.test", **asked})
    assert other.status_code == 403
    assert "access-control-allow-origin" not in other.headers

    auditor = await new_staff(db, "auditor")
    client = await signed_in(app, auditor.username)
    response = await client.post(
        "/codec/decode", json={"payloads": []}, headers={"Origin": UI_ORIGIN, **JSON}
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == UI_ORIGIN


async def test_temporal_cli_reads_through_the_codec_server_with_a_token_but_cannot_encode(
    app: object, http: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    comment = "Reviewed with the pricing committee minutes"
    workflow_id, _ = await approved_change(http, db, settings, comment)
    engineer = await new_staff(db, "engineer")
    token = (await api_headers(http, engineer.username))["Authorization"]
    async with served_by_uvicorn(app) as base:
        codec = ["--codec-endpoint", f"{base}/codec", "--codec-auth", token]
        code, shown = await temporal_cli(
            settings, "workflow", "show", "--workflow-id", workflow_id, "--output", "json", *codec
        )
        assert code == 0, shown
        assert comment in readable_without_key(shown)[0]
        code, plain = await temporal_cli(
            settings, "workflow", "show", "--workflow-id", workflow_id, "--output", "json"
        )
        assert code == 0 and comment not in readable_without_key(plain)[0]
        # With the codec server the CLI would seal its input: /encode refuses, nothing is sent.
        code, refused = await temporal_cli(
            settings,
            "workflow", "signal",
            "--workflow-id", workflow_id,
            "--name", "target_changed",
            "--input", "{}",
            *codec,
        )  # fmt: skip
        assert code != 0, refused
    decoded = await audit_events(db, "temporal.decode", engineer.username)
    assert decoded and all(e.outcome == "success" for e in decoded)  # one per CLI request
    assert sum(e.details["payloads"] for e in decoded) > 0
    [encode] = await audit_events(db, "temporal.encode", engineer.username)
    assert encode.outcome == "denied"
