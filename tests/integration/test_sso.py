"""Single sign-on through a real OpenID Provider (the `oidc-provider` npm package run with
node, tests/oidc/provider.mjs): authorization code + PKCE, IdP groups mapped to roles by the
`sso_groups` document approved through maker-checker, refusals audited. No mocked tokens."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from app import create_app
from core.db import Database
from core.settings import Settings
from identity.sso_accounts import NO_PASSWORD
from models.audit import AuditEvent
from models.sso import SsoLogin, StaffSsoLink
from models.staff import RoleAssignment, StaffUser
from tests.helpers import (
    api_headers,
    new_staff,
)
from tests.oidc.idp import MAPPING, Idp, approve_mapping, person, running_idp, sign_in_at_idp

CALLBACK = "http://testserver/auth/oidc/callback"


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    with running_idp(tmp_path_factory.mktemp("idp"), [CALLBACK], {}) as provider:
        yield provider


async def _serve(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 4444))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
            yield web


@pytest.fixture(scope="module")
def sso_settings(settings: Settings, idp: Idp) -> Settings:
    return settings.model_copy(update=idp.settings())


@pytest.fixture
async def web(
    sso_settings: Settings, db: Database, temporal_env: WorkflowEnvironment, worker: None
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of the app configured for single sign-on (cookies kept)."""
    app = create_app(sso_settings, db=db, temporal=temporal_env.client)
    async for client in _serve(app):
        yield client


@pytest.fixture(scope="module")
async def mapping_change(app: object, db: Database) -> uuid.UUID:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await approve_mapping(http, db, MAPPING)


async def sso_sign_in(
    web: httpx.AsyncClient, login: str, next_url: str = "/inbox"
) -> httpx.Response:
    """Start at our app, sign in at the IdP as `login`, and bring the IdP's answer back."""
    start = await web.get("/auth/oidc/start", params={"next": next_url})
    assert start.status_code == 303, start.text
    callback = await asyncio.to_thread(sign_in_at_idp, start.headers["location"], login)
    assert callback.startswith(CALLBACK), callback
    parts = urlsplit(callback)
    return await web.get(f"{parts.path}?{parts.query}")


async def user_named(db: Database, username: str) -> StaffUser | None:
    async with db.session() as session:
        return (await session.exec(select(StaffUser).where(StaffUser.username == username))).first()


async def grants_of(db: Database, user_id: uuid.UUID) -> list[RoleAssignment]:
    async with db.session() as session:
        rows = await session.exec(
            select(RoleAssignment)
            .where(RoleAssignment.user_id == user_id)
            .order_by(col(RoleAssignment.granted_at))
        )
        return list(rows.all())


async def sso_events(db: Database, outcome: str, actor_name: str) -> list[AuditEvent]:
    async with db.session() as session:
        rows = await session.exec(
            select(AuditEvent).where(
                AuditEvent.action == "auth.sso",
                AuditEvent.outcome == outcome,
                AuditEvent.actor == actor_name,
            )
        )
        return list(rows.all())


def login_name(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}"


async def test_a_mapped_group_signs_in_with_its_role_on_a_new_linked_staff_record(
    web: httpx.AsyncClient, db: Database, idp: Idp, mapping_change: uuid.UUID
) -> None:
    login = login_name("olivia")
    idp.set_accounts({login: person(login, "bank-ops", "unrelated")})

    answer = await sso_sign_in(web, login, next_url="/inbox")
    assert answer.status_code == 303, answer.text
    # ops_manager needs a second factor (the access policy) and she has none yet: signed in,
    # she is sent to set one up before anything else, as after a password sign-in.
    assert answer.headers["location"] == "/mfa/enrol"
    enrol = await web.get("/mfa/enrol")
    assert enrol.status_code == 200 and person(login)["name"] in enrol.text

    user = await user_named(db, login)
    assert user is not None and user.email == f"{login}@bank.example"
    assert user.password_hash == NO_PASSWORD  # no password sign-in for this record
    grants = await grants_of(db, user.id)
    assert [(g.role, g.source, g.change_id, g.ended_at) for g in grants] == [
        ("ops_manager", "sso", mapping_change, None)
    ]
    async with db.session() as session:
        link = await session.get(StaffSsoLink, user.id)
    assert link is not None and link.issuer == idp.issuer and link.subject == login
    assert link.last_groups == ["bank-ops", "unrelated"]
    [event] = await sso_events(db, "success", login)
    assert event.details["roles"] == ["ops_manager"]

    # The password door stays shut for a record single sign-on made.
    token = await web.post("/api/v1/auth/token", json={"username": login, "password": "x" * 12})
    assert token.status_code == 401


