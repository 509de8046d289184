"""Who is really asking: the peer address, or what a trusted proxy says it forwarded.

`X-Forwarded-For` is believed only from the addresses in TRUSTED_PROXIES (default: none,
so not even from loopback). Behind trusted proxies the client is the right-most address of
the header that is not itself a trusted proxy: everything to its left was written by the
client and may be forged. The client address feeds login throttling and the audit log.

This is the app's job rather than uvicorn's (`backoffice web` runs uvicorn with
`proxy_headers=False`), so every way of serving the app, tests included, obeys one rule.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_trusted(value: str) -> tuple[Network, ...]:
    """`"10.0.0.5, 10.1.0.0/16"` -> networks; raises ValueError naming a bad entry."""
    networks = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        if item == "*":
            raise ValueError(
                "TRUSTED_PROXIES may not be '*' (anyone could then forge the client address); "
                "list the proxies' addresses or networks"
            )
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(
                f"TRUSTED_PROXIES: {item!r} is not an IP address or network (e.g. 10.0.0.0/8)"
            ) from None
    return tuple(networks)


def _address(value: str) -> Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "192.0.2.1:443"
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: Address | None, networks: Iterable[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(
    peer: str | None, forwarded_for: list[str], trusted: tuple[Network, ...]
) -> str | None:
    """The client's address given the TCP peer and the X-Forwarded-For header values."""
    if not trusted or not _trusted(_address(peer or ""), trusted):
        return peer
    client = peer
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # not an address a proxy of ours wrote: stop at the last believable hop
        client = str(address)
        if not _trusted(address, trusted):
            break
    return client


class TrustedProxyMiddleware:
    """ASGI middleware: sets `scope["client"]` (and the scheme) from trusted proxies only."""

    def __init__(self, app: Any, trusted: tuple[Network, ...]) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and self.trusted:
            peer = scope.get("client")
            host = peer[0] if peer else None
            if _trusted(_address(host or ""), self.trusted):
                headers = scope.get("headers") or []
                forwarded = [v.decode("latin-1") for k, v in headers if k == b"x-forwarded-for"]
                client = client_address(host, forwarded, self.trusted)
                if client != host:
                    scope["client"] = (client, 0)
                proto = [
                    v.decode("latin-1").strip() for k, v in headers if k == b"x-forwarded-proto"
                ]
                if proto and proto[-1] in ("http", "https") and scope["type"] == "http":
                    scope["scheme"] = proto[-1]
        await self.app(scope, receive, send)
