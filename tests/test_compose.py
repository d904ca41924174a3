"""docker-compose.yaml, checked without a Docker engine: it is valid, and every file, build context,
port, URL and variable it references exists and agrees with the code it runs.

``docker-compose config -q`` (Debian's docker-compose) or ``docker compose config -q`` also validates it
when installed; the structural checks below always run.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import yaml

import alerts_lib
import fastapi_app.main
import inbox
import inbox.__main__
from alerts_lib._settings import load_settings
from demo.procs import Child, free_port, running_inbox
from fastapi_app.registry import FileRegistry
from fastapi_app.settings import ServiceSettings
from tests.support.paths import APPS, REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yaml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
TOKEN = "compose-test-token"
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?::(?P<op>[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}``, applied to every string."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def resolve(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op == "?":
            raise KeyError(f"{name}: {arg}")
        return arg if op == "-" else ""

    return INTERPOLATION.sub(resolve, value)


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    raw = yaml.safe_load(COMPOSE.read_text())
    return dict(interpolate(raw, {"FASTAPI_TOKEN": TOKEN} if env is None else env))


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return dict(compose()["services"])


def env_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    assert isinstance(environment, dict), "use the mapping form of environment"
    return {k: str(v) for k, v in environment.items()}


def container_port(service: dict[str, Any]) -> int:
    [mapping] = service["ports"]
    return int(str(mapping).rsplit(":", 1)[1])


def healthcheck_url(service: dict[str, Any]) -> str:
    test = " ".join(service["healthcheck"]["test"])
    match = re.search(r"https?://[^\s'\"]+", test)
    assert match, f"no URL in healthcheck {test!r}"
    return match.group(0)


def routes(app: Any) -> set[str]:
    """The app's documented paths (OpenAPI), the public view of what it serves."""
    return set(app.openapi()["paths"])


def env_names_read(paths: list[Path]) -> set[str]:
    pattern = re.compile(r"os\.environ\.get\(\s*[\"'](\w+)[\"']|os\.environ\[\s*[\"'](\w+)[\"']\s*\]")
    return {a or b for path in paths for a, b in pattern.findall(path.read_text())}


def compose_cli() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


# -- validity --------------------------------------------------------------------------------------------


def test_compose_file_is_valid(tmp_path: Path) -> None:
    raw = yaml.safe_load(COMPOSE.read_text())
    assert set(raw) - {"services", "volumes", "networks", "secrets", "configs"} <= {
        k for k in raw if k.startswith("x-")
    }
    assert set(raw["services"]) == {"inbox", "fastapi", "airflow"}
    cli = compose_cli()
    if cli is None:  # no compose CLI here: the structural tests in this module are the check
        return
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}

    def config(env_text: str) -> subprocess.CompletedProcess[str]:
        env_file = tmp_path / "env"
        env_file.write_text(env_text)
        command = [*cli, "--env-file", str(env_file), "-f", str(COMPOSE), "config", "-q"]
        return subprocess.run(command, capture_output=True, text=True, env=clean, cwd=REPO_ROOT)

    ok = config(f"FASTAPI_TOKEN={TOKEN}\n")
    assert ok.returncode == 0, ok.stderr
    missing = config("")
    assert missing.returncode != 0 and "FASTAPI_TOKEN" in missing.stderr, "a missing token must stop compose"


def test_a_missing_token_stops_compose_with_a_clear_message() -> None:
    with pytest.raises(KeyError, match=r"FASTAPI_TOKEN: set FASTAPI_TOKEN in \.env"):
        compose({})


# -- files and images -----------------------------------------------------------------------------------


def dockerignored() -> set[str]:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith(("#", "!"))}


@pytest.mark.parametrize("name", ["inbox", "fastapi", "airflow"])
def test_build_context_dockerfile_target_and_copied_files_exist(services: dict[str, Any], name: str) -> None:
    build = services[name]["build"]
    context = REPO_ROOT / build["context"]
    dockerfile = context / build["dockerfile"]
    assert context.is_dir() and dockerfile.is_file()
    text = dockerfile.read_text()
    if "target" in build:
        assert re.search(rf"^FROM \S+ AS {build['target']}$", text, re.M), f"no stage {build['target']}"
    ignored = dockerignored()
    for line in re.findall(r"^COPY (.+)$", text, re.M):
        parts = [p for p in line.split() if not p.startswith("--")]
        for source in parts[:-1]:
            assert (context / source).exists(), f"{dockerfile.name} copies {source}, which does not exist"
            assert source not in ignored, f"{source} is excluded by .dockerignore"
    for volume in services[name].get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("."):
            assert (REPO_ROOT / source).is_dir(), f"{name} mounts {source}, which does not exist"