async def test_a_group_with_no_mapping_is_refused_audited_and_gets_no_staff_record(
    web: httpx.AsyncClient, db: Database, idp: Idp, mapping_change: uuid.UUID
) -> None:
    login = login_name("una")
    idp.set_accounts({login: person(login, "contractors")})

    answer = await sso_sign_in(web, login)

    assert answer.status_code == 403
    assert "Single sign-on refused" in answer.text
    assert "contractors" in answer.text and "gives a role here" in answer.text
    assert await user_named(db, login) is None
    [denied] = await sso_events(db, "denied", f"sso:{login}")
    assert "contractors" in (denied.reason or "")
    assert (await web.get("/inbox")).status_code in (303, 401)


async def test_roles_follow_the_groups_at_every_sign_in(
    web: httpx.AsyncClient, db: Database, idp: Idp, mapping_change: uuid.UUID
) -> None:
    login = login_name("mira")
    idp.set_accounts({login: person(login, "bank-ops", "bank-aml")})
    assert (await sso_sign_in(web, login)).status_code == 303
    user = await user_named(db, login)
    assert user is not None
    active = {g.role for g in await grants_of(db, user.id) if g.ended_at is None}
    assert active == {"ops_manager", "aml_analyst"}

    # She leaves the AML team at the IdP: that role ends at her next sign-in (kept, ended).
    idp.set_accounts({login: person(login, "bank-ops")})
    assert (await sso_sign_in(web, login)).status_code == 303
    grants = await grants_of(db, user.id)
    ended = [g for g in grants if g.ended_at is not None]
    assert [g.role for g in ended] == ["aml_analyst"]
    assert "no longer give" in (ended[0].ended_reason or "")
    assert {g.role for g in grants if g.ended_at is None} == {"ops_manager"}

    # No mapped group left: refused, and the last role from single sign-on ends too.
    idp.set_accounts({login: person(login, "alumni")})
    assert (await sso_sign_in(web, login)).status_code == 403
    assert all(g.ended_at is not None for g in await grants_of(db, user.id))
    assert len(await sso_events(db, "denied", login)) == 1


async def test_an_existing_staff_record_is_linked_by_username_and_keeps_its_other_grants(
    web: httpx.AsyncClient, db: Database, idp: Idp, mapping_change: uuid.UUID
) -> None:
    existing = await new_staff(db, "kyc_analyst", prefix="kim")
    idp.set_accounts({existing.username: person(existing.username, "bank-ops")})

    assert (await sso_sign_in(web, existing.username)).status_code == 303

    user = await user_named(db, existing.username)
    assert user is not None and user.id == existing.actor.user_id
    grants = {(g.role, g.source) for g in await grants_of(db, user.id) if g.ended_at is None}
    assert grants == {("kyc_analyst", "provisioned"), ("ops_manager", "sso")}
    async with db.session() as session:
        assert (await session.get(StaffSsoLink, user.id)) is not None


async def test_a_disabled_person_is_refused(
    web: httpx.AsyncClient, db: Database, idp: Idp, mapping_change: uuid.UUID
) -> None:
    login = login_name("dora")
    idp.set_accounts({login: person(login, "bank-ops")})
    assert (await sso_sign_in(web, login)).status_code == 303
    async with db.transaction() as session:
        user = (await session.exec(select(StaffUser).where(StaffUser.username == login))).one()
        user.is_active = False
        session.add(user)

    answer = await sso_sign_in(web, login)
    assert answer.status_code == 403 and "disabled" in answer.text
    [denied] = await sso_events(db, "denied", login)
    assert denied.reason == "the staff account is disabled"


