"""Single sign-on's pure parts: staff usernames from IdP claims, the groups claim, the settings
that must go together."""

from __future__ import annotations

import pytest

from core.settings import Settings
from identity.auth import USERNAME_RE
from identity.sso import _groups
from identity.sso_accounts import Identity, username_for


def who(username: str | None = None, email: str | None = None, sub: str = "s-1") -> Identity:
    return Identity("https://idp.example", sub, email, True, None, username, ())


def test_the_username_comes_from_the_preferred_username_then_the_email() -> None:
    assert username_for(who("Olivia.Ops", "x@bank.example")) == "olivia.ops"
    assert username_for(who(None, "Mira.Kay@bank.example")) == "mira.kay"
    assert username_for(who("Jean Dupont", None)) == "jean.dupont"


def test_a_username_is_always_valid_even_from_odd_claims() -> None:
    for person in (who("!!", None, sub="x"), who("é", "@", sub="00uabc"), who("a" * 300)):
        assert USERNAME_RE.match(username_for(person)), username_for(person)


def test_groups_are_read_from_a_list_or_a_space_separated_string() -> None:
    assert _groups(["bank-ops", "bank-aml", 7, None, ""]) == ("bank-ops", "bank-aml", "7")
    assert _groups("bank-ops bank-aml,x") == ("bank-ops", "bank-aml", "x")
    assert _groups(None) == () and _groups({"a": 1}) == ()


def test_local_passwords_cannot_be_switched_off_without_single_sign_on() -> None:
    with pytest.raises(ValueError, match="LOCAL_PASSWORDS=false needs single sign-on"):
        Settings(local_passwords=False, _env_file=None)  # type: ignore[call-arg]


def test_single_sign_on_settings_go_together() -> None:
    with pytest.raises(ValueError, match="together"):
        Settings(oidc_issuer="https://idp.example", _env_file=None)  # type: ignore[call-arg]
    both = Settings(
        oidc_issuer="https://idp.example",
        oidc_client_id="backoffice",
        oidc_client_secret="a-long-client-secret",
        local_passwords=False,
        _env_file=None,  # type: ignore[call-arg]
    )
    assert both.sso_enabled and not both.local_passwords


def test_production_needs_an_https_issuer() -> None:
    with pytest.raises(ValueError, match="https"):
        Settings(
            environment="production",
            oidc_issuer="http://idp.example",
            oidc_client_id="backoffice",
            oidc_client_secret="a-long-client-secret",
            database_url="postgresql+psycopg://u@h/db",
            temporal_address="t:7233",
            secure_cookies=True,
            temporal_codec_keys="k1:" + "A" * 43 + "=",
            _env_file=None,  # type: ignore[call-arg]
        )
