"""The production compose file renders: every service is there, secrets are required.

Only `docker compose config` runs (no engine needed). Uses the Docker CLI's compose plugin,
or the standalone `docker-compose` when the plugin is missing; skips only when neither
exists on this machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SECRETS = {
    "POSTGRES_PASSWORD": "dummy-superuser-pw",
    "BACKOFFICE_OWNER_PASSWORD": "dummy-owner-pw",
    "BACKOFFICE_APP_PASSWORD": "dummy-app-pw",
    "TEMPORAL_DB_PASSWORD": "dummy-temporal-pw",
}
SERVICES = {
    "postgres",
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
