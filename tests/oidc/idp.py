"""The real OpenID Provider (tests/oidc/provider.mjs, the `oidc-provider` npm package) run
with node on a free port for the single sign-on tests, and a client that signs a person in
at its development sign-in page without a browser."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from core.db import Database
from identity.policy import SsoGroupMapping
from identity.sso_accounts import SsoMapping, mapping_in_force
from tests.conftest import in_ci
from tests.helpers import api_headers, eventually, new_staff, propose_via_api, task_of

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "tests" / "oidc" / "provider.mjs"
PACKAGE = REPO_ROOT / "node_modules" / "oidc-provider"
CLIENT_ID = "backoffice"
CLIENT_SECRET = "sso-test-client-secret-0123456789"
START_WITHIN = 30.0
# The sso_groups mapping the tests approve: one group per role the tests look for.
MAPPING = "bank-ops: ops_manager; bank-aml: aml_analyst"


@dataclass
class Idp:
    issuer: str
    accounts_file: Path
    log: Path

    def set_accounts(self, accounts: dict[str, dict[str, Any]]) -> None:
        """The people the IdP knows (read again at every sign-in)."""
        tmp = self.accounts_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(accounts))
        tmp.replace(self.accounts_file)

    def settings(self) -> dict[str, Any]:
        """The backoffice settings that point at this IdP."""
        return {
            "oidc_issuer": self.issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": CLIENT_SECRET,
            "oidc_display_name": "Test IdP",
            "oidc_groups_claim": "groups",
            "oidc_scopes": "openid email profile groups",
        }

    def env(self) -> dict[str, str]:
        return {k.upper(): str(v) for k, v in self.settings().items()}


def node_or_skip() -> str:
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "node is not installed"
    elif not PACKAGE.exists():
        problem = "oidc-provider is not installed (run `make assets`, i.e. npm ci)"
    if problem:
        if in_ci():
            pytest.fail(problem + " (CI must run the single sign-on tests)")
        pytest.skip(problem)
    assert node is not None
    return node


@contextmanager
def running_idp(
    workdir: Path,
    redirect_uris: list[str],
    accounts: dict[str, dict[str, Any]],
    *,
    claims_at_userinfo: bool = False,
) -> Iterator[Idp]:
    """Start the provider; stop it (and wait for it) on exit. `claims_at_userinfo`: the ID
    token carries no groups, e-mail or name (they are at the userinfo endpoint)."""
    node = node_or_skip()
    accounts_file = workdir / "idp-accounts.json"
    log = workdir / "idp.log"
    idp = Idp("", accounts_file, log)
    idp.set_accounts(accounts)
    env = {
        **os.environ,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_REDIRECT_URIS": ",".join(redirect_uris),
        "OIDC_ACCOUNTS_FILE": str(accounts_file),
        "OIDC_PORT": "0",
        "OIDC_CLAIMS_AT_USERINFO": "1" if claims_at_userinfo else "0",
    }
    with log.open("wb") as errors:
        proc = subprocess.Popen(
            [node, str(SCRIPT)],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,  # closed on exit: the provider stops with it
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        try:
            idp.issuer = _first_line(proc, log)["issuer"]
            yield idp
        finally:
            if proc.stdin:
                proc.stdin.close()
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()


def _first_line(proc: subprocess.Popen[bytes], log: Path) -> dict[str, str]:
    lines: queue.Queue[bytes] = queue.Queue()
    stdout: IO[bytes] | None = proc.stdout
    assert stdout is not None
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=START_WITHIN)
    except queue.Empty:
        line = b""
    if not line:
        proc.kill()
        raise RuntimeError(f"the OpenID Provider did not start:\n{log.read_text()[-3000:]}")
    found: dict[str, str] = json.loads(line)
    return found


FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')


def sign_in_at_idp(authorization_url: str, login: str) -> str:
    """Follow the IdP from the authorization URL through its sign-in page; returns the URL
    it finally redirects the browser to (our callback, with code and state, or an error)."""
    with httpx.Client(timeout=30, follow_redirects=False) as browser:
        response = browser.get(authorization_url)
        issuer_root = str(response.url.copy_with(path="/", query=None, fragment=None))
        for _ in range(10):
            location = response.headers.get("location")
            if response.status_code in (302, 303) and location:
                url = httpx.URL(response.url).join(location)
                if not str(url).startswith(issuer_root.rstrip("/")):
                    return str(url)
                response = browser.get(url)
                continue
            match = FORM_ACTION.search(response.text)
            assert response.status_code == 200 and match, response.text[:2000]
            response = browser.post(
                httpx.URL(response.url).join(match.group(1)),
                # The development sign-in page takes any password.
                data={"prompt": "login", "login": login, "password": "irrelevant"},
            )
        raise AssertionError("the IdP kept redirecting")


def person(login: str, *groups: str, email: str | None = None) -> dict[str, Any]:
    """Someone the IdP knows: e-mail, name and groups (the key is their login and subject)."""
    return {
        "email": email or f"{login}@bank.example",
        "name": login.replace(".", " ").title(),
        "groups": list(groups),
    }


async def _in_force(db: Database) -> SsoMapping:
    async with db.session() as session:
        return await mapping_in_force(session)


async def approve_mapping(http: httpx.AsyncClient, db: Database, group_roles: str) -> uuid.UUID:
    """`sso_groups` changed through maker-checker (two risk managers); returns the approved
    change that wrote the version in force (an earlier one if it already says this: another
    test module of the session approved it, and a change that changes nothing is refused)."""
    current = await _in_force(db)
    wanted = SsoGroupMapping(group_roles=group_roles).group_roles
    if current.change_id and current.mapping.group_roles == wanted:
        return current.change_id
    maker = await new_staff(db, "risk_manager", prefix="sso-maker")
    checker = await new_staff(db, "risk_manager", prefix="sso-checker")
    mh = await api_headers(http, maker.username)
    ch = await api_headers(http, checker.username)
    doc = (await http.get("/api/v1/config/sso_groups", headers=mh)).json()
    change = await propose_via_api(
        http, mh, "config", uuid.UUID(doc["id"]), group_roles=group_roles
    )
    task = await task_of(db, change["workflow_id"])
    claim = await http.post(f"/api/v1/tasks/{task.id}/claim", headers=ch)
    assert claim.status_code == 200, claim.text
    decided = await http.post(
        f"/api/v1/tasks/{task.id}/decision", json={"outcome": "approve"}, headers=ch
    )
    assert decided.status_code == 200, decided.text

    async def applied() -> bool:
        return str((await _in_force(db)).change_id) == change["id"]

    await eventually(applied, what="the sso_groups change applied")
    return uuid.UUID(change["id"])
