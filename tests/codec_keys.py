"""The Temporal codec key of the test suite (a test-only key, generated once and committed so
recorded histories stay readable; never use it anywhere else)."""

from __future__ import annotations

import base64

from core.codec import KeyRing, parse_key_list

TEST_CODEC_KEYS = "test1:jpbLByrJzwvwGI+ts2Xqlr2tq3rV3VJsJQrlH1WEvO8="
# Another product's key: payloads sealed with it must be refused like plain ones.
FOREIGN_CODEC_KEYS = "test1:" + base64.b64encode(b"f" * 32).decode()


def codec_ring() -> KeyRing:
    return parse_key_list(TEST_CODEC_KEYS)
