"""The payload codec: sealed with the first key, read with any key of the ring, and anything
else turned into a refusal the converter raises (the codec itself never raises)."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext
from temporalio.exceptions import ApplicationError

from core.codec import (
    ENCRYPTED,
    KEY_ID,
    REFUSED,
    SCOPE,
    CodecKeyError,
    EncryptionCodec,
    build_data_converter,
    load_key_ring,
    parse_key_file,
    parse_key_list,
    payload_scope,
)
from core.settings import Settings


def key(fill: bytes) -> str:
    return base64.b64encode(fill * 32).decode()


OLD = parse_key_list(f"k1:{key(b'a')}")
ROTATED = parse_key_list(f"k2:{key(b'b')},k1:{key(b'a')}")
FOREIGN = parse_key_list(f"k1:{key(b'z')}")


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


async def test_sealed_payload_hides_its_content_and_reads_back_whole() -> None:
    codec = EncryptionCodec(OLD)
    original = plain("Comment by the reviewer")
    [sealed] = await codec.encode([original])
    assert sealed.metadata["encoding"] == ENCRYPTED
    assert sealed.metadata[KEY_ID] == b"k1"
    assert b"reviewer" not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [original]
    [again] = await codec.encode([original])
    assert again.data[:12] != sealed.data[:12]  # a fresh nonce each time


async def test_rotated_ring_reads_old_payloads_and_writes_with_the_new_key() -> None:
    [old] = await EncryptionCodec(OLD).encode([plain("x")])
    rotated = EncryptionCodec(ROTATED)
    assert await rotated.decode([old]) == [plain("x")]
    [new] = await rotated.encode([plain("y")])
    assert new.metadata[KEY_ID] == b"k2"
    [refused] = await EncryptionCodec(OLD).decode([new])
    assert refused.metadata["encoding"] == REFUSED
    assert b"unknown encryption key id" in refused.metadata["refused-reason"]


async def test_plain_foreign_tampered_and_garbage_payloads_become_refusals() -> None:
    codec = EncryptionCodec(OLD)
    [foreign] = await EncryptionCodec(FOREIGN).encode([plain("x")])
    [good] = await codec.encode([plain("x")])
    tampered = Payload()
    tampered.CopyFrom(good)
    tampered.data = good.data[:-1] + bytes([good.data[-1] ^ 1])
    short = Payload(metadata={"encoding": ENCRYPTED, KEY_ID: b"k1"}, data=b"123")
    odd_id = Payload(metadata={"encoding": ENCRYPTED, KEY_ID: b"\xff\xfe"}, data=os.urandom(40))
    decoded = await codec.decode([plain("x"), foreign, tampered, short, odd_id])
    assert [p.metadata["encoding"] for p in decoded] == [REFUSED] * 5
    reasons = [p.metadata["refused-reason"].decode() for p in decoded]
    assert reasons[0] == "not encrypted with a backoffice key"
    assert reasons[1].startswith("authentication failed") and reasons[2] == reasons[1]
    assert not any(p.data for p in decoded)  # nothing of the forged content goes on


async def test_legacy_mode_reads_plain_payloads_but_still_refuses_foreign_ones() -> None:
    codec = EncryptionCodec(OLD, legacy=True)
    [foreign] = await EncryptionCodec(FOREIGN).encode([plain("x")])
    decoded = await codec.decode([plain("old"), foreign])
    assert decoded[0] == plain("old")
    assert decoded[1].metadata["encoding"] == REFUSED


async def test_converter_refuses_a_refusal_marker_with_a_non_retryable_error() -> None:
    converter = build_data_converter(OLD)
    with pytest.raises(ApplicationError) as refused:
        await converter.decode([plain("forged")], [str])
    assert refused.value.type == "PayloadRefused"
    assert refused.value.non_retryable
    sealed = await converter.encode(["fine"])
    assert await converter.decode(sealed, [str]) == ["fine"]


async def test_failure_messages_and_stack_traces_are_sealed_too() -> None:
    converter = build_data_converter(OLD)
    failure = Failure()
    try:
        raise ApplicationError("rationale too short for SAR on Jane Doe")
    except ApplicationError as exc:
        await converter.encode_failure(exc, failure)
    assert "Jane Doe" not in str(failure)
    assert failure.encoded_attributes.metadata["encoding"] == ENCRYPTED
    back = await converter.decode_failure(failure)
    assert "Jane Doe" in str(back)


def workflow(workflow_id: str) -> WorkflowSerializationContext:
    return WorkflowSerializationContext(namespace="default", workflow_id=workflow_id)


def activity_of(workflow_id: str | None) -> ActivitySerializationContext:
    return ActivitySerializationContext(
        namespace="default",
        activity_id="1",
        activity_type="record_decision",
        activity_task_queue="backoffice",
        workflow_id=workflow_id,
        workflow_type="Some",
        is_local=False,
    )


def sealed_before_scopes(text: str, fill: bytes = b"a") -> Payload:
    """A payload as the codec wrote it before the scope tag: no tag, no associated data."""
    nonce = os.urandom(12)
    sealed = AESGCM(fill * 32).encrypt(nonce, plain(text).SerializeToString(), None)
    return Payload(metadata={"encoding": ENCRYPTED, KEY_ID: b"k1"}, data=nonce + sealed)


@pytest.mark.parametrize(
    ("workflow_id", "scope"),
    [
        ("aml-3f1c0a4e-0000-0000-0000-000000000001", "aml"),
        ("aml-3f1c0a4e-0000-0000-0000-000000000001-r2", "aml"),
        ("onboarding-42", "kyc"),
        ("onboarding-42-screen-7", "kyc"),
        ("screening-alert-9-1234", "kyc"),
        ("rescreen-customers-2026-12-07T00:00:00Z", "kyc"),
        ("dispute-77", "dispute"),
        ("change-5", "change"),
        ("recon-statement-1", "recon"),
        ("recon-break-2", "recon"),
        ("process-repair-3", "process"),
        ("process-watch-2026", "process"),
        ("something-else", "other"),
        ("", "other"),
    ],
)
async def test_payloads_are_tagged_with_the_scope_of_their_workflow(
    workflow_id: str, scope: str
) -> None:
    codec = EncryptionCodec(OLD)
    for context in (workflow(workflow_id), activity_of(workflow_id)):
        [sealed] = await codec.with_context(context).encode([plain("x")])
        assert sealed.metadata[SCOPE] == scope.encode()
        assert payload_scope(sealed) == scope
        assert await codec.decode([sealed]) == [plain("x")]


async def test_payloads_written_without_a_workflow_are_scoped_other() -> None:
    codec = EncryptionCodec(OLD)
    [bare] = await codec.encode([plain("x")])
    [standalone] = await codec.with_context(activity_of(None)).encode([plain("x")])
    assert bare.metadata[SCOPE] == standalone.metadata[SCOPE] == b"other"


async def test_the_data_converter_hands_the_workflow_context_to_the_codec() -> None:
    converter = build_data_converter(OLD).with_context(workflow("aml-1"))
    [sealed] = await converter.encode(["SAR rationale"])
    assert sealed.metadata[SCOPE] == b"aml"
    assert await converter.decode([sealed], [str]) == ["SAR rationale"]


async def test_changing_the_scope_tag_makes_the_payload_undecryptable() -> None:
    codec = EncryptionCodec(OLD, legacy=True)
    [aml] = await codec.with_context(workflow("aml-1")).encode([plain("narrative")])
    for forged_tag in (b"change", b"other", b""):
        forged = Payload()
        forged.CopyFrom(aml)
        forged.metadata[SCOPE] = forged_tag
        [refused] = await codec.decode([forged])
        assert refused.metadata["encoding"] == REFUSED
        assert b"authentication failed" in refused.metadata["refused-reason"]
    stripped = Payload()
    stripped.CopyFrom(aml)
    del stripped.metadata[SCOPE]
    [refused] = await codec.decode([stripped])
    assert refused.metadata["encoding"] == REFUSED


async def test_payloads_sealed_before_scopes_still_decrypt_in_workers() -> None:
    legacy = sealed_before_scopes("written last week")
    assert payload_scope(legacy) == "unscoped"
    assert await EncryptionCodec(OLD).decode([legacy]) == [plain("written last week")]
    worker_converter = build_data_converter(OLD).with_context(workflow("aml-1"))
    assert await worker_converter.decode([legacy], [str]) == ["written last week"]
    # ... but an untagged payload cannot pass for a tagged one, nor the reverse
    tagged = Payload()
    tagged.CopyFrom(legacy)
    tagged.metadata[SCOPE] = b"other"
    [refused] = await EncryptionCodec(OLD).decode([tagged])
    assert refused.metadata["encoding"] == REFUSED


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("k1", "id:base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "must be 32 bytes"),
        ("k1:not*base64", "not valid base64"),
        (f"k1:{key(b'a')},k1:{key(b'b')}", "twice"),
        ("", "empty"),
    ],
)
def test_malformed_key_lists_are_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(CodecKeyError, match=problem):
        parse_key_list(text)


def test_key_file_lists_keys_first_encrypting_with_comments_allowed() -> None:
    ring = parse_key_file(f"# rotated 2026-12\nk2 {key(b'b')}\n\nk1 {key(b'a')}\n")
    assert ring.encrypting_id == "k2"
    assert ring.key("k1") == b"a" * 32


def test_development_key_is_made_once_under_data_dir_readable_by_the_owner_only(
    tmp_path: Path,
) -> None:
    first = load_key_ring(keys="", key_file="", data_dir=tmp_path, production=False)
    path = tmp_path / "temporal-codec.keys"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_key_ring(keys="", key_file="", data_dir=tmp_path, production=False)
    assert again == first


def test_production_refuses_to_start_without_keys(tmp_path: Path) -> None:
    with pytest.raises(CodecKeyError, match="TEMPORAL_CODEC_KEYS"):
        load_key_ring(keys="", key_file="", data_dir=tmp_path, production=True)
    assert not (tmp_path / "temporal-codec.keys").exists()
    with pytest.raises(ValidationError, match="TEMPORAL_CODEC_KEYS"):
        Settings(
            environment="production",
            database_url="postgresql+psycopg://x@db/bo",
            temporal_address="temporal:7233",
            secure_cookies=True,
            temporal_codec_keys="",
            temporal_codec_key_file="",
            _env_file=None,  # type: ignore[call-arg]
        )


def test_key_file_setting_is_read_and_a_missing_file_named(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"prod1 {key(b'p')}\n")
    ring = load_key_ring(keys="", key_file=str(path), data_dir=tmp_path, production=True)
    assert ring.encrypting_id == "prod1"
    with pytest.raises(CodecKeyError, match="missing"):
        load_key_ring(
            keys="", key_file=str(tmp_path / "missing"), data_dir=tmp_path, production=True
        )


def test_malformed_key_setting_stops_start_up_without_echoing_the_key() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(temporal_codec_keys="k1:c2VjcmV0LXNob3J0", _env_file=None)  # type: ignore[call-arg]
    assert "must be 32 bytes" in str(refused.value)
    assert "c2VjcmV0LXNob3J0" not in str(refused.value)
