"""Payloads only the product can write or read: AES-256-GCM over every Temporal payload.

Every client and worker encrypts what it sends to Temporal and decrypts what it reads, so
histories hold no comment, rationale, name or document number in clear, and a Start, Signal
or Update sent from outside the product (the `temporal` CLI, the dev server's UI) cannot be
read by our workflows.

An encrypted payload: metadata `encoding=binary/encrypted`, `encryption-key-id=<id>`; data =
12-byte random nonce + AES-GCM ciphertext (with its tag) of the inner
`Payload.SerializeToString()`.

Keys form a ring: every key decrypts, the first encrypts, so keys rotate (add the new key
first, keep the old ones until no running workflow holds payloads written with them).

The codec never raises on decode. A payload it will not accept (plain, an unknown key id, a
bad tag) becomes a `binary/refused` marker that our payload converter refuses with a
non-retryable `ApplicationError`. Raising inside the codec would fail the whole workflow
activation, over and over: anyone who can reach the Temporal port could wedge a legitimate
workflow with one forged signal. With the marker the SDK does the right thing for each door:
a forged Update is rejected by the validator phase (nothing in history), a forged Signal is
logged and dropped, a forged Start fails its workflow at once without running anything.

`legacy=True` passes plain payloads through unchanged; only the `Replayer` (for histories
recorded before encryption) and the read-only decode endpoint use it.

Scope (need-to-know through the codec server): the codec is serialization-context aware, so
each payload it seals carries a clear metadata tag `bo-scope` naming the kind of process it
belongs to, from the workflow id (`aml-…` → `aml`, onboarding and screening → `kyc`, …,
anything else → `other`). The tag is the AES-GCM associated data: changed, the payload no
longer decrypts. The decode endpoint shows a payload only to readers the policy allows
`workflow_history:<scope>`. Payloads sealed before the tag existed have none and decrypt
with no associated data (scope `unscoped`).
"""

from __future__ import annotations

import base64
import binascii
import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import (
    ActivitySerializationContext,
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    EncodingPayloadConverter,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)
from temporalio.exceptions import ApplicationError

ENCRYPTED = b"binary/encrypted"
REFUSED = b"binary/refused"
KEY_ID = "encryption-key-id"
REFUSED_REASON = "refused-reason"
NONCE_BYTES = 12
KEY_BYTES = 32
DEV_KEY_FILE = "temporal-codec.keys"

SCOPE = "bo-scope"  # clear metadata, bound to the ciphertext as AES-GCM associated data
OTHER_SCOPE = "other"
UNSCOPED = "unscoped"  # what the policy calls a payload sealed before scopes existed
# Workflow id prefix → scope; the first match wins.
SCOPE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("aml-", "aml"),
    ("onboarding-", "kyc"),
    ("screening-alert-", "kyc"),
    ("rescreen", "kyc"),
    ("dispute-", "dispute"),
    ("change-", "change"),
    ("recon-", "recon"),
    ("process-", "process"),
)
SCOPES = frozenset({*(scope for _, scope in SCOPE_PREFIXES), OTHER_SCOPE})


class CodecKeyError(ValueError):
    """The key configuration is missing or malformed (raised at start-up, never on decode)."""


@dataclass(frozen=True)
class KeyRing:
    """Keys by id, in order: the first encrypts, all of them decrypt."""

    keys: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise CodecKeyError("the Temporal codec key ring is empty")
        ids = [key_id for key_id, _ in self.keys]
        if len(set(ids)) != len(ids):
            raise CodecKeyError("the Temporal codec key ring names a key id twice")

    @property
    def encrypting_id(self) -> str:
        return self.keys[0][0]

    def key(self, key_id: str) -> bytes | None:
        return dict(self.keys).get(key_id)


def _parse_key(key_id: str, encoded: str, where: str) -> tuple[str, bytes]:
    key_id = key_id.strip()
    if not key_id or not key_id.isascii() or any(c in key_id for c in " ,:\t"):
        raise CodecKeyError(f"{where}: a key id must be a short ASCII name, got {key_id!r}")
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise CodecKeyError(f"{where}: key {key_id!r} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise CodecKeyError(
            f"{where}: key {key_id!r} must be {KEY_BYTES} bytes (AES-256), got {len(key)}"
        )
    return key_id, key


def parse_key_list(text: str) -> KeyRing:
    """`TEMPORAL_CODEC_KEYS`: `id:base64,id:base64` (first encrypts)."""
    keys = []
    for item in text.split(","):
        if not item.strip():
            continue
        key_id, sep, encoded = item.partition(":")
        if not sep:
            raise CodecKeyError("TEMPORAL_CODEC_KEYS: each key is written `id:base64`")
        keys.append(_parse_key(key_id, encoded, "TEMPORAL_CODEC_KEYS"))
    return KeyRing(tuple(keys))


def parse_key_file(text: str, where: str = "TEMPORAL_CODEC_KEY_FILE") -> KeyRing:
    """A key file: one `id base64` a line (first encrypts); blank lines and `#` comments."""
    keys = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise CodecKeyError(f"{where}: each line is `id base64`")
        keys.append(_parse_key(parts[0], parts[1], where))
    return KeyRing(tuple(keys))


def new_key_line(key_id: str = "k1") -> str:
    return f"{key_id} {base64.b64encode(os.urandom(KEY_BYTES)).decode()}\n"


