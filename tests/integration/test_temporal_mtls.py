"""Temporal with mutual TLS: the compose job's certificates, and our client presenting them.

The dev server speaks plain gRPC, so a TLS terminator that insists on a client certificate
signed by the job's CA (as `TEMPORAL_TLS_REQUIRE_CLIENT_AUTH=true` makes Temporal's
frontend do) stands in front of it; `core.temporal.connect` reaches the real server through
it only with TEMPORAL_TLS_CERT / TEMPORAL_TLS_KEY set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from temporalio.testing import WorkflowEnvironment

from core.settings import Settings
from core.temporal import TemporalTLSError, connect, tls_config

ROOT = Path(__file__).resolve().parents[2]
MAKE_CERTS = ROOT / "deploy" / "temporal" / "make-certs.py"


@dataclass(frozen=True)
class Certs:
    ca: Path
    server: Path
    client: Path


def make_certs(base: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MAKE_CERTS)],
        env={
            **os.environ,
            "CA_DIR": str(base / "ca"),
            "SERVER_DIR": str(base / "server"),
            "CLIENT_DIR": str(base / "client"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    made = make_certs(tmp_path)
    assert made.returncode == 0, made.stderr
    return Certs(tmp_path / "ca", tmp_path / "server", tmp_path / "client")


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_the_job_makes_a_ca_and_leaves_it_signed(certs: Certs) -> None:
    ca = load(certs.ca / "ca.pem")
    server = load(certs.server / "server.pem")
    client = load(certs.client / "client.pem")
    server.verify_directly_issued_by(ca)
    client.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "temporal" in names.get_values_for_type(x509.DNSName)
    usages = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    usages = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    # The CA key stays in the CA's own folder (volume), readable by its owner only.
    assert stat.S_IMODE((certs.ca / "ca.key").stat().st_mode) == 0o600
    assert not (certs.server / "ca.key").exists() and not (certs.client / "ca.key").exists()
    assert (certs.server / "ca.pem").read_bytes() == (certs.ca / "ca.pem").read_bytes()


def test_running_the_job_again_keeps_everything_and_rotate_reissues(
    certs: Certs, tmp_path: Path
) -> None:
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.pem")}
    again = make_certs(tmp_path)
    assert again.returncode == 0, again.stderr
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.pem")} == before

    leaves = make_certs(tmp_path, ROTATE="leaves")
    assert leaves.returncode == 0, leaves.stderr
    assert (certs.ca / "ca.pem").read_bytes() == before[certs.ca / "ca.pem"]
    assert (certs.client / "client.pem").read_bytes() != before[certs.client / "client.pem"]
    load(certs.client / "client.pem").verify_directly_issued_by(load(certs.ca / "ca.pem"))

    everything = make_certs(tmp_path, ROTATE="all")
    assert everything.returncode == 0, everything.stderr
    new_ca = load(certs.ca / "ca.pem")
    assert (certs.ca / "ca.pem").read_bytes() != before[certs.ca / "ca.pem"]
    load(certs.server / "server.pem").verify_directly_issued_by(new_ca)
    assert (certs.client / "ca.pem").read_bytes() == (certs.ca / "ca.pem").read_bytes()


# ----------------------------------------------------------------------------- mTLS for real
@contextlib.asynccontextmanager
async def mtls_frontend(certs: Certs, upstream: str) -> AsyncIterator[int]:
    """A TLS terminator on a free port that refuses any client without a certificate from
    the CA, then passes the bytes to the dev server's plain gRPC port."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.server / "server.pem", certs.server / "server.key")
    context.load_verify_locations(certs.server / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])
    host, port = upstream.rsplit(":", 1)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)


def tls_settings(**values: str) -> Settings:
    # The codec keys come from the environment (tests/conftest.py sets the test key).
    values = {"environment": "test", **values}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg,arg-type]


async def test_a_client_with_the_certificate_reaches_temporal_through_mtls(
    certs: Certs, temporal_env: WorkflowEnvironment
) -> None:
    upstream = temporal_env.client.service_client.config.target_host
    settings = tls_settings(
        temporal_tls_ca=str(certs.client / "ca.pem"),
        temporal_tls_cert=str(certs.client / "client.pem"),
        temporal_tls_key=str(certs.client / "client.key"),
        temporal_tls_server_name="temporal",
    )
    async with mtls_frontend(certs, upstream) as port:
        client = await asyncio.wait_for(
            connect(f"127.0.0.1:{port}", "default", settings=settings), 30
        )
        count = await asyncio.wait_for(client.count_workflows(), 30)
        assert count.count >= 0


async def test_temporal_behind_mtls_refuses_a_client_without_a_certificate(
    certs: Certs, temporal_env: WorkflowEnvironment
) -> None:
    upstream = temporal_env.client.service_client.config.target_host
    # TLS, the right CA and name, but no client certificate.
    settings = tls_settings(
        temporal_tls_ca=str(certs.client / "ca.pem"), temporal_tls_server_name="temporal"
    )
    async with mtls_frontend(certs, upstream) as port:
        with pytest.raises(RuntimeError):
            client = await asyncio.wait_for(
                connect(f"127.0.0.1:{port}", "default", settings=settings), 30
            )
            await asyncio.wait_for(client.count_workflows(), 30)
        # Nor in clear.
        with pytest.raises(RuntimeError):
            client = await asyncio.wait_for(
                connect(f"127.0.0.1:{port}", "default", settings=tls_settings()), 30
            )
            await asyncio.wait_for(client.count_workflows(), 30)


async def test_a_server_certificate_from_another_ca_is_not_believed(
    certs: Certs, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    made = make_certs(other)
    assert made.returncode == 0, made.stderr
    upstream = temporal_env.client.service_client.config.target_host
    settings = tls_settings(
        temporal_tls_ca=str(other / "client" / "ca.pem"),  # trusts only the other CA
        temporal_tls_cert=str(certs.client / "client.pem"),
        temporal_tls_key=str(certs.client / "client.key"),
        temporal_tls_server_name="temporal",
    )
    async with mtls_frontend(certs, upstream) as port:
        with pytest.raises(RuntimeError):
            client = await asyncio.wait_for(
                connect(f"127.0.0.1:{port}", "default", settings=settings), 30
            )
            await asyncio.wait_for(client.count_workflows(), 30)


def test_tls_settings_name_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together"):
        tls_settings(temporal_tls_cert=str(tmp_path / "client.pem"))
    settings = tls_settings(temporal_tls_ca=str(tmp_path / "missing-ca.pem"))
    assert settings.temporal_tls_enabled
    assert not tls_settings().temporal_tls_enabled

    with pytest.raises(TemporalTLSError, match=r"TEMPORAL_TLS_CA .*missing-ca\.pem"):
        tls_config(settings)


def test_production_without_tls_to_temporal_is_said_out_loud(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = tls_settings(
        environment="production",
        database_url="postgresql://backoffice_app:pw@db/backoffice",
        temporal_address="temporal.internal:7233",
        secure_cookies="true",
    )
    with caplog.at_level("WARNING", logger="core.temporal"):
        assert tls_config(settings) is False
    assert "temporal.internal:7233 without TLS" in caplog.text
