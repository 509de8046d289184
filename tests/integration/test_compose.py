"""The production compose file renders: every service is there, secrets are required,
Temporal's frontend wants client certificates and its UI is read-only behind the web app.

Only `docker compose config` runs (no engine needed). Uses the Docker CLI's compose plugin,
or the standalone `docker-compose` when the plugin is missing; skips only when neither
exists on this machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SECRETS = {
    "POSTGRES_PASSWORD": "dummy-superuser-pw",
    "BACKOFFICE_OWNER_PASSWORD": "dummy-owner-pw",
    "BACKOFFICE_APP_PASSWORD": "dummy-app-pw",
    "TEMPORAL_DB_PASSWORD": "dummy-temporal-pw",
    "CODEC_KEYS_FILE": "/srv/backoffice/dummy-codec.keys",
}
SERVICES = {
    "postgres",
    "temporal-certs",
    "temporal-schema",
    "temporal",
    "temporal-search-attributes",
    "temporal-ui",
    "migrate",
    "web",
    "worker",
}


def compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker is None and shutil.which("docker-compose") is None:
        pytest.skip("the docker CLI is not installed on this machine")
    if docker is not None:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone is not None:
        return [standalone]
    pytest.skip(
        "the docker CLI has no compose plugin (`docker compose`) and `docker-compose` is "
        "not installed either"
    )


def run_config(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(
        [*compose_command(), "-f", str(COMPOSE_FILE), "config", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**clean, **env},
        timeout=60,
    )


def test_compose_file_renders_every_service_with_the_required_variables_set() -> None:
    result = run_config(env=SECRETS)
    assert result.returncode == 0, result.stderr
    listed = run_config("--services", env=SECRETS)
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) == SERVICES

    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["web"]["command"] == ["web"]
    assert services["migrate"]["command"] == ["migrate"]
    for name in ("web", "worker", "migrate"):
        env = services[name]["environment"]
        assert env["ENVIRONMENT"] == "production"
        assert env["SECURE_COOKIES"] == "true"
        assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
        assert env["DATABASE_URL"].startswith("postgresql://backoffice_app:dummy-app-pw@postgres")


def test_only_migrate_and_postgres_receive_the_owner_password() -> None:
    result = run_config(env=SECRETS)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    holders = {
        name
        for name, service in services.items()
        if SECRETS["BACKOFFICE_OWNER_PASSWORD"] in str(service.get("environment", {}))
    }
    assert holders == {"migrate", "postgres"}
    assert "DATABASE_ADMIN_URL" not in services["web"]["environment"]
    assert "DATABASE_ADMIN_URL" not in services["worker"]["environment"]


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_refuses_to_render_without_a_required_secret(missing: str) -> None:
    result = run_config(env={k: v for k, v in SECRETS.items() if k != missing})
    assert result.returncode != 0
    assert missing in result.stderr


# ----------------------------------------------------------------------------- mTLS and the UI
def rendered() -> dict[str, Any]:
    result = run_config(env=SECRETS)
    assert result.returncode == 0, result.stderr
    services: dict[str, Any] = yaml.safe_load(result.stdout)["services"]
    return services


def mounts(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Target -> (source, read-only) of a service's volumes, as compose v1 or v2 renders them."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            found[target] = (source, "ro" in mode)
        else:
            found[volume["target"]] = (volume["source"], bool(volume.get("read_only")))
    return found


def holders(services: dict[str, Any], volume: str) -> set[str]:
    return {
        name
        for name, service in services.items()
        if any(source == volume for source, _ in mounts(service).values())
    }


def test_temporal_frontend_requires_client_certificates_from_the_job() -> None:
    services = rendered()
    temporal = services["temporal"]
    env = temporal["environment"]
    assert env["TEMPORAL_TLS_REQUIRE_CLIENT_AUTH"] == "true"
    for name in ("SERVER_CA_CERT", "SERVER_CERT", "SERVER_KEY", "FRONTEND_CERT", "FRONTEND_KEY"):
        assert env[f"TEMPORAL_TLS_{name}"].startswith("/etc/temporal/tls/"), name
    assert env["TEMPORAL_TLS_CLIENT1_CA_CERT"] == env["TEMPORAL_TLS_SERVER_CA_CERT"]
    assert mounts(temporal)["/etc/temporal/tls"] == ("temporal-server-tls", True)
    assert temporal["depends_on"]["temporal-certs"]["condition"] == (
        "service_completed_successfully"
    )
    job = services["temporal-certs"]
    assert job["entrypoint"] == ["python", "/scripts/make-certs.py"]
    assert (ROOT / "deploy" / "temporal" / "make-certs.py").exists()
    # The CA key's volume is the job's alone; the server's key goes to the server only.
    assert holders(services, "temporal-ca") == {"temporal-certs"}
    assert holders(services, "temporal-server-tls") == {"temporal-certs", "temporal"}


def test_web_and_workers_present_client_certificates_and_hold_the_codec_keys() -> None:
    services = rendered()
    for name in ("web", "worker"):
        env = services[name]["environment"]
        assert env["TEMPORAL_TLS_CERT"] == "/run/temporal-tls/client.pem"
        assert env["TEMPORAL_TLS_KEY"] == "/run/temporal-tls/client.key"
        assert env["TEMPORAL_TLS_CA"] == "/run/temporal-tls/ca.pem"
        assert env["TEMPORAL_TLS_SERVER_NAME"] == "temporal"
        assert mounts(services[name])["/run/temporal-tls"] == ("temporal-client-tls", True)
        assert env["TEMPORAL_CODEC_KEY_FILE"] == "/run/secrets/temporal-codec-keys"
        assert "TEMPORAL_CODEC_KEYS" not in env  # a secret file, not an environment value
    # migrate talks to PostgreSQL only: no client certificate.
    assert "TEMPORAL_TLS_CERT" not in services["migrate"]["environment"]
    assert holders(services, "temporal-client-tls") == {
        "temporal-certs",
        "temporal-search-attributes",
        "temporal-ui",
        "web",
        "worker",
    }
    with_keys = {
        name
        for name, service in services.items()
        if any(
            (secret if isinstance(secret, str) else secret["source"]) == "temporal-codec-keys"
            for secret in service.get("secrets", [])
        )
    }
    assert with_keys == {"web", "worker", "migrate"}
    admin = services["temporal-search-attributes"]["environment"]
    assert admin["TEMPORAL_TLS_CLIENT_CERT_PATH"] == "/run/temporal-tls/client.pem"


def test_the_temporal_ui_is_read_only_decodes_through_the_app_and_is_not_published() -> None:
    services = rendered()
    ui = services["temporal-ui"]
    env = ui["environment"]
    assert env["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    for action in ("TERMINATE", "CANCEL", "SIGNAL", "RESET"):
        assert env[f"TEMPORAL_WORKFLOW_{action}_DISABLED"] == "true"
    assert env["TEMPORAL_BATCH_ACTIONS_DISABLED"] == "true"
    assert env["TEMPORAL_CODEC_ENDPOINT"] == "/codec"
    assert env["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"
    assert env["TEMPORAL_UI_PUBLIC_PATH"] == "/temporal"
    assert env["TEMPORAL_TLS_CERT"] == "/run/temporal-tls/client.pem"
    assert env["TEMPORAL_TLS_ENABLE_HOST_VERIFICATION"] == "true"
    assert "ports" not in ui  # reached only through the web app's /temporal/ proxy
    assert services["web"]["environment"]["TEMPORAL_UI_URL"] == "http://temporal-ui:8080"
    assert services["web"]["environment"]["TRUSTED_PROXIES"] == ""
