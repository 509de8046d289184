"""The Temporal UI at /temporal/: a read-only proxy to a real dev server's UI.

A dev server of this module's own runs with its UI on loopback, under /temporal, as
`backoffice run` starts it; the app under test proxies to it. (The browser test in
tests/browser/test_temporal_ui_browser.py drives the same UI in Chromium.)
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import select
from starlette.requests import Request

from app import create_app
from core import embedded
from core.db import Database
from core.settings import Settings
from models.audit import AuditEvent
from tests.helpers import EVENTUALLY, new_staff, web_login
from web.middleware import CSP
from web.routers.temporal_ui import _upstream_headers, write_action


@pytest.fixture(scope="module")
def ui_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("temporal-ui")
    ui_port = embedded.free_port()
    proc = embedded.start_temporal(
        port=embedded.free_port(), ui_port=ui_port, db_file=None, log_file=workdir / "dev.log"
    )
    try:
        base = f"http://127.0.0.1:{ui_port}"
        # The UI's port opens before its own connection to the frontend is up (for a moment
        # its API answers 503 "connection refused"): ready is when it can read a namespace.
        deadline = time.monotonic() + EVENTUALLY
        while not _ui_reads_namespaces(base):
            assert time.monotonic() < deadline, (workdir / "dev.log").read_text()
            time.sleep(0.1)
        yield base
    finally:
        embedded.stop_process(proc)


def _ui_reads_namespaces(base: str) -> bool:
    try:
        return httpx.get(f"{base}/temporal/api/v1/namespaces/default", timeout=5).is_success
    except httpx.TransportError:
        return False


@pytest.fixture
async def web(
    settings: Settings, db: Database, temporal_env: object, worker: None, ui_base: str
) -> AsyncIterator[httpx.AsyncClient]:
    local = settings.model_copy(update={"temporal_ui_url": ui_base})
    application = create_app(local, db=db, temporal=temporal_env.client)  # type: ignore[attr-defined]
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def _events(db: Database, actor: str, action: str) -> list[AuditEvent]:
    async with db.session() as session:
        rows = await session.exec(
            select(AuditEvent).where(AuditEvent.actor == actor, AuditEvent.action == action)
        )
        return list(rows.all())


def test_write_actions_are_named_whatever_the_method() -> None:
    api = "/temporal/api/v1/namespaces/default"
    assert write_action("POST", f"{api}/workflows/w-1/terminate") == "terminate"
    assert write_action("GET", f"{api}/workflows/w-1/terminate") == "terminate"
    assert write_action("POST", f"{api}/workflows/w-1/signal/decide") == "signal"
    assert write_action("POST", f"{api}/workflows/w-1/update/decide") == "update"
    assert write_action("POST", f"{api}/workflows/w-1/reset") == "reset"
    assert write_action("POST", f"{api}/workflows/w-1/cancel") == "cancel"
    assert write_action("POST", f"{api}/workflows/w-1/query/__stack_trace") == "query"
    assert write_action("POST", f"{api}/workflows/w-1") == "start"
    assert write_action("POST", f"{api}/batch-operations/job-1") == "batch-operation"
    assert write_action("POST", f"{api}/schedules/s-1") == "schedule-change"
    assert write_action("POST", f"{api}/schedules/s-1/patch") == "patch"
    assert write_action("DELETE", f"{api}/schedules/s-1") == "delete"
    assert write_action("PUT", f"{api}/anything") == "put-request"
    assert write_action("GET", f"{api}/workflows/w-1/history") is None
    assert write_action("GET", f"{api}/batch-operations") is None
    assert write_action("GET", "/temporal/namespaces/default/workflows/w-1/r-1/history") is None


async def test_an_engineer_gets_the_real_ui_with_its_own_csp_and_no_cookie_at_root(
    web: httpx.AsyncClient, db: Database
) -> None:
    engineer = await new_staff(db, "engineer", prefix="eng")
    await web_login(web, engineer.username)
    page = await web.get("/temporal/")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert 'base: "/temporal"' in page.text  # SvelteKit, built for our path
    csp = page.headers["content-security-policy"]
    inline = re.search(r"<script>(.*?)</script>", page.text, re.DOTALL)
    assert inline
    digest = base64.b64encode(hashlib.sha256(inline.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp  # its boot script, by hash, not 'unsafe-inline'
    assert "script-src 'self' 'sha256-" in csp and "'unsafe-eval'" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    # The UI's own CSRF cookie stays under /temporal.
    cookies = page.headers.get_list("set-cookie")
    assert cookies and all("Path=/temporal" in c and "Path=/;" not in c for c in cookies)
    # Its API and its assets pass with their own content types.
    namespace = await web.get("/temporal/api/v1/namespaces/default")
    assert namespace.status_code == 200, namespace.text
    assert namespace.headers["content-type"].startswith("application/json")
    assert namespace.json()["namespaceInfo"]["name"] == "default"
    script = re.search(r'import\("(/temporal/_app/[^"]+\.js)"\)', page.text)
    assert script
    asset = await web.get(script.group(1))
    assert asset.status_code == 200
    assert "javascript" in asset.headers["content-type"]
    assert asset.headers["cache-control"] == "private, max-age=604800, immutable"
    assert namespace.headers["cache-control"] == "no-store"  # answers are not kept
    # Everywhere else, our strict policy.
    inbox = await web.get("/inbox")
    assert inbox.headers["content-security-policy"] == CSP


async def test_the_ui_is_told_to_decode_with_our_codec_and_to_offer_no_writes(
    web: httpx.AsyncClient, db: Database
) -> None:
    auditor = await new_staff(db, "auditor", prefix="aud")
    await web_login(web, auditor.username)
    settings = await web.get("/temporal/api/v1/settings")
    assert settings.status_code == 200, settings.text
    assert settings.json()["Codec"]["Endpoint"] == "/codec"  # same origin, our session
    # ...and offers no write button: the proxy would refuse it anyway.
    assert settings.json()["DisableWriteActions"] is True
    assert settings.json()["WorkflowTerminateDisabled"] is True
    assert settings.headers["content-type"].startswith("application/json")


async def test_terminate_through_the_proxy_is_refused_and_audited_naming_the_action(
    web: httpx.AsyncClient, db: Database
) -> None:
    engineer = await new_staff(db, "engineer", prefix="eng")
    await web_login(web, engineer.username)
    await web.get("/temporal/")  # the UI's CSRF cookie, as its page would hold it
    ui_token = web.cookies.get("_csrf", path="/temporal")
    assert ui_token
    path = "/temporal/api/v1/namespaces/default/workflows/change-123/terminate"
    refused = await web.post(path, json={"reason": "side door"}, headers={"X-CSRF-TOKEN": ui_token})
    assert refused.status_code == 403
    assert refused.json()["error"] == "read_only"
    assert "terminate" in refused.json()["message"]
    [event] = await _events(db, engineer.username, "temporal_ui.terminate")
    assert event.outcome == "denied"
    assert event.workflow_id == "change-123"
    assert event.details == {"method": "POST", "path": path, "action": "terminate"}
    assert event.request_id == refused.headers["x-request-id"]
    # One event per request: not a second one for the same refusal.
    async with db.session() as session:
        rows = await session.exec(
            select(AuditEvent).where(AuditEvent.request_id == event.request_id)
        )
        assert len(rows.all()) == 1
    # A write path is refused whatever the method; a signal from a GET is still a signal.
    signal = await web.get("/temporal/api/v1/namespaces/default/workflows/change-123/signal/x")
    assert signal.status_code == 403
    assert await _events(db, engineer.username, "temporal_ui.signal")
    # Even an address PostgreSQL could not store (a NUL) is refused and audited, not a 500.
    nul = await web.post("/temporal/api/v1/namespaces/default/workflows/w%00/cancel")
    assert nul.status_code == 403


async def test_other_roles_get_403_audited_and_no_session_is_sent_to_sign_in(
    web: httpx.AsyncClient, db: Database
) -> None:
    page = await web.get("/temporal/namespaces/default/workflows?query=x")
    assert page.status_code == 303
    assert page.headers["location"] == (
        "/login?next=/temporal/namespaces/default/workflows%3Fquery%3Dx"
    )
    api = await web.get("/temporal/api/v1/settings")
    assert api.status_code == 401
    anonymous_write = await web.post("/temporal/api/v1/namespaces/default/workflows/w/reset")
    assert anonymous_write.status_code == 403
    assert await _events(db, "anonymous", "temporal_ui.reset")

    support = await new_staff(db, "support", prefix="sup")
    await web_login(web, support.username)
    refused = await web.get("/temporal/")
    assert refused.status_code == 403
    assert "do not allow you" in refused.text
    [event] = await _events(db, support.username, "temporal_ui.read")
    assert event.outcome == "denied"
    inbox = await web.get("/inbox")
    assert "Temporal UI" not in inbox.text  # no link to what they cannot open


def test_the_dev_server_ui_listens_on_loopback_under_temporal_with_our_codec(
    tmp_path: Path,
) -> None:
    command = embedded.temporal_dev_server_command(port=7233, ui_port=8233, db_file=None)
    flags = dict(zip(command, [*command[1:], ""], strict=True))
    assert flags["--ui-ip"] == "127.0.0.1"
    assert flags["--ui-public-path"] == "/temporal"
    assert flags["--ui-codec-endpoint"] == "/codec"
    assert "--ui-disable-news-fetch" in command


def test_our_session_and_csrf_token_never_reach_the_ui() -> None:
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/temporal/api/v1/settings",
            "headers": [
                (b"cookie", b"bo_session=ours; _csrf=theirs; bo_prelogin=x"),
                (b"x-csrf-token", b"our-token"),
                (b"authorization", b"Bearer ours"),
                (b"connection", b"keep-alive"),
                (b"x-forwarded-for", b"10.0.0.1"),
                (b"accept", b"application/json"),
            ],
        }
    )
    assert _upstream_headers(request) == {"accept": "application/json", "cookie": "_csrf=theirs"}
    # The UI's own token (its cookie's value, sent by its page) passes.
    request = Request(
        {
            **request.scope,
            "headers": [
                (b"cookie", b"bo_session=ours; _csrf=theirs"),
                (b"x-csrf-token", b"theirs"),
            ],
        }
    )
    assert _upstream_headers(request) == {"cookie": "_csrf=theirs", "x-csrf-token": "theirs"}
