"""docker-compose.yaml against the code, without a Docker engine: the drift a real run would not notice or
would only show late (unknown variable names, the Airflow version, undocumented variables, secrets).

tests/test_compose_e2e.py builds and runs the stack for real; ``docker-compose config -q`` runs here when
compose is installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

import alerts_lib
from alerts_lib import formatters
from alerts_lib._config import build_plan
from alerts_lib.watch import _config as watch_config
from fastapi_app.registry import FileRegistry
from fastapi_app.settings import ServiceSettings
from tests.support.compose import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    PORT_VARIABLES,
    clean_env,
    compose_cli,
    compose_file,
    compose_services,
)
from tests.support.paths import APPS, REPO_ROOT

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
    return dict(interpolate(compose_file(), {"FASTAPI_TOKEN": TOKEN} if env is None else env))


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return dict(compose()["services"])


def env_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    assert isinstance(environment, dict), "use the mapping form of environment"
    return {k: str(v) for k, v in environment.items()}


def env_names_read(paths: list[Path]) -> set[str]:
    pattern = re.compile(r"os\.environ\.get\(\s*[\"'](\w+)[\"']|os\.environ\[\s*[\"'](\w+)[\"']\s*\]")
    return {a or b for path in paths for a, b in pattern.findall(path.read_text())}


# -- validity --------------------------------------------------------------------------------------------


def test_compose_file_is_valid(tmp_path: Path) -> None:
    raw = compose_file()
    assert set(raw) - {"services", "volumes", "networks", "secrets", "configs"} <= {
        k for k in raw if k.startswith("x-")
    }
    assert set(raw["services"]) == {"inbox", "fastapi", "airflow", "watch", "alertmanager"}
    cli = compose_cli()
    if cli is None:  # no compose CLI here: the structural tests in this module are the check
        return

    def config(env_text: str) -> subprocess.CompletedProcess[str]:
        env_file = tmp_path / "env"
        env_file.write_text(env_text)
        command = [*cli, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config", "-q"]
        return subprocess.run(command, capture_output=True, text=True, env=clean_env(), cwd=REPO_ROOT)

    ok = config(f"FASTAPI_TOKEN={TOKEN}\n")
    assert ok.returncode == 0, ok.stderr
    missing = config("")
    assert missing.returncode != 0 and "FASTAPI_TOKEN" in missing.stderr, "a missing token must stop compose"


def test_a_missing_token_stops_compose_with_a_clear_message() -> None:
    with pytest.raises(KeyError, match=r"FASTAPI_TOKEN: set FASTAPI_TOKEN in \.env"):
        compose({})


# -- images and ports ------------------------------------------------------------------------------------


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


def test_host_ports_come_from_env_and_airflow_tasks_do_not_depend_on_them() -> None:
    """Each service is published on 127.0.0.1 at its own ``.env`` port variable. Airflow's log links follow
    AIRFLOW_PORT, but its task runners reach the API server inside the container: were the Execution API
    URL derived from the host port (Airflow's default), a changed AIRFLOW_PORT would fail every task."""
    raw = compose_services()
    published = {name: str(mapping) for name, s in raw.items() for mapping in s.get("ports", [])}
    container_port = {name: int(m.rsplit(":", 1)[1]) for name, m in published.items()}
    used = []
    for name, mapping in published.items():
        match = re.fullmatch(r"127\.0\.0\.1:\$\{(\w+):-(\d+)\}:(\d+)", mapping)
        assert match, f"{name} publishes {mapping!r}: only on 127.0.0.1, at a port variable with a default"
        used.append(match[1])
    assert sorted(used) == sorted(PORT_VARIABLES), "one port variable per published service"
    airflow = {k: str(v) for k, v in raw["airflow"]["environment"].items()}
    assert airflow["AIRFLOW__API__BASE_URL"] == "http://localhost:${AIRFLOW_PORT:-8080}"
    port = container_port["airflow"]
    assert airflow["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"http://localhost:{port}/execution/"


# -- wiring ----------------------------------------------------------------------------------------------


def test_services_start_only_once_their_dependencies_are_healthy(services: dict[str, Any]) -> None:
    assert set(services["fastapi"]["depends_on"]) == {"inbox", "alertmanager"}
    assert set(services["airflow"]["depends_on"]) == {"inbox", "alertmanager", "fastapi"}
    assert set(services["watch"]["depends_on"]) == {"fastapi", "airflow"}
    assert set(services["alertmanager"]["depends_on"]) == {"inbox"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no healthcheck"
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert spec == {"condition": "service_healthy"}, f"{name} → {dependency}"


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
    volumes = compose()["volumes"]
    mounted = ("fastapi", "airflow")
    for variable in ("MODEL_REGISTRY_DIR", "ALERTS_SPOOL_DIR"):  # the registry and the durable spool
        path = fastapi_env[variable]
        assert airflow_env[variable] == path, f"{variable} differs between fastapi and airflow"
        mounts = [[v.split(":")[0] for v in services[name]["volumes"] if v.endswith(":" + path)] for name in mounted]
        assert mounts[0] == mounts[1] and mounts[0][0] in volumes, f"{path} must be one named volume in both"


def test_the_watch_watches_the_stack_by_service_name_and_probes_itself(services: dict[str, Any]) -> None:
    """Its configuration parses as the watch parses it, and it watches the names compose gives the services."""
    watch = services["watch"]
    assert watch["build"] == services["fastapi"]["build"], "the model service's image"
    assert watch["command"] == ["python", "-m", "alerts_lib", "watch"]
    assert watch["healthcheck"]["test"] == ["CMD", "python", "-m", "alerts_lib", "watch", "--probe"]
    config = watch_config.from_args(argparse.Namespace(), env_of(watch))
    watch_config.validate(config)
    assert config.airflow == "http://airflow:8080" and config.airflow_user is None, "GET /auth/token, no user"
    assert {t.name: t.url for t in config.http} == {
        "model": "http://fastapi:8000/health",
        "alertmanager": "http://alertmanager:9093/-/healthy",
    }
    assert config.interval == 10


def test_every_alerting_service_routes_with_the_compose_config(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same ALERTS_CONFIG everywhere: everything to the inbox, critical alerts to Alertmanager too."""
    target = ":/etc/alerts_lib/alerts.toml:ro"
    mounts = {name: [v for v in s.get("volumes", []) if v.endswith(target)] for name, s in services.items()}
    assert {name for name, m in mounts.items() if m} == {"fastapi", "airflow", "watch"}
    for name in ("fastapi", "airflow", "watch"):
        assert env_of(services[name])["ALERTS_CONFIG"] == "/etc/alerts_lib/alerts.toml", name
    source = REPO_ROOT / mounts["watch"][0].split(":")[0]
    for key, value in env_of(services["watch"]).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ALERTS_CONFIG", str(source))
    plan = build_plan(alerts_lib.Settings())
    assert not plan.problems, plan.problems
    assert {name: d.kind for name, d in plan.destinations.items()} == {"inbox": "slack", "am": "alertmanager"}
    for alert, expected in (
        (formatters.airflow_event("dag", task_id="task"), ["inbox", "am"]),
        (formatters.alert("down", severity="critical", name="ServiceDown"), ["inbox", "am"]),
        (formatters.alert("degraded", severity="warning"), ["inbox"]),
        (None, ["inbox"]),
    ):
        assert [d.name for d in plan.targets(alert, "local")] == expected, alert


def test_alertmanager_posts_to_the_inbox_and_is_published(services: dict[str, Any]) -> None:
    alertmanager = services["alertmanager"]
    assert alertmanager["build"]["dockerfile"] == "docker/alertmanager.Dockerfile"
    config = yaml.safe_load((REPO_ROOT / "deploy/alertmanager/alertmanager.yml").read_text())
    [receiver] = config["receivers"]
    assert urlsplit(receiver["slack_configs"][0]["api_url"]).netloc == "inbox:8025"
    mounted = {v.split(":")[1] for v in alertmanager["volumes"]}
    assert mounted == {"/etc/alertmanager/alertmanager.yml", "/etc/alertmanager/templates/slack.tmpl"}
    assert "/-/healthy" in " ".join(alertmanager["healthcheck"]["test"])


def test_alertmanager_links_point_where_a_browser_on_the_host_reaches_it() -> None:
    """Its notifications' title links to its external URL; without one it is the container's own host name."""
    [external] = [
        f
        for f in compose({"FASTAPI_TOKEN": TOKEN, "ALERTMANAGER_PORT": "19093"})["services"]["alertmanager"]["command"]
        if f.startswith("--web.external-url=")
    ]
    assert external == "--web.external-url=http://localhost:19093"
    image = (REPO_ROOT / "docker/alertmanager.Dockerfile").read_text()
    assert '"--web.listen-address=:9093", "--cluster.listen-address="' in image, "the command repeats the image's flags"


# -- secrets ---------------------------------------------------------------------------------------------


def test_no_secret_is_committed_and_every_variable_is_documented() -> None:
    raw = COMPOSE_FILE.read_text()
    example = ENV_EXAMPLE.read_text()
    dockerfiles = "".join(p.read_text() for p in (REPO_ROOT / "docker").glob("*.Dockerfile"))
    for text in (raw, example, dockerfiles):
        assert "hooks.slack.com" not in text
    assert re.search(r"FASTAPI_TOKEN: \$\{FASTAPI_TOKEN:\?", raw), "the token must be required, never defaulted"
    values = dict(re.findall(r"^(\w+)=(.*)$", example, re.M))
    assert values["FASTAPI_TOKEN"] == "" and values["SLACK_FORWARD_URL"] == ""
    for name in set(INTERPOLATION.findall(raw)):
        assert re.search(rf"^#? ?{name[0]}=", example, re.M), f"{name[0]} is not documented in .env.example"
    dockerignored = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in dockerignored, ".env must never be copied into an image"
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
