"""The Temporal codec key of the test suite (a test-only key, generated once and committed so
recorded histories stay readable; never use it anywhere else), and what a history shows to
someone without it."""

from __future__ import annotations

import base64
import json
from typing import Any

from core.codec import KeyRing, parse_key_list

TEST_CODEC_KEYS = "test1:jpbLByrJzwvwGI+ts2Xqlr2tq3rV3VJsJQrlH1WEvO8="
# Another product's key: payloads sealed with it must be refused like plain ones.
FOREIGN_CODEC_KEYS = "test1:" + base64.b64encode(b"f" * 32).decode()


def codec_ring() -> KeyRing:
    return parse_key_list(TEST_CODEC_KEYS)


def stored_payloads(node: Any, inside_search_attributes: bool = False) -> list[dict[str, Any]]:
    """Every payload of a history as JSON (`temporal workflow show -o json` shape), except the
    search attributes, which are indexed in clear by design (ids and categories only)."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "metadata" in node and "data" in node and not inside_search_attributes:
            found.append(node)
        for key, value in node.items():
            found += stored_payloads(value, inside_search_attributes or key == "searchAttributes")
    elif isinstance(node, list):
        for value in node:
            found += stored_payloads(value, inside_search_attributes)
    return found


SEALED = base64.b64encode(b"binary/encrypted").decode()


def readable_without_key(history_json: str) -> tuple[str, list[dict[str, Any]]]:
    """What someone with the history but not the key reads: the JSON itself plus every
    payload's data decoded from base64; and the payloads that are not sealed."""
    payloads = stored_payloads(json.loads(history_json))
    clear = history_json + "".join(
        base64.b64decode(p["data"]).decode("latin-1") for p in payloads if p.get("data")
    )
    return clear, [p for p in payloads if p["metadata"].get("encoding") != SEALED]