def ensure_dev_key_file(path: Path) -> KeyRing:
    """The embedded default: a key made on first use under DATA_DIR, readable by us only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written whole under a private name, then linked into place: the web, the worker
        # and the CLI may start together, and none may read a half-written file.
        draft = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("# Temporal payload keys: `id base64` a line; the first encrypts.\n")
            out.write(new_key_line("dev1"))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process made it first: theirs is the key
        finally:
            draft.unlink()
    return parse_key_file(path.read_text(), str(path))


def load_key_ring(*, keys: str, key_file: str, data_dir: Path, production: bool) -> KeyRing:
    if keys.strip():
        return parse_key_list(keys)
    if key_file:
        path = Path(key_file)
        try:
            text = path.read_text()
        except OSError as exc:
            raise CodecKeyError(f"TEMPORAL_CODEC_KEY_FILE {path}: {exc.strerror}") from None
        return parse_key_file(text, str(path))
    if production:
        raise CodecKeyError(
            "production needs TEMPORAL_CODEC_KEYS or TEMPORAL_CODEC_KEY_FILE: Temporal "
            "payloads are encrypted and no key is generated outside development"
        )
    return ensure_dev_key_file(data_dir.resolve() / DEV_KEY_FILE)


def scope_for_workflow(workflow_id: str | None) -> str:
    for prefix, scope in SCOPE_PREFIXES:
        if workflow_id and workflow_id.startswith(prefix):
            return scope
    return OTHER_SCOPE


def scope_for_context(context: SerializationContext | None) -> str:
    """The scope a payload written in this serialization context is sealed under."""
    if isinstance(context, WorkflowSerializationContext | ActivitySerializationContext):
        return scope_for_workflow(context.workflow_id)
    return OTHER_SCOPE


def payload_scope(payload: Payload) -> str:
    """The scope a payload claims (the tag is authenticated only when it decrypts):
    `unscoped` for one with no tag or an unknown one."""
    tag = payload.metadata.get(SCOPE)
    if tag is None:
        return UNSCOPED
    scope = tag.decode("ascii", "replace")
    return scope if scope in SCOPES else UNSCOPED


def _refused(reason: str) -> Payload:
    return Payload(metadata={"encoding": REFUSED, REFUSED_REASON: reason.encode()})


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """AES-256-GCM with a key ring; strict unless `legacy` (replay of old histories only).

    The SDK hands each encode its serialization context through `with_context`; the scope
    derived from it is written as the `bo-scope` tag and authenticated with the payload."""

    def __init__(self, ring: KeyRing, *, legacy: bool = False, scope: str = OTHER_SCOPE) -> None:
        self._ring = ring
        self._ciphers = {key_id: AESGCM(key) for key_id, key in ring.keys}
        self._legacy = legacy
        self._scope = scope

    @property
    def scope(self) -> str:
        return self._scope

    def with_context(self, context: SerializationContext) -> Self:
        scope = scope_for_context(context)
        if scope == self._scope:
            return self
        clone = copy.copy(self)  # shares the key ring and ciphers
        clone._scope = scope
        return clone

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        key_id = self._ring.encrypting_id
        cipher = self._ciphers[key_id]
        scope = self._scope.encode()
        out = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), scope)
            out.append(
                Payload(
                    metadata={"encoding": ENCRYPTED, KEY_ID: key_id.encode(), SCOPE: scope},
                    data=nonce + sealed,
                )
            )
        return out

    def sealed_with_current_key(self, payload: Payload) -> bool:
        """Written by us with the key that encrypts now (not plain, not a retired key)."""
        return (
            payload.metadata.get("encoding") == ENCRYPTED
            and payload.metadata.get(KEY_ID) == self._ring.encrypting_id.encode()
        )

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decode_one(payload) for payload in payloads]

    def decode_one(self, payload: Payload) -> Payload:
        """Never raises: what we will not accept becomes a `binary/refused` marker."""
        try:
            if payload.metadata.get("encoding") != ENCRYPTED:
                if self._legacy:
                    return payload
                return _refused("not encrypted with a backoffice key")
            key_id = payload.metadata.get(KEY_ID, b"").decode("ascii", "replace")
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                return _refused(f"unknown encryption key id {key_id[:40]!r}")
            data = payload.data
            if len(data) <= NONCE_BYTES:
                return _refused("encrypted payload too short")
            # Sealed before scopes existed: no tag, no associated data.
            aad = payload.metadata.get(SCOPE)
            try:
                plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], aad)
            except InvalidTag:
                return _refused(f"authentication failed under key {key_id!r}")
            inner = Payload()
            try:
                inner.ParseFromString(plain)
            except DecodeError:
                return _refused("decrypted payload is not a Temporal payload")
            return inner
        except Exception as exc:  # the codec must never raise (see the module doc)
            return _refused(f"undecodable payload ({type(exc).__name__})")


class RefusedPayloadConverter(EncodingPayloadConverter):
    """Reads the codec's refusal marker as a non-retryable error; never writes anything."""

    @property
    def encoding(self) -> str:
        return REFUSED.decode()

    def to_payload(self, value: Any) -> Payload | None:
        return None

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        reason = payload.metadata.get(REFUSED_REASON, b"refused").decode("utf-8", "replace")
        raise ApplicationError(
            f"Payload refused: {reason}. Only payloads written by backoffice (encrypted with "
            "its codec key) are accepted; inputs sent straight to Temporal are ignored.",
            type="PayloadRefused",
            non_retryable=True,
        )


class ProductPayloadConverter(CompositePayloadConverter):
    """The pydantic converters (Decimal, datetime, models) plus the refusal reader."""

    def __init__(self) -> None:
        super().__init__(*PydanticPayloadConverter().converters.values(), RefusedPayloadConverter())


def build_data_converter(ring: KeyRing, *, legacy: bool = False) -> DataConverter:
    """Pydantic payloads, AES-GCM codec, failure messages and stack traces encoded too."""
    return DataConverter(
        payload_converter_class=ProductPayloadConverter,
        payload_codec=EncryptionCodec(ring, legacy=legacy),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
