"""docker-compose.yaml and the compose command line, for the structural and the real compose tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.paths import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
# Host ports, offered by .env.example.
PORT_VARIABLES = ("INBOX_PORT", "FASTAPI_PORT", "AIRFLOW_PORT", "ALERTMANAGER_PORT")


def compose_file() -> dict[str, Any]:
    """docker-compose.yaml as written (no interpolation)."""
    return dict(yaml.safe_load(COMPOSE_FILE.read_text()))


def compose_services() -> dict[str, Any]:
    """The services of docker-compose.yaml as written (no interpolation)."""
    return dict(compose_file()["services"])


def compose_cli() -> list[str] | None:
    """Compose v1 (Debian's ``docker-compose``) or v2 (``docker compose``), whichever is installed."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def clean_env() -> dict[str, str]:
    """The environment for compose commands: none of the developer's variables, which would override the
    env file (compose prefers the process environment), only what finds the Docker engine."""
    keep = ("PATH", "HOME", "LANG", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY")
    return {k: v for k, v in os.environ.items() if k in keep}


def env_file_from_example(values: dict[str, str], example: Path = ENV_EXAMPLE) -> str:
    """``.env.example`` as a user fills it in: each ``NAME=`` or ``# NAME=default`` line of ``values`` set."""
    lines = example.read_text().splitlines()
    missing = set(values)
    for i, line in enumerate(lines):
        name = line.lstrip("# ").partition("=")[0]
        if name in missing and "=" in line and " " not in name:
            lines[i] = f"{name}={values[name]}"
            missing.discard(name)
    assert not missing, f".env.example does not offer {sorted(missing)}"
    return "\n".join(lines) + "\n"