def test_images_install_what_their_commands_import() -> None:
    service_image = (REPO_ROOT / "docker/service.Dockerfile").read_text()
    assert "pip install . ./apps" in service_image
    for module in ("inbox", "fastapi_app", "demo.seed"):
        assert f"python -m {module}" in service_image
        assert importlib.util.find_spec(module) is not None
    for project, packages in ((REPO_ROOT, ("alerts_lib",)), (APPS, ("fastapi_app", "inbox", "demo"))):
        pyproject = (project / "pyproject.toml").read_text()
        for package in packages:
            assert f'"{package}*"' in pyproject, f"{package} is not in {project.name}'s installed packages"


def test_airflow_is_the_tested_version_with_the_project_and_dags(services: dict[str, Any]) -> None:
    spec = importlib.util.spec_from_file_location("airflow_venv", REPO_ROOT / "scripts/airflow_venv.py")
    assert spec and spec.loader
    airflow_venv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(airflow_venv)
    airflow = services["airflow"]
    assert airflow["build"]["args"]["AIRFLOW_VERSION"] == airflow_venv.AIRFLOW_VERSION
    dockerfile = (REPO_ROOT / airflow["build"]["dockerfile"]).read_text()
    assert f"ARG AIRFLOW_VERSION={airflow_venv.AIRFLOW_VERSION}" in dockerfile
    assert "FROM apache/airflow:${AIRFLOW_VERSION}" in dockerfile
    install = 'pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" /opt/alerts_lib /opt/alerts_lib/apps'
    assert install in dockerfile, "Airflow pinned in the same command as the library and the apps (for the DAGs)"
    assert airflow["command"] in ("standalone", ["standalone"])
    assert "./dags:/opt/airflow/dags:ro" in airflow["volumes"], "dags/ mounted where Airflow looks"
    assert "AIRFLOW__CORE__DAGS_FOLDER" not in env_of(airflow)
    assert list((REPO_ROOT / "dags").glob("*.py")), "no DAG files to mount"


# -- wiring ----------------------------------------------------------------------------------------------


