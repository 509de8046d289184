"""Single sign-on in a real browser through a real OpenID Provider (the `oidc-provider` npm
package run with node, tests/oidc/provider.mjs): a mapped group signs in as ops_manager; a
group with no mapping gets a clear refusal, recorded in the audit log.

The web app and worker run as real processes configured for the IdP (OIDC_* variables); the
`sso_groups` mapping is approved through maker-checker over the server's own JSON API."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

from core import embedded
from core.db import Database, DatabaseUrls
from core.settings import Settings
from models.audit import AuditEvent
from models.staff import RoleAssignment, StaffUser
from tests.browser.conftest import (
    ACTION_TIMEOUT_MS,
    DataMaker,
    PageProblems,
    log_tail,
    product_env,
    product_processes,
    watched_page,
)
from tests.oidc.idp import MAPPING, Idp, approve_mapping, person, running_idp

pytestmark = pytest.mark.browser

OLIVIA = f"olivia.{uuid.uuid4().hex[:6]}"
UNA = f"una.{uuid.uuid4().hex[:6]}"


@dataclass
class SsoServer:
    url: str
    idp: Idp
    logs: dict[str, Path]

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.logs, lines)


@pytest.fixture(scope="module")
def sso_server(
    chromium_executable: Path,
    db_urls: DatabaseUrls,
    settings: Settings,
    data_maker: DataMaker,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SsoServer]:
    workdir = tmp_path_factory.mktemp("sso-server")
    port = embedded.free_port()
    base = f"http://127.0.0.1:{port}"
    accounts = {OLIVIA: person(OLIVIA, "bank-ops"), UNA: person(UNA, "contractors")}
    with running_idp(workdir, [f"{base}/auth/oidc/callback"], accounts) as idp:
        env = product_env(
            db_urls,
            settings,
            task_queue=f"browser-sso-{uuid.uuid4().hex[:8]}",
            port=port,
            workdir=workdir,
        )
        env.update(idp.env())
        logs = {name: workdir / f"{name}.log" for name in ("worker", "web")}
        with product_processes(env, logs, port) as (url, _):

            async def approve(db: Database) -> uuid.UUID:
                async with httpx.AsyncClient(base_url=url, timeout=60) as http:
                    return await approve_mapping(http, db, MAPPING)

            data_maker._run(approve)
            yield SsoServer(url, idp, logs)


@pytest.fixture
def sso_tab(browser: Browser, sso_server: SsoServer) -> Iterator[tuple[Page, PageProblems]]:
    with watched_page(browser, sso_server.url) as (page, problems):
        yield page, problems
    print(sso_server.log_tail())


def sign_in_with_idp(page: Page, login: str) -> None:
    page.goto("/login")
    page.get_by_role("button", name="Sign in with Test IdP").click()
    # The IdP's own sign-in page (its development interaction: any password).
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("whatever-the-idp-checks")
    page.get_by_role("button", name="Sign-in").click()


def ours(problems: PageProblems, server: SsoServer) -> list[str]:
    """Console errors of our pages (the IdP's page asks for web fonts and a favicon that
    cannot be had here; not ours to judge)."""
    return [e for e in problems.console_errors if f"(at {server.url}" in e or "(at " not in e]


def test_a_mapped_group_signs_in_through_the_identity_provider_as_ops_manager(
    sso_tab: tuple[Page, PageProblems], sso_server: SsoServer, data_maker: DataMaker
) -> None:
    page, problems = sso_tab
    sign_in_with_idp(page, OLIVIA)

    # Back with us, signed in as ops_manager (the group's role); the role needs a second
    # factor, so the first stop is setting it up.
    expect(page).to_have_url(re.compile(r"/mfa/enrol$"))
    # (Scoped to the page's own header: while she must enrol, the notifications badge in the
    # header fetches a copy of the enrolment page; part D's to fix.)
    who = page.locator("body > header.topbar .who")
    expect(who).to_contain_text(person(OLIVIA)["name"])
    expect(who.locator(".roles")).to_have_text("ops_manager")
    expect(page.locator("body > main #mfa-secret")).to_be_visible()
    # Nothing else opens before the second factor is set up (its own tests: part D).
    page.goto("/inbox")
    expect(page).to_have_url(re.compile(r"/mfa/enrol$"))

    async def grants(db: Database) -> list[tuple[str, str]]:
        async with db.session() as session:
            user = (await session.exec(select(StaffUser).where(StaffUser.username == OLIVIA))).one()
            rows = await session.exec(
                select(RoleAssignment).where(RoleAssignment.user_id == user.id)
            )
            return [(g.role, g.source) for g in rows.all()]

    assert data_maker._run(grants) == [("ops_manager", "sso")]
    assert not ours(problems, sso_server), problems.console_errors
    assert not problems.page_errors and not problems.server_errors
    assert not problems.csp_violations


def test_a_group_with_no_mapping_is_refused_clearly_and_audited(
    sso_tab: tuple[Page, PageProblems], sso_server: SsoServer, data_maker: DataMaker
) -> None:
    page, problems = sso_tab
    sign_in_with_idp(page, UNA)

    refusal = page.locator("#sso-refused")
    expect(refusal).to_be_visible(timeout=ACTION_TIMEOUT_MS)
    expect(refusal.get_by_role("heading")).to_have_text("Single sign-on refused")
    expect(refusal).to_contain_text("contractors")
    expect(refusal).to_contain_text("gives a role here")
    expect(page.locator(".topbar .who")).to_have_count(0)  # nobody is signed in
    refusal.get_by_role("button", name="Back to sign-in").click()
    expect(page.get_by_role("button", name="Sign in with Test IdP")).to_be_visible()

    async def audit_and_staff(db: Database) -> tuple[list[str | None], bool]:
        async with db.session() as session:
            denied = await session.exec(
                select(AuditEvent).where(
                    AuditEvent.action == "auth.sso",
                    AuditEvent.outcome == "denied",
                    AuditEvent.actor == f"sso:{UNA}",
                )
            )
            staff = await session.exec(select(StaffUser).where(StaffUser.username == UNA))
            return [e.reason for e in denied.all()], staff.first() is not None

    reasons, has_record = data_maker._run(audit_and_staff)
    assert len(reasons) == 1 and "contractors" in (reasons[0] or "")
    assert not has_record
    # The refusal page itself is a 403, which Chromium reports on the console; nothing else.
    unexpected = [e for e in ours(problems, sso_server) if "403" not in e]
    assert not unexpected, problems.console_errors
    assert not problems.page_errors and not problems.server_errors
