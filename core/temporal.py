"""Temporal client construction: one data converter everywhere (Decimal, datetime, pydantic,
encrypted payloads)."""

from __future__ import annotations

import logging
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.service import TLSConfig

from core.codec import KeyRing, build_data_converter, load_key_ring
from core.search_attributes import SEARCH_ATTRIBUTES
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)


def data_converter(settings: Settings | None = None, *, legacy: bool = False) -> DataConverter:
    """The one data converter of every client, worker, test environment and replayer:
    pydantic payloads, encrypted by the codec (keys from settings), failures encoded too.
    `legacy=True` also reads plain payloads: for replaying histories recorded before
    encryption, never for a live client or worker."""
    return build_data_converter(codec_key_ring(settings), legacy=legacy)


def codec_key_ring(settings: Settings | None = None) -> KeyRing:
    """The payload keys from TEMPORAL_CODEC_KEYS / TEMPORAL_CODEC_KEY_FILE, or the
    development key under DATA_DIR (made on first use)."""
    settings = settings or get_settings()
    return load_key_ring(
        keys=settings.temporal_codec_keys,
        key_file=settings.temporal_codec_key_file,
        data_dir=settings.data_dir,
        production=settings.environment == "production",
    )


def tls_config(settings: Settings | None = None) -> TLSConfig | bool:
    """TLS to Temporal's frontend from TEMPORAL_TLS_* (False: plain, the dev server).

    The files are read at every connect, so a process restarted after a certificate
    rotation presents the new one."""
    settings = settings or get_settings()
    if not settings.temporal_tls_enabled:
        if settings.environment == "production":
            log.warning(
                "connecting to Temporal at %s without TLS: anyone on that network can "
                "reach the frontend; set TEMPORAL_TLS_CA/CERT/KEY (docs/production.md)",
                settings.temporal_target,
            )
        return False

    def read(path: str, what: str) -> bytes | None:
        if not path:
            return None
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise TemporalTLSError(f"{what} {path}: {exc.strerror or exc}") from exc

    return TLSConfig(
        server_root_ca_cert=read(settings.temporal_tls_ca, "TEMPORAL_TLS_CA"),
        domain=settings.temporal_tls_server_name or None,
        client_cert=read(settings.temporal_tls_cert, "TEMPORAL_TLS_CERT"),
        client_private_key=read(settings.temporal_tls_key, "TEMPORAL_TLS_KEY"),
    )


class TemporalTLSError(RuntimeError):
    """A TEMPORAL_TLS_* file cannot be read."""


async def connect(
    address: str, namespace: str = "default", *, settings: Settings | None = None
) -> Client:
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=data_converter(settings),
        tls=tls_config(settings),
    )


async def ensure_search_attributes(client: Client, namespace: str = "default") -> None:
    """Register our custom search attributes (idempotent; the dev server gets them by flag)."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = {
        key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        for key in SEARCH_ATTRIBUTES
        if key.name not in existing.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
        log.info("registered search attributes %s", ", ".join(sorted(missing)))
