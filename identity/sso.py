"""Single sign-on with OpenID Connect: authorization code + PKCE (authlib), ID token checked
against the identity provider's keys, IdP groups mapped to roles by the `sso_groups` document.

1. `begin` keeps the sign-in's state, nonce and PKCE verifier server-side (`sso_login`, used
   once, ten minutes) and returns the IdP's authorization URL. The browser also gets the state
   in a short-lived cookie (web/routers/sso.py) so a callback only completes in the browser
   that started it (no login CSRF).
2. `complete` takes the IdP's answer: consumes the sign-in, exchanges the code (with the
   verifier), validates the ID token (signature against the IdP's JWKS, issuer, audience,
   expiry, nonce, at_hash), then links or creates the staff record and brings its roles from
   single sign-on in line with the person's groups, all in one transaction, audited.

Who the person is here and which roles they get: identity/sso_accounts.py.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx2
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from audit import trail as audit
from audit.trail import ActorRef
from core.db import Database, run_sql
from core.settings import Settings
from identity import mfa
from identity.auth import SessionInfo, open_session
from identity.sso_accounts import ACTION, Identity, SsoRefused, deny, provision
from models.base import utcnow
from models.sso import SsoLogin
from models.workflow_io import Origin
from shared.errors import DomainError, Forbidden, Unavailable

log = logging.getLogger(__name__)

SIGN_IN_MINUTES = 10
HTTP_TIMEOUT_SECONDS = 10
CLOCK_LEEWAY_SECONDS = 60


@dataclass
class SignedIn:
    token: str
    info: SessionInfo
    next_url: str


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _client(settings: Settings, redirect_uri: str, **kwargs: Any) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        token_endpoint_auth_method="client_secret_basic",  # noqa: S106 (a method name)
        scope=settings.oidc_scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=HTTP_TIMEOUT_SECONDS,
        **kwargs,
    )


async def _metadata(client: AsyncOAuth2Client, settings: Settings) -> dict[str, Any]:
    """The IdP's discovery document; its issuer must be exactly the configured one."""
    url = settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = await client.request("GET", url, withhold_token=True)
        response.raise_for_status()
        metadata: dict[str, Any] = response.json()
    except Exception as exc:  # any transport or HTTP failure: the IdP cannot be reached
        log.warning("OpenID Connect discovery failed at %s", url, exc_info=True)
        raise Unavailable(
            f"The identity provider ({settings.oidc_display_name}) cannot be reached right now; "
            "try again in a moment.",
            code="sso_unavailable",
        ) from exc
    if metadata.get("issuer") != settings.oidc_issuer:
        raise Unavailable(
            "The identity provider's discovery document names another issuer; single sign-on "
            "is misconfigured (OIDC_ISSUER).",
            code="sso_misconfigured",
        )
    return metadata