async def test_a_callback_only_completes_once_and_in_the_browser_that_started_it(
    web: httpx.AsyncClient,
    sso_settings: Settings,
    db: Database,
    temporal_env: WorkflowEnvironment,
    idp: Idp,
    mapping_change: uuid.UUID,
) -> None:
    login = login_name("carl")
    idp.set_accounts({login: person(login, "bank-ops")})
    start = await web.get("/auth/oidc/start")
    callback = await asyncio.to_thread(sign_in_at_idp, start.headers["location"], login)
    parts = urlsplit(callback)
    state = parse_qs(parts.query)["state"][0]
    async with db.session() as session:
        pending = (
            await session.exec(select(SsoLogin).where(col(SsoLogin.used_at).is_(None)))
        ).all()
    # Kept server-side: the browser carries only the random state (its hash is stored).
    assert state not in {p.state_hash for p in pending}

    # Someone else's browser (an attacker who forwarded the link) signs nobody in.
    other_app = create_app(sso_settings, db=db, temporal=temporal_env.client)
    async for stranger in _serve(other_app):
        refused = await stranger.get(f"{parts.path}?{parts.query}")
        assert refused.status_code == 403 and "expired or was already used" in refused.text
        assert (await stranger.get("/inbox")).status_code == 303

    first = await web.get(f"{parts.path}?{parts.query}")
    assert first.status_code == 303, first.text
    replay = await web.get(f"{parts.path}?{parts.query}")
    assert replay.status_code == 403


async def test_a_forged_code_is_refused(
    web: httpx.AsyncClient, db: Database, idp: Idp, mapping_change: uuid.UUID
) -> None:
    start = await web.get("/auth/oidc/start")
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    forged = await web.get("/auth/oidc/callback", params={"state": state, "code": "forged"})
    assert forged.status_code == 403
    assert "did not accept the sign-in" in forged.text


async def test_the_authorization_request_uses_pkce_s256_and_a_nonce(
    web: httpx.AsyncClient, idp: Idp
) -> None:
    start = await web.get("/auth/oidc/start")
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert start.headers["location"].startswith(idp.issuer + "/auth?")
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["response_type"] == ["code"] and query["nonce"][0]
    assert query["redirect_uri"] == [CALLBACK]
    assert "bo_sso_state" in start.headers["set-cookie"]


async def test_the_login_page_offers_single_sign_on(web: httpx.AsyncClient) -> None:
    page = await web.get("/login")
    assert "Sign in with Test IdP" in page.text
    assert 'name="password"' in page.text  # local passwords stay on by default


async def test_with_local_passwords_off_the_form_and_the_token_endpoint_refuse(
    sso_settings: Settings,
    db: Database,
    temporal_env: WorkflowEnvironment,
    http: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    someone = await new_staff(db, "support", prefix="pw")
    app = create_app(
        sso_settings.model_copy(update={"local_passwords": False}),
        db=db,
        temporal=temporal_env.client,
    )
    async for web in _serve(app):
        page = await web.get("/login")
        assert "Sign in with Test IdP" in page.text
        assert 'name="password"' not in page.text and "Passwords are switched off" in page.text

        # A password form posted anyway (its CSRF token is the pre-login cookie's) is refused.
        form = await web.post(
            "/login",
            data={
                "username": someone.username,
                "password": "x" * 12,
                "csrf_token": web.cookies["bo_prelogin"],
            },
        )
        assert form.status_code == 403 and "Passwords are switched off" in form.text
        token = await web.post(
            "/api/v1/auth/token", json={"username": someone.username, "password": "x" * 12}
        )
        assert token.status_code == 403 and token.json()["error"] == "local_passwords_off"
    async with db.session() as session:
        refused = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.actor == someone.username,
                    AuditEvent.reason == "local passwords are switched off",
                )
            )
        ).all()
    assert {e.action for e in refused} == {"auth.login", "auth.token"}
    # The same password still works where local passwords are on (the session's app).
    assert (await api_headers(http, someone.username))["Authorization"]


async def _set_email(db: Database, username: str, email: str) -> None:
    async with db.transaction() as session:
        user = (await session.exec(select(StaffUser).where(StaffUser.username == username))).one()
        user.email = email
        session.add(user)


