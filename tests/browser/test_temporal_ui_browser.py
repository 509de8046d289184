"""The real Temporal UI in Chromium through /temporal/ (issue 13, done-when 2).

A dev server of this module's own runs with its UI as `backoffice run` starts it (loopback,
under /temporal, our /codec as its codec endpoint), with real `backoffice web` and
`backoffice worker` processes. An engineer reads a change's history with the checker's
comment decoded by our codec endpoint; the same history fetched from the Temporal port
holds no comment; terminate through the proxy is a 403 with an audit event; support gets a
403; no session is sent to sign-in.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from core import embedded
from core.db import DatabaseUrls
from tests.browser.conftest import (
    DataMaker,
    PageProblems,
    product_processes,
    signed_api,
    watched_page,
)
from tests.browser.test_maker_checker_browser import second_factor
from tests.codec_keys import readable_without_key
from tests.helpers import EVENTUALLY, PASSWORD, environment_without_services

pytestmark = pytest.mark.browser


@dataclass
class UiStack:
    url: str  # our web app
    temporal: str  # the dev server's frontend (gRPC), host:port
    ui: str  # the dev server's UI, loopback
    logs: dict[str, Path]

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(
            f"--- {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            for name, path in self.logs.items()
        )


@pytest.fixture(scope="module")
def ui_stack(
    chromium_executable: Path, db_urls: DatabaseUrls, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UiStack]:
    workdir = tmp_path_factory.mktemp("temporal-ui-browser")
    temporal_port, ui_port, web_port = (embedded.free_port() for _ in range(3))
    logs = {name: workdir / f"{name}.log" for name in ("temporal", "worker", "web")}
    dev = embedded.start_temporal(
        port=temporal_port, ui_port=ui_port, db_file=None, log_file=logs["temporal"]
    )
    env = environment_without_services()
    env.update(
        DATABASE_URL=db_urls.app,
        DATABASE_ADMIN_URL=db_urls.admin,
        TEMPORAL_ADDRESS=f"127.0.0.1:{temporal_port}",
        TEMPORAL_UI_URL=f"http://127.0.0.1:{ui_port}",
        TASK_QUEUE=f"browser-ui-{uuid.uuid4().hex[:8]}",
        ENVIRONMENT="test",
        WEB_PORT=str(web_port),
        DATA_DIR=str(workdir / "data"),
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    try:
        with product_processes(env, logs, web_port) as (url, _):
            yield UiStack(url, f"127.0.0.1:{temporal_port}", f"http://127.0.0.1:{ui_port}", logs)
    finally:
        embedded.stop_process(dev)


@pytest.fixture
def watched(browser: Browser, ui_stack: UiStack) -> Iterator[tuple[Page, PageProblems]]:
    with watched_page(browser, ui_stack.url) as (page, problems):
        yield page, problems
    print(ui_stack.log_tail())  # shown only when the test failed


# ----------------------------------------------------------------------------- helpers
def sign_in(page: Page, username: str, *, then: str = "/inbox") -> None:
    page.goto(f"/login?next={then}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    second_factor(page, username)
    expect(page).to_have_url(re.compile(re.escape(then) + "$"))


def wait_for(probe: Any, *, what: str, within: float = EVENTUALLY) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def propose_fee_change(api: httpx.Client, fee_id: uuid.UUID, amount: str) -> dict[str, Any]:
    response = api.post(
        "/api/v1/changes",
        json={
            "target_type": "fee",
            "target_id": str(fee_id),
            "changes": {"fixed_amount": amount},
            "reason": "The card scheme raised its interchange fee this quarter.",
            "effective_at": None,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def approve_with_comment(api: httpx.Client, workflow_id: str, comment: str) -> None:
    def task_id() -> str | None:
        listed = api.get("/api/v1/tasks?scope=available&per_page=100").json()
        return next((t["id"] for t in listed["items"] if t.get("workflow_id") == workflow_id), None)

    task = wait_for(task_id, what=f"the approval task of {workflow_id}")
    claimed = api.post(f"/api/v1/tasks/{task}/claim")
    assert claimed.status_code == 200, claimed.text
    decided = api.post(
        f"/api/v1/tasks/{task}/decision", json={"outcome": "approve", "comment": comment}
    )
    assert decided.status_code == 200, decided.text


def raw_history(stack: UiStack, workflow_id: str) -> str:
    """The history as anyone on the host reads it from the Temporal port: the real CLI,
    no codec."""
    shown = subprocess.run(
        [
            str(embedded.venv_binary("temporal")),
            "workflow",
            "show",
            "--address",
            stack.temporal,
            "--workflow-id",
            workflow_id,
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,  # a kill-after for a hung CLI, not a check
        check=True,
    )
    return shown.stdout


def workflow_status(stack: UiStack, workflow_id: str) -> str:
    described = subprocess.run(
        [
            str(embedded.venv_binary("temporal")),
            "workflow",
            "describe",
            "--address",
            stack.temporal,
            "--workflow-id",
            workflow_id,
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,  # a kill-after for a hung CLI, not a check
        check=True,
    )
    info = json.loads(described.stdout)["workflowExecutionInfo"]
    return str(info["status"])


# ----------------------------------------------------------------------------- the test
def test_engineer_reads_decoded_history_through_the_proxy_and_cannot_terminate(
    watched: tuple[Page, PageProblems], ui_stack: UiStack, data_maker: DataMaker
) -> None:
    page, problems = watched
    plan = data_maker.plan(fixed="2.00", percent="0.5")
    maker = data_maker.staff("product_manager", prefix="pm")
    checker = data_maker.staff("ops_manager", prefix="checker")
    engineer = data_maker.staff("engineer", prefix="eng")
    auditor = data_maker.staff("auditor", prefix="aud")
    comment = f"Matches the scheme bulletin, ref quokka-{uuid.uuid4().hex[:8]}"

    with signed_api(ui_stack.url, maker) as as_maker, signed_api(ui_stack.url, checker) as ok:
        approved = propose_fee_change(as_maker, plan.fee_id, "2.35")
        approve_with_comment(ok, approved["workflow_id"], comment)
        wait_for(
            lambda: as_maker.get(f"/api/v1/changes/{approved['id']}").json()["status"] == "applied",
            what="the approved change to be applied",
        )
        pending = propose_fee_change(as_maker, plan.fee_id, "2.40")

    # The raw history, as read from the Temporal port without the key: no comment.
    clear, unsealed = readable_without_key(raw_history(ui_stack, approved["workflow_id"]))
    assert "quokka" not in clear
    assert unsealed == []

    # --- no session: sent to sign-in, then back to the UI --------------------------------
    workflow_url = f"/temporal/namespaces/default/workflows/{approved['workflow_id']}"
    page.goto(workflow_url)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Username").fill(engineer)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    second_factor(page, engineer)
    expect(page).to_have_url(re.compile(re.escape(workflow_url)))

    # --- the engineer reads the history, the comment decoded by our codec endpoint -------
    expect(page.get_by_text(approved["workflow_id"]).first).to_be_visible()
    page.get_by_text("Event History").first.click()
    # The checker's decision, an Update: its input decoded in the page by /codec/decode.
    accepted = page.get_by_role("row").filter(has_text="Workflow Execution Update Accepted")
    accepted.get_by_role("button").first.click()
    expect(page.get_by_text(comment).first).to_be_visible()
    # What the proxy itself carried was still sealed: the page decoded it through /codec.
    history = page.request.get(
        f"/temporal/api/v1/namespaces/default/workflows/{approved['workflow_id']}/history"
    )
    assert history.status == 200
    assert "quokka" not in readable_without_key(history.text())[0]
    problems.assert_clean()  # the UI under its own CSP: no violation, no error

    # --- terminate through the proxy, from the UI's own page: 403, audited ---------------
    status = page.evaluate(
        """async (id) => {
            const token = (document.cookie.match(/(?:^|; )_csrf=([^;]*)/) || [])[1] || "";
            const response = await fetch(
                `/temporal/api/v1/namespaces/default/workflows/${id}/terminate`,
                {method: "POST", headers: {"Content-Type": "application/json",
                 "X-CSRF-TOKEN": token}, body: JSON.stringify({reason: "side door"})});
            return [response.status, await response.json()];
        }""",
        pending["workflow_id"],
    )
    assert status[0] == 403, status
    assert status[1]["error"] == "read_only"
    assert workflow_status(ui_stack, pending["workflow_id"]) == "WORKFLOW_EXECUTION_STATUS_RUNNING"
    with signed_api(ui_stack.url, auditor) as as_auditor:
        events = as_auditor.get(
            "/api/v1/audit/events", params={"actor": engineer, "action": "temporal_ui.terminate"}
        ).json()["items"]
    assert len(events) == 1, events
    assert events[0]["outcome"] == "denied"
    assert events[0]["workflow_id"] == pending["workflow_id"]
    # Nothing went wrong in the browser but the refusal this test asked for.
    problems.console_errors = [e for e in problems.console_errors if "/terminate" not in e]
    problems.assert_clean()


def test_support_gets_403_and_no_link(
    watched: tuple[Page, PageProblems], ui_stack: UiStack, data_maker: DataMaker
) -> None:
    page, problems = watched
    support = data_maker.staff("support", prefix="sup")
    sign_in(page, support)
    expect(page.get_by_role("link", name="Temporal UI ↗")).to_have_count(0)
    response = page.goto("/temporal/")
    assert response is not None and response.status == 403
    expect(page.get_by_text("do not allow you")).to_be_visible()
    problems.console_errors = [e for e in problems.console_errors if "403" not in e]
    problems.assert_clean()