def test_services_start_only_once_their_dependencies_are_healthy(services: dict[str, Any]) -> None:
    assert set(services["fastapi"]["depends_on"]) == {"inbox"}
    assert set(services["airflow"]["depends_on"]) == {"inbox", "fastapi"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no healthcheck"
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert spec == {"condition": "service_healthy"}, f"{name} → {dependency}"


def test_ports_and_healthchecks_agree_with_the_code(services: dict[str, Any]) -> None:
    for name, service in services.items():
        assert str(service["ports"][0]).startswith("127.0.0.1:"), f"{name} is published beyond localhost"
    inbox_svc, fastapi_svc, airflow_svc = services["inbox"], services["fastapi"], services["airflow"]

    assert container_port(inbox_svc) == inbox.__main__.DEFAULT_PORT == int(env_of(inbox_svc)["INBOX_PORT"])
    url = urlsplit(healthcheck_url(inbox_svc))
    assert url.port == container_port(inbox_svc) and url.path in routes(inbox.create_app())

    assert container_port(fastapi_svc) == int(env_of(fastapi_svc)["PORT"])
    url = urlsplit(healthcheck_url(fastapi_svc))
    assert url.port == container_port(fastapi_svc) and url.path in routes(fastapi_app.main.app)

    url = urlsplit(healthcheck_url(airflow_svc))
    assert url.port == container_port(airflow_svc) == 8080 and url.path == "/api/v2/monitor/health"
    base = urlsplit(env_of(airflow_svc)["AIRFLOW__API__BASE_URL"])
    host_port = int(str(airflow_svc["ports"][0]).split(":")[1])
    assert (base.hostname, base.port) == ("localhost", host_port), "log links must open from the host"


def test_alerts_go_to_the_inbox_and_reloads_to_the_service(services: dict[str, Any]) -> None:
    hooks = {env_of(s)["SLACK_WEBHOOK_URL"] for s in (services["fastapi"], services["airflow"])}
    [hook] = hooks
    url = urlsplit(hook)
    assert (url.hostname, url.port) == ("inbox", container_port(services["inbox"]))
    with running_inbox() as live:  # the real inbox accepts that path
        response = requests.post(live.base_url + url.path, json={"text": "compose wiring"}, timeout=5)
        assert (response.status_code, response.text) == (200, "ok")

    reload_url = urlsplit(env_of(services["airflow"])["FASTAPI_RELOAD_URL"])
    assert (reload_url.hostname, reload_url.port) == ("fastapi", container_port(services["fastapi"]))
    assert "/variant/{alias}/reload" in routes(fastapi_app.main.app)


def test_the_webhook_compose_gives_is_accepted_by_alerts_lib(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """http://inbox:8025 is not loopback: compose opts in with ALERTS_ALLOW_HTTP, or alerts would only be logged."""
    for name in ("fastapi", "airflow"):
        for key, value in env_of(services[name]).items():
            if key == "SLACK_WEBHOOK_URL" or key.startswith("ALERTS_"):
                monkeypatch.setenv(key, value)
        assert load_settings().webhook == env_of(services[name])["SLACK_WEBHOOK_URL"], name


def test_service_environment_is_what_the_code_reads(services: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    fastapi_env = env_of(services["fastapi"])
    known = {
        *(str(f.validation_alias) for f in ServiceSettings.model_fields.values()),
        "SLACK_WEBHOOK_URL",
        *(f"ALERTS_{name.upper()}" for name in alerts_lib.Settings.model_fields),
        *env_names_read([APPS / "fastapi_app/__main__.py", APPS / "fastapi_app/registry.py"]),
    }
    assert set(fastapi_env) <= known, f"unknown variables: {set(fastapi_env) - known}"
    for key, value in fastapi_env.items():
        monkeypatch.setenv(key, value)
    settings = ServiceSettings()  # the values are valid, not just the names
    assert settings.reload_auth == "token" and settings.model_registry_dir == "/registry"

    inbox_env = env_of(services["inbox"])
    assert set(inbox_env) <= env_names_read([APPS / "inbox/__main__.py"])


def test_airflow_gets_every_variable_the_dags_read(services: dict[str, Any]) -> None:
    airflow_env = env_of(services["airflow"])
    needed = env_names_read(sorted((REPO_ROOT / "dags").glob("*.py"))) | {
        "MODEL_REGISTRY_DIR",
        "SLACK_WEBHOOK_URL",
    }
    assert needed <= set(airflow_env), f"missing: {needed - set(airflow_env)}"
    fastapi_env = env_of(services["fastapi"])
    for shared in ("FASTAPI_TOKEN", "MODEL_NAME", "DEFAULT_ALIAS", "MODEL_REGISTRY_DIR", "SLACK_WEBHOOK_URL"):
        assert airflow_env[shared] == fastapi_env[shared], f"{shared} differs between fastapi and airflow"
    assert airflow_env["FASTAPI_TOKEN"] == TOKEN
    registry = fastapi_env["MODEL_REGISTRY_DIR"]
    volumes = compose()["volumes"]
    for name in ("fastapi", "airflow"):
        [mount] = [v for v in services[name]["volumes"] if v.endswith(":" + registry)]
        assert mount.split(":")[0] in volumes, "the registry must be one shared named volume"


# -- secrets ---------------------------------------------------------------------------------------------


def test_no_secret_is_committed_and_every_variable_is_documented() -> None:
    raw = COMPOSE.read_text()
    example = ENV_EXAMPLE.read_text()
    dockerfiles = "".join(p.read_text() for p in (REPO_ROOT / "docker").glob("*.Dockerfile"))
    for text in (raw, example, dockerfiles):
        assert "hooks.slack.com" not in text
    assert re.search(r"FASTAPI_TOKEN: \$\{FASTAPI_TOKEN:\?", raw), "the token must be required, never defaulted"
    values = dict(re.findall(r"^(\w+)=(.*)$", example, re.M))
    assert values["FASTAPI_TOKEN"] == "" and values["SLACK_FORWARD_URL"] == ""
    for name in set(INTERPOLATION.findall(raw)):
        assert re.search(rf"^#? ?{name[0]}=", example, re.M), f"{name[0]} is not documented in .env.example"
    assert ".env" in dockerignored(), ".env must never be copied into an image"
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO_ROOT)
    assert ignored.returncode == 0, ".env (where FASTAPI_TOKEN and SLACK_FORWARD_URL go) must be git-ignored"


# -- the fastapi image's startup ------------------------------------------------------------------------


def test_seed_step_fills_an_empty_registry_once(tmp_path: Path) -> None:
    env = {"MODEL_REGISTRY_DIR": str(tmp_path), "MODEL_NAME": "my_model", "MODEL_ALIASES": "A,B", "PATH": ""}
    for run in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "demo.seed"], env=env, cwd=REPO_ROOT, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert ("left as it is" in done.stderr) == (run == 1)
    registry = FileRegistry(tmp_path)
    assert registry.aliases("my_model") == {"A": 1, "B": 2}
    assert registry.list_versions("my_model") == [1, 2]


# -- compose up, emulated: the images' commands with compose's environment, on 127.0.0.1 -----------------


def stage(dockerfile: Path, target: str) -> tuple[dict[str, str], list[str]]:
    """(ENV, CMD) of a Dockerfile stage, ENV inherited from the stage it is built FROM."""
    text = re.sub(r"\\\n\s*", " ", dockerfile.read_text())
    stages: dict[str, tuple[str | None, list[str]]] = {}
    current = ""
    for line in text.splitlines():
        if match := re.match(r"FROM (\S+) AS (\w+)", line):
            current = match[2]
            stages[current] = (match[1] if match[1] in stages else None, [])
        elif current:
            stages[current][1].append(line)
    parent, lines = stages[target]
    env, cmd = stage(dockerfile, parent) if parent else ({}, [])
    for line in lines:
        if line.startswith("ENV "):
            env.update(dict(re.findall(r"(\w+)=(\S+)", line)))
        elif line.startswith("CMD "):
            cmd = yaml.safe_load(line[4:])
    return env, cmd


def local(command: list[str]) -> list[str]:
    """A container command run here: ``python`` is this interpreter."""
    python = re.compile(r"\bpython(?= -m )")
    return [sys.executable if part == "python" else python.sub(sys.executable, part) for part in command]


def wait_for_text(inbox_url: str, expected: str, timeout: float = 20) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        texts = [m["text"] for m in requests.get(inbox_url + "/api/messages", timeout=5).json()["messages"]]
        if any(expected in t for t in texts) or time.monotonic() > deadline:
            return texts
        time.sleep(0.1)


def test_compose_up_emulated_brings_the_service_up_alerting_into_the_inbox(
    services: dict[str, Any], tmp_path: Path
) -> None:
    """What `docker compose up` runs for inbox and fastapi, minus Docker: their images' commands with the
    environment compose gives them, then their healthchecks. Only hosts, ports and paths are made local."""
    ports = {"inbox": free_port(), "fastapi": free_port()}

    def localise(text: str) -> str:
        for name, port in ports.items():
            for host in (name, "127.0.0.1"):
                text = text.replace(f"{host}:{container_port(services[name])}", f"127.0.0.1:{port}")
        return text

    children: list[Child] = []
    try:
        for name in ("inbox", "fastapi"):
            build = services[name]["build"]
            image_env, cmd = stage(REPO_ROOT / build["dockerfile"], build["target"])
            env = {k: localise(v) for k, v in {**image_env, **env_of(services[name])}.items()}
            env.update(
                {
                    "PATH": os.environ.get("PATH", ""),
                    "INBOX_HOST": "127.0.0.1",
                    "HOST": "127.0.0.1",
                    "INBOX_PORT" if name == "inbox" else "PORT": str(ports[name]),
                    "MODEL_REGISTRY_DIR": str(tmp_path / "registry"),
                }
            )
            child = Child(name, local(cmd), env, localise(healthcheck_url(services[name])), tmp_path / f"{name}.log")
            children.append(child)
            child.wait_ready(60)
            healthcheck = [localise(part) for part in services[name]["healthcheck"]["test"][1:]]
            check = subprocess.run(local(healthcheck), capture_output=True, text=True, timeout=30)
            assert check.returncode == 0, f"{name}'s healthcheck fails: {check.stderr}"

        texts = wait_for_text(f"http://127.0.0.1:{ports['inbox']}", "[FastAPI] started")
        assert any("[FastAPI] started: my_model@A, my_model@B · local" in t for t in texts), texts
        service = f"http://127.0.0.1:{ports['fastapi']}"
        health = requests.get(service + "/health", timeout=5).json()
        assert (health["status"], health["loaded"]) == ("ok", ["A", "B"]), "the seed step filled the registry"
        reload = requests.post(service + "/variant/A/reload", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert reload.status_code == 200, "the token compose gives Airflow is the one the service accepts"
    finally:
        for child in reversed(children):
            child.stop()