async def test_an_existing_staff_record_is_linked_by_its_verified_email(
    web: httpx.AsyncClient, db: Database, idp: Idp, mapping_change: uuid.UUID
) -> None:
    existing = await new_staff(db, "support", prefix="eve")
    email = f"{existing.username}@bank.example"
    await _set_email(db, existing.username, email)
    login = login_name("eve-at-idp")  # another name at the IdP, the same mailbox
    idp.set_accounts({login: person(login, "bank-aml", email=email)})

    assert (await sso_sign_in(web, login)).status_code == 303

    assert await user_named(db, login) is None  # no second record
    async with db.session() as session:
        link = await session.get(StaffSsoLink, existing.actor.user_id)
    assert link is not None and link.subject == login
    active = {g.role for g in await grants_of(db, existing.actor.user_id) if g.ended_at is None}
    assert active == {"support", "aml_analyst"}


async def test_a_namesake_at_the_idp_does_not_take_over_a_record_with_another_email(
    web: httpx.AsyncClient, db: Database, idp: Idp, mapping_change: uuid.UUID
) -> None:
    existing = await new_staff(db, "kyc_analyst", prefix="alex")
    await _set_email(db, existing.username, f"{existing.username}@bank.example")
    idp.set_accounts(
        {existing.username: person(existing.username, "bank-ops", email="alex@elsewhere.example")}
    )

    answer = await sso_sign_in(web, existing.username)

    assert answer.status_code == 403 and "another e-mail address" in answer.text
    async with db.session() as session:
        assert (await session.get(StaffSsoLink, existing.actor.user_id)) is None
    roles = {g.role for g in await grants_of(db, existing.actor.user_id) if g.ended_at is None}
    assert roles == {"kyc_analyst"}
    assert len(await sso_events(db, "denied", f"sso:{existing.username}")) == 1


async def test_groups_given_only_at_the_userinfo_endpoint_count_too(
    sso_settings: Settings,
    db: Database,
    temporal_env: WorkflowEnvironment,
    mapping_change: uuid.UUID,
    tmp_path: Path,
) -> None:
    login = login_name("uli")
    accounts = {login: person(login, "bank-aml")}
    with running_idp(tmp_path, [CALLBACK], accounts, claims_at_userinfo=True) as strict:
        app = create_app(
            sso_settings.model_copy(update=strict.settings()), db=db, temporal=temporal_env.client
        )
        async for web in _serve(app):
            answer = await sso_sign_in(web, login)
            assert answer.status_code == 303, answer.text
    user = await user_named(db, login)
    assert user is not None and user.email == f"{login}@bank.example"
    assert user.display_name == person(login)["name"]
    assert [(g.role, g.source) for g in await grants_of(db, user.id)] == [("aml_analyst", "sso")]


async def test_an_identity_provider_gone_mid_sign_in_gets_a_clear_answer_and_an_audit_event(
    sso_settings: Settings,
    db: Database,
    temporal_env: WorkflowEnvironment,
    mapping_change: uuid.UUID,
    tmp_path: Path,
) -> None:
    login = login_name("gina")
    with running_idp(tmp_path, [CALLBACK], {login: person(login, "bank-ops")}) as brief:
        app = create_app(
            sso_settings.model_copy(update=brief.settings()), db=db, temporal=temporal_env.client
        )
        async for web in _serve(app):
            start = await web.get("/auth/oidc/start")
            callback = await asyncio.to_thread(sign_in_at_idp, start.headers["location"], login)
    parts = urlsplit(callback)
    async for web in _serve(app):  # the IdP has stopped; the same browser comes back
        web.cookies.set("bo_sso_state", parse_qs(parts.query)["state"][0], path="/auth/oidc")
        answer = await web.get(f"{parts.path}?{parts.query}")
        assert answer.status_code == 503 and "cannot be reached" in answer.text
        again = await web.get("/auth/oidc/start")
        assert again.status_code == 503 and "cannot be reached" in again.text
    assert await user_named(db, login) is None
    async with db.session() as session:
        events = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.action == "auth.sso",
                    AuditEvent.outcome == "denied",
                    col(AuditEvent.reason).contains("cannot be reached"),
                )
            )
        ).all()
    assert events