async def begin(
    db: Database, settings: Settings, *, redirect_uri: str, next_url: str
) -> tuple[str, str]:
    """Start a sign-in: returns (the IdP's authorization URL, the state for the browser)."""
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters: RFC 7636 allows 43 to 128
    async with _client(settings, redirect_uri) as client:
        metadata = await _metadata(client, settings)
        url, _ = client.create_authorization_url(
            metadata["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce
        )
    now = utcnow()
    async with db.transaction() as session:
        await run_sql(session, "DELETE FROM sso_login WHERE expires_at < :now", {"now": now})
        session.add(
            SsoLogin(
                state_hash=digest(state),
                nonce=nonce,
                code_verifier=verifier,
                next_url=next_url[:500],
                created_at=now,
                expires_at=now + timedelta(minutes=SIGN_IN_MINUTES),
            )
        )
    return url, state


async def _consume(db: Database, state: str) -> SsoLogin | None:
    """The sign-in this state belongs to, marked used (a replayed or stale state gets None)."""
    async with db.transaction() as session:
        row = (
            await run_sql(
                session,
                "UPDATE sso_login SET used_at = :now WHERE state_hash = :h AND used_at IS NULL "
                "AND expires_at > :now RETURNING id, nonce, code_verifier, next_url",
                {"now": utcnow(), "h": digest(state)},
            )
        ).first()
    if row is None:
        return None
    return SsoLogin(id=row[0], state_hash="", nonce=row[1], code_verifier=row[2], next_url=row[3])


def _groups(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(g for g in re.split(r"[\s,]+", value) if g)
    if isinstance(value, list):
        return tuple(str(g) for g in value if isinstance(g, str | int) and str(g))
    return ()


async def _identity(
    client: AsyncOAuth2Client,
    settings: Settings,
    metadata: dict[str, Any],
    token: dict[str, Any],
    nonce: str,
) -> Identity:
    """The ID token, validated: signed by a key of the IdP's JWKS with an algorithm it
    announces, issued by it to us, not expired, with our nonce and a matching at_hash."""
    id_token = token.get("id_token")
    if not id_token:
        raise SsoRefused("The identity provider sent no ID token.", code="sso_bad_token")
    response = await client.request("GET", metadata["jwks_uri"], withhold_token=True)
    response.raise_for_status()
    keys = KeySet.import_key_set(response.json())
    algorithms = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    # Only signatures by the IdP's published keys: never "none", never HMAC (whose key would
    # be our own client secret, not something the IdP's JWKS vouches for).
    algorithms = [a for a in algorithms if a != "none" and not a.startswith("HS")] or ["RS256"]
    try:
        decoded = jwt.decode(id_token, keys, registry=JWSRegistry(algorithms=algorithms))
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            {"iss": {"essential": True, "values": [settings.oidc_issuer]}},
            {
                "nonce": nonce,
                "client_id": settings.oidc_client_id,
                "access_token": token.get("access_token"),
            },
        )
        claims.validate(leeway=CLOCK_LEEWAY_SECONDS)
    except (JoseError, AuthlibBaseError, ValueError) as exc:
        raise SsoRefused(
            f"The identity provider's ID token was not valid ({exc}).", code="sso_bad_token"
        ) from exc
    values = dict(claims)
    group_claim = settings.oidc_groups_claim
    if (
        group_claim not in values
        and metadata.get("userinfo_endpoint")
        and token.get("access_token")
    ):
        # Many IdPs put the scopes' claims (groups, e-mail, name) only at the userinfo
        # endpoint; what it says counts only for the same subject (OIDC Core 5.3.2).
        info = await client.request(
            "GET",
            metadata["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {token['access_token']}"},
            withhold_token=True,
        )
        extra = info.json() if info.status_code == 200 else {}
        if isinstance(extra, dict) and extra.get("sub") == values["sub"]:
            for key in (group_claim, "email", "email_verified", "name", "preferred_username"):
                if key in extra:
                    values.setdefault(key, extra[key])
    email = values.get("email")
    return Identity(
        issuer=settings.oidc_issuer,
        subject=str(values["sub"]),
        email=email.strip().lower() if isinstance(email, str) and email.strip() else None,
        email_verified=values.get("email_verified") is not False,
        name=values.get("name") if isinstance(values.get("name"), str) else None,
        username=values.get("preferred_username")
        if isinstance(values.get("preferred_username"), str)
        else None,
        groups=_groups(values.get(group_claim)),
    )


async def complete(
    db: Database,
    settings: Settings,
    *,
    state: str,
    code: str | None,
    error: str | None,
    redirect_uri: str,
    origin: Origin,
    user_agent: str | None = None,
) -> SignedIn:
    """Finish a sign-in from the IdP's redirect: a new web session, or SsoRefused /
    Unavailable with the reason (every refusal is audited as denied)."""
    pending = await _consume(db, state) if state else None
    if pending is None:
        await deny(db, None, origin, "unknown, used or expired sign-in state")
        raise SsoRefused(
            "This sign-in link has expired or was already used. Start again from the sign-in page.",
            code="sso_state",
        )
    if error or not code:
        reason = f"the identity provider answered: {error or 'no code'}"
        await deny(db, None, origin, reason[:300])
        raise SsoRefused(f"Single sign-on did not complete ({reason}).", code="sso_error")
    async with _client(settings, redirect_uri) as client:
        try:
            metadata = await _metadata(client, settings)
            token = await client.fetch_token(
                metadata["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=pending.code_verifier,
                redirect_uri=redirect_uri,
            )
            person = await _identity(client, settings, metadata, dict(token), pending.nonce)
        except DomainError as exc:
            await deny(db, None, origin, exc.message)
            raise
        except httpx2.HTTPError as exc:  # the IdP's token or keys endpoint failed
            log.warning("OpenID Connect code exchange failed", exc_info=True)
            await deny(db, None, origin, f"identity provider unreachable: {exc}"[:300])
            raise Unavailable(
                f"The identity provider ({settings.oidc_display_name}) cannot be reached "
                "right now; try again in a moment.",
                code="sso_unavailable",
            ) from exc
        except (AuthlibBaseError, OSError, ValueError) as exc:
            await deny(db, None, origin, f"code exchange failed: {exc}"[:300])
            raise SsoRefused(
                "The identity provider did not accept the sign-in; start again.",
                code="sso_exchange",
            ) from exc
    user, roles = await provision(db, person, origin)
    async with db.session() as session:
        enrolled = await mfa.factor_of(session, user.id) is not None
    # Our own second-factor rules hold whatever the IdP checked: someone enrolled enters
    # the code next (the session is not usable before); someone who must enrol, enrols.
    token_value, info = await open_session(
        db,
        settings,
        user,
        kind="web",
        origin=origin,
        user_agent=user_agent,
        action=ACTION,
        details={"issuer": person.issuer, "groups": list(person.groups), "roles": roles},
        second_factor="pending" if enrolled else "none",
    )
    return SignedIn(token_value, info, pending.next_url)


async def refuse_password(
    db: Database, settings: Settings, *, username: str, origin: Origin
) -> None:
    """LOCAL_PASSWORDS=false: a password sign-in (form or token endpoint) is refused, audited."""
    async with db.transaction() as session:
        await audit.record(
            session,
            action="auth.login" if origin.channel != "api" else "auth.token",
            actor=ActorRef(None, (username.strip().lower() or "anonymous")[:100]),
            outcome=audit.DENIED,
            reason="local passwords are switched off",
            origin=origin,
        )
    raise Forbidden(
        "Passwords are switched off here: sign in with "
        f"{settings.oidc_display_name} (single sign-on).",
        code="local_passwords_off",
    )
