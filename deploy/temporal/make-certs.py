"""One-shot job (docker-compose.yml `temporal-certs`): the CA and certificates of Temporal's mTLS.

Runs in the backoffice image (Python + `cryptography`); writes three directories, each a
volume of its own so every container mounts only what it needs:

    CA_DIR      ca.pem, ca.key (0600)         the CA; mounted by this job only
    SERVER_DIR  ca.pem, server.pem, server.key  the Temporal server (frontend + internode)
    CLIENT_DIR  ca.pem, client.pem, client.key  web, workers, the UI and the admin tools

Idempotent: what exists and is valid for more than RENEW_DAYS is kept, so every
`docker compose up` runs it at no cost. A leaf certificate closer to its end than
RENEW_DAYS is reissued by the same CA (the server reloads its files every
TEMPORAL_TLS_REFRESH_INTERVAL; restart web and workers). ROTATE=leaves reissues both leaf
certificates now; ROTATE=all makes a new CA too (then restart every Temporal client and
the server at once: old client certificates stop being accepted). See docs/production.md.

Environment: CA_DIR, SERVER_DIR, CLIENT_DIR (default /tls/ca, /tls/server, /tls/client),
SERVER_NAMES (default "temporal,localhost,127.0.0.1": the names clients dial; the first is
TEMPORAL_TLS_SERVER_NAME), CLIENT_NAME (default "backoffice"), CA_DAYS (3650),
CERT_DAYS (365), RENEW_DAYS (30), ROTATE ("", "leaves" or "all").
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.UTC)


def log(message: str) -> None:
    print(f"temporal-certs: {message}", flush=True)


def write(path: Path, data: bytes, mode: int) -> None:
    """Replace `path` atomically with `data` at `mode` (whatever the umask)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), mode)
        out.write(data)
    os.replace(tmp, path)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load(cert: Path, key: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    if not (cert.exists() and key.exists()):
        return None
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    return x509.load_pem_x509_certificate(cert.read_bytes()), private


def fresh(cert: x509.Certificate, renew_days: int) -> bool:
    return cert.not_valid_after_utc - NOW > dt.timedelta(days=renew_days)


def make_ca(days: int) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "backoffice"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"backoffice Temporal CA {NOW:%Y-%m-%d}"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(minutes=5))
        .not_valid_after(NOW + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_leaf(
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    common_name: str,
    *,
    names: list[str],
    usages: list[x509.ObjectIdentifier],
    days: int,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_cert, ca_key = ca
    key = new_key()
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "backoffice"),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(minutes=5))
        .not_valid_after(min(NOW + dt.timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if alt:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def signed_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca_cert)
    except Exception:  # another issuer, a bad signature: either way, not ours
        return False
    return True


def main() -> int:
    ca_dir = Path(os.environ.get("CA_DIR", "/tls/ca"))
    server_dir = Path(os.environ.get("SERVER_DIR", "/tls/server"))
    client_dir = Path(os.environ.get("CLIENT_DIR", "/tls/client"))
    server_names = [
        n.strip()
        for n in os.environ.get("SERVER_NAMES", "temporal,localhost,127.0.0.1").split(",")
        if n.strip()
    ]
    client_name = os.environ.get("CLIENT_NAME", "backoffice")
    ca_days = int(os.environ.get("CA_DAYS", "3650"))
    cert_days = int(os.environ.get("CERT_DAYS", "365"))
    renew_days = int(os.environ.get("RENEW_DAYS", "30"))
    rotate = os.environ.get("ROTATE", "").strip().lower()
    if rotate not in ("", "leaves", "all"):
        print(f"ROTATE must be empty, 'leaves' or 'all', not {rotate!r}", file=sys.stderr)
        return 2
    if not server_names:
        print("SERVER_NAMES is empty", file=sys.stderr)
        return 2
    for folder in (ca_dir, server_dir, client_dir):
        folder.mkdir(parents=True, exist_ok=True)

    ca = None if rotate == "all" else load(ca_dir / "ca.pem", ca_dir / "ca.key")
    if ca is None or not fresh(ca[0], renew_days):
        ca = make_ca(ca_days)
        write(ca_dir / "ca.key", key_pem(ca[1]), 0o600)
        write(ca_dir / "ca.pem", ca[0].public_bytes(serialization.Encoding.PEM), 0o644)
        log(f"made a new CA, valid until {ca[0].not_valid_after_utc:%Y-%m-%d}")
    ca_pem = ca[0].public_bytes(serialization.Encoding.PEM)

    # Leaf keys are 0644: each lives in a volume only its own containers mount, and those
    # images run as users of their own (isolation by mount, not by owner).
    leaves: tuple[tuple[Path, str, str, list[str], list[x509.ObjectIdentifier]], ...] = (
        (
            server_dir,
            "server",
            server_names[0],
            server_names,
            # The server presents it to clients and, between its own services, as a client.
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        ),
        (client_dir, "client", client_name, [], [ExtendedKeyUsageOID.CLIENT_AUTH]),
    )
    for folder, stem, common_name, names, usages in leaves:
        current = None if rotate else load(folder / f"{stem}.pem", folder / f"{stem}.key")
        wanted_names = sorted(names)
        if current is not None:
            cert = current[0]
            try:
                alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                held = sorted(str(v) for v in alt.get_values_for_type(x509.DNSName)) + sorted(
                    str(v) for v in alt.get_values_for_type(x509.IPAddress)
                )
            except x509.ExtensionNotFound:
                held = []
            if (
                fresh(cert, renew_days)
                and signed_by(cert, ca[0])
                and sorted(held) == sorted(str(n) for n in wanted_names)
            ):
                write(folder / "ca.pem", ca_pem, 0o644)
                log(f"{stem} certificate kept (valid until {cert.not_valid_after_utc:%Y-%m-%d})")
                continue
        cert, key = make_leaf(ca, common_name, names=names, usages=usages, days=cert_days)
        write(folder / f"{stem}.key", key_pem(key), 0o644)
        write(folder / f"{stem}.pem", cert.public_bytes(serialization.Encoding.PEM), 0o644)
        write(folder / "ca.pem", ca_pem, 0o644)
        log(f"issued the {stem} certificate for {common_name} ({', '.join(names) or 'client'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
