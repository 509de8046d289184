"""Which address is the client's: the peer, or what trusted proxies say they forwarded."""

from __future__ import annotations

from typing import Any

import pytest

from web.proxies import TrustedProxyMiddleware, client_address, parse_trusted
from web.text_input import nul_fields

TRUSTED = parse_trusted("127.0.0.1, 10.0.0.0/8, 2001:db8:ff::/48")


def test_without_trusted_proxies_the_peer_is_the_client_even_on_loopback() -> None:
    assert client_address("127.0.0.1", ["198.51.100.1"], ()) == "127.0.0.1"


def test_an_untrusted_peer_cannot_name_another_client() -> None:
    assert client_address("192.0.2.9", ["198.51.100.1"], TRUSTED) == "192.0.2.9"


def test_the_right_most_untrusted_address_is_the_client() -> None:
    header = ["198.51.100.1, 203.0.113.9", "10.0.0.2, 10.3.4.5"]
    assert client_address("127.0.0.1", header, TRUSTED) == "203.0.113.9"


def test_ports_brackets_and_ipv6_are_understood() -> None:
    assert client_address("10.0.0.1", ["203.0.113.9:5123"], TRUSTED) == "203.0.113.9"
    assert client_address("10.0.0.1", ["[2001:db8::7]:443"], TRUSTED) == "2001:db8::7"
    assert client_address("::ffff:10.0.0.1", ["203.0.113.9"], TRUSTED) == "203.0.113.9"
    assert client_address("2001:db8:ff::1", ["203.0.113.9"], TRUSTED) == "203.0.113.9"


def test_a_chain_of_only_proxies_gives_the_left_most_and_garbage_stops_the_walk() -> None:
    assert client_address("127.0.0.1", ["10.0.0.7, 10.0.0.8"], TRUSTED) == "10.0.0.7"
    assert client_address("127.0.0.1", ["evil, 10.0.0.8"], TRUSTED) == "10.0.0.8"
    assert client_address("127.0.0.1", ["unknown"], TRUSTED) == "127.0.0.1"
    assert client_address("127.0.0.1", [], TRUSTED) == "127.0.0.1"


@pytest.mark.parametrize("bad", ["*", "proxy.internal", "10.0.0.0/33", "1.2.3.4.5"])
def test_a_wildcard_or_a_name_is_not_a_trusted_proxy(bad: str) -> None:
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        parse_trusted(bad)


async def test_the_middleware_rewrites_client_and_scheme_only_for_trusted_peers() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope)

    middleware = TrustedProxyMiddleware(app, TRUSTED)
    headers = [(b"x-forwarded-for", b"203.0.113.9"), (b"x-forwarded-proto", b"https")]
    for peer in ("127.0.0.1", "192.0.2.9"):
        scope = {"type": "http", "client": (peer, 1234), "scheme": "http", "headers": headers}
        await middleware(scope, None, None)
    assert [(s["client"][0], s["scheme"]) for s in seen] == [
        ("203.0.113.9", "https"),
        ("192.0.2.9", "http"),
    ]


def test_nul_characters_are_found_at_any_depth_and_named_by_path() -> None:
    body = {"a": "ok", "b": [{"c": "x\x00"}, "y"], "d\x00": 1, "e": {"f": ["\x00"]}}
    assert sorted(nul_fields(body)) == ["b.0.c", "d\\0", "e.f.0"]
    assert list(nul_fields("a bare \x00 string")) == ["body"]
    deep: Any = "\x00"
    for _ in range(5000):
        deep = [deep]
    assert list(nul_fields(deep)) == [".".join(["0"] * 5000)]
