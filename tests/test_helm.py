"""The Kubernetes deployment, checked offline: charts/fastapi rendered and linted by Helm's own Go SDK (v4,
embedded in helm-python-sdk), every manifest validated against the Kubernetes schema of K8S_VERSION
(kubernetes-validate), and the values for the official Airflow chart checked against the keys that chart
documents (tests/data/airflow-chart-keys.txt, from its values.schema.json).

With AIRFLOW_CHART_TGZ=path/to/airflow-1.22.0.tgz (the chart's package) the official chart itself is also
rendered with our values; there is no network here to fetch it, so that test is skipped otherwise.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from demo.procs import Child, free_port, running_inbox

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "charts" / "fastapi"
VALUES = REPO / "values"
SEALED = REPO / "deploy" / "sealed-secrets"
AIRFLOW_KEYS = REPO / "tests" / "data" / "airflow-chart-keys.txt"
K8S_VERSION = "1.33.0"
ENVS = ("dev", "prod")
RELEASE = "fastapi"
PROBE = ["python", "-m", "alerts_lib", "watch", "--probe"]
# What a consumer reads from each Secret: the sealed example must carry that key.
SECRET_KEYS = {
    "fastapi-token": "FASTAPI_TOKEN",
    "slack-webhook": "SLACK_WEBHOOK_URL",
    "airflow-watch": "AIRFLOW_WATCH_PASSWORD",
    "airflow-metadata": "connection",
    "airflow-fernet-key": "fernet-key",
    "airflow-api-secret-key": "api-secret-key",
    "airflow-jwt": "jwt-secret",
}
# Things that are secrets when they appear in clear (a webhook token, a Teams signature, a JWT, ...).
SECRET_LIKE = {
    "Slack webhook": re.compile(r"hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/\w+"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "Teams signature": re.compile(r"[?&]sig=[^&\s\"']+"),
    "JWT": re.compile(r"\beyJ[\w-]{10,}\.[\w-]{10,}"),
    "credentials in a URL": re.compile(r"://[^/\s:@\"']+:[^/\s@\"']+@"),
    "hex token": re.compile(r"(?<![\w/-])[0-9a-fA-F]{32,}(?![\w-])"),
    "base64 blob": re.compile(r"(?<![\w/-])[A-Za-z0-9+/]{40,}={0,2}(?![\w-])"),
}
SECRET_ENV_NAME = re.compile(r"TOKEN|PASSWORD|WEBHOOK|SECRET|FERNET|JWT|CONNECTION", re.IGNORECASE)


def load_values(name: str) -> dict[str, Any]:
    return yaml.safe_load((VALUES / name).read_text())


def namespace(env: str) -> str:
    return f"ml-{env}"


def render(values: dict[str, Any], env: str) -> dict[str, str]:
    with helm.Chart.load(CHART) as chart:
        return chart.render(values, name=RELEASE, namespace=namespace(env))


def manifests(rendered: dict[str, str]) -> list[dict[str, Any]]:
    docs = []
    for path, text in rendered.items():
        if path.endswith(".yaml"):
            docs += [doc for doc in yaml.safe_load_all(text) if doc]
    return docs


class Release:
    """One environment's render: its manifests by kind and name, and its containers."""

    def __init__(self, env: str) -> None:
        self.env = env
        self.values = load_values(f"{env}.yaml")
        self.text = render(self.values, env)
        self.docs = manifests(self.text)

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [d for d in self.docs if d["kind"] == kind and d["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name} in {[(d['kind'], d['metadata']['name']) for d in self.docs]}"
        return found[0]

    def pod(self, deployment: str) -> dict[str, Any]:
        return self.get("Deployment", deployment)["spec"]["template"]["spec"]

    def container(self, deployment: str) -> dict[str, Any]:
        (main,) = self.pod(deployment)["containers"]
        return main

    def env_of(self, deployment: str) -> dict[str, str]:
        return {e["name"]: e.get("value") for e in self.container(deployment)["env"]}

    def secret_refs(self, deployment: str) -> list[str]:
        return [ref["secretRef"]["name"] for ref in self.container(deployment)["envFrom"]]

    def pods(self) -> Iterator[dict[str, Any]]:
        for doc in self.docs:
            if doc["kind"] == "Deployment":
                yield doc["spec"]["template"]["spec"]


@pytest.fixture(scope="module", params=ENVS)
def release(request: pytest.FixtureRequest) -> Release:
    return Release(request.param)


@pytest.fixture(scope="module")
def releases() -> dict[str, Release]:
    return {env: Release(env) for env in ENVS}


def secret_findings(text: str) -> list[str]:
    """What in ``text`` looks like a secret value, by kind (checksum annotations are sha256 digests, not secrets)."""
    found = []
    for line in text.splitlines():
        if "checksum/" in line:
            continue
        found += [f"{kind}: {line.strip()}" for kind, pattern in SECRET_LIKE.items() if pattern.search(line)]
    return found


# --- the chart -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_chart_lints_clean_with_each_environment(env: str) -> None:
    report = helm.lint(
        CHART, load_values(f"{env}.yaml"), strict=True, namespace=namespace(env), kube_version=f"v{K8S_VERSION}"
    )
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_every_manifest_is_valid_kubernetes(release: Release) -> None:
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in release.docs)
    assert kinds == sorted(
        [
            "Deployment/fastapi",
            "Deployment/fastapi-watch",
            "Service/fastapi",
            "ServiceAccount/fastapi",
            "Ingress/fastapi",
            "PersistentVolumeClaim/fastapi-model-registry",
            "PersistentVolumeClaim/fastapi-alerts-spool",
        ]
        + (["ConfigMap/fastapi-alerts-config"] if release.env == "prod" else [])
    )
    for doc in release.docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    # The chart never creates a Secret: it only names the ones made from SealedSecrets.
    assert not [d for d in release.docs if d["kind"] == "Secret"]


def test_secret_references_and_their_names_per_environment(release: Release) -> None:
    env = release.env
    assert release.secret_refs("fastapi") == [f"fastapi-token-{env}-secret", f"slack-webhook-{env}-secret"]
    assert release.secret_refs("fastapi-watch") == [f"slack-webhook-{env}-secret", f"airflow-watch-{env}-secret"]
    for deployment in ("fastapi", "fastapi-watch"):
        for name, value in release.env_of(deployment).items():
            assert not (SECRET_ENV_NAME.search(name) and value), f"{name} is set in clear on {deployment}"


def test_probes_hit_livez_health_and_the_watch_status(release: Release) -> None:
    api = release.container("fastapi")
    assert api["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert api["startupProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert api["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert release.env_of("fastapi")["PORT"] == "8000"
    watch = release.container("fastapi-watch")
    assert watch["command"] == ["python", "-m", "alerts_lib", "watch"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert watch[probe]["exec"]["command"] == PROBE
    # --probe fails after 3 intervals without a loop; the kubelet must not give up before one interval passed.
    interval = int(release.env_of("fastapi-watch")["ALERTS_WATCH_INTERVAL"])
    assert watch["livenessProbe"]["periodSeconds"] * watch["livenessProbe"]["failureThreshold"] >= 3 * interval


def test_watch_targets_the_service_and_airflow_of_its_own_namespace(release: Release) -> None:
    ns = namespace(release.env)
    env = release.env_of("fastapi-watch")
    service = release.get("Service", "fastapi")
    port = service["spec"]["ports"][0]["port"]
    assert env["ALERTS_WATCH_HTTP"] == f"model=http://fastapi.{ns}.svc:{port}/health"
    # The Service really selects the model service's pods, on the port the container listens on.
    labels = release.get("Deployment", "fastapi")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    # The official chart's API server Service is "<release>-api-server" on 8080 (checked below when it is at hand).
    assert env["ALERTS_WATCH_AIRFLOW"] == f"http://airflow-api-server.{ns}.svc:8080"
    assert env["ALERTS_WATCH_AIRFLOW_USER"] == "alerts-watch"
    assert env["ALERTS_WATCH_STATUS_FILE"].startswith("/tmp/")
    watch = release.get("Deployment", "fastapi-watch")["spec"]
    assert watch["replicas"] == 1
    assert watch["strategy"] == {"type": "Recreate"}


def test_pods_run_as_the_images_non_root_user_on_a_read_only_root(release: Release) -> None:
    dockerfile = (REPO / "docker" / "service.Dockerfile").read_text()
    assert "--uid 50000 --gid 0" in dockerfile
    assert re.search(r"^USER 50000(:0)?$", dockerfile, re.MULTILINE)
    for pod in release.pods():
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True
        assert (security["runAsUser"], security["runAsGroup"]) == (50000, 0)
        assert pod["automountServiceAccountToken"] is False
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes["tmp"]
        for container in pod["containers"] + pod.get("initContainers", []):
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
            assert container["resources"]["limits"]["memory"]


def test_grace_period_outlasts_the_prestop_sleep_and_the_alert_flush(release: Release) -> None:
    for deployment in ("fastapi", "fastapi-watch"):
        pod = release.pod(deployment)
        flush = float(release.env_of(deployment)["ALERTS_SHUTDOWN_TIMEOUT"])
        pre_stop = release.container(deployment).get("lifecycle", {}).get("preStop", {}).get("exec", {})
        sleep = float(pre_stop["command"][1]) if pre_stop else 0.0
        assert pod["terminationGracePeriodSeconds"] > sleep + flush
    assert release.container("fastapi")["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"


def test_spool_and_registry_are_shared_volumes_mounted_where_the_env_says(release: Release) -> None:
    for deployment, claims in (("fastapi", ("fastapi-model-registry", "fastapi-alerts-spool")),):
        env = release.env_of(deployment)
        mounts = {m["name"]: m["mountPath"] for m in release.container(deployment)["volumeMounts"]}
        volumes = {v["name"]: v for v in release.pod(deployment)["volumes"]}
        assert volumes["registry"]["persistentVolumeClaim"]["claimName"] == claims[0]
        assert mounts["registry"] == env["MODEL_REGISTRY_DIR"]
        assert volumes["alerts-spool"]["persistentVolumeClaim"]["claimName"] == claims[1]
        assert mounts["alerts-spool"] == env["ALERTS_SPOOL_DIR"]
    watch_mounts = {m["name"]: m["mountPath"] for m in release.container("fastapi-watch")["volumeMounts"]}
    assert watch_mounts["alerts-spool"] == release.env_of("fastapi-watch")["ALERTS_SPOOL_DIR"]
    for claim in ("fastapi-model-registry", "fastapi-alerts-spool"):
        pvc = release.get("PersistentVolumeClaim", claim)
        assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
        assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_dev_and_prod_differ_where_they_must(releases: dict[str, Release]) -> None:
    dev, prod = releases["dev"], releases["prod"]
    for name, want in {
        "CANARY_PERCENT": ("20", "10"),
        "ALERTS_ENV": ("dev", "prod"),
        "LOG_LEVEL": ("debug", "info"),
    }.items():
        assert (dev.env_of("fastapi")[name], prod.env_of("fastapi")[name]) == want
    for name in ("MODEL_NAME", "DEFAULT_ALIAS", "ALIAS_SELECTION_MODE"):
        assert dev.env_of("fastapi")[name] and prod.env_of("fastapi")[name]
    assert dev.env_of("fastapi-watch")["ALERTS_ENV"] == "dev"
    assert prod.env_of("fastapi-watch")["ALERTS_ENV"] == "prod"
    hosts = {env: r.get("Ingress", "fastapi")["spec"]["rules"][0]["host"] for env, r in releases.items()}
    assert hosts == {"dev": "model.dev.ml.example.com", "prod": "model.ml.example.com"}
    dev_secrets = set(dev.secret_refs("fastapi") + dev.secret_refs("fastapi-watch"))
    prod_secrets = set(prod.secret_refs("fastapi") + prod.secret_refs("fastapi-watch"))
    assert not dev_secrets & prod_secrets
    assert all("-dev-" in s for s in dev_secrets) and all("-prod-" in s for s in prod_secrets)
    for env, r in releases.items():
        for name in ("ALERTS_WATCH_HTTP", "ALERTS_WATCH_AIRFLOW"):
            assert f".{namespace(env)}.svc:" in r.env_of("fastapi-watch")[name]


def test_alerts_config_is_toml_with_env_references_only(releases: dict[str, Release]) -> None:
    prod = releases["prod"]
    config_map = prod.get("ConfigMap", "fastapi-alerts-config")
    config = tomllib.loads(config_map["data"]["alerts.toml"])
    assert config["destinations"]["slack"] == {"kind": "slack", "url": "${SLACK_WEBHOOK_URL}"}
    am = config["destinations"]["alertmanager"]
    assert am["kind"] == "alertmanager"
    assert len(am["urls"]) == 2 and all(re.match(r"^http://alertmanager-\d\.\S+:9093$", u) for u in am["urls"])
    assert config["routes"] == [
        {"match": {"severity": ["critical", "error"]}, "to": ["alertmanager"]},
        {"to": ["slack"]},
    ]
    # Each pod reads it where ALERTS_CONFIG says, and has the variable its Slack URL references.
    for deployment in ("fastapi", "fastapi-watch"):
        path = Path(prod.env_of(deployment)["ALERTS_CONFIG"])
        mounts = {m["name"]: m for m in prod.container(deployment)["volumeMounts"]}
        volumes = {v["name"]: v for v in prod.pod(deployment)["volumes"]}
        assert mounts["alerts-config"]["mountPath"] == str(path.parent) and mounts["alerts-config"]["readOnly"]
        assert volumes["alerts-config"]["configMap"]["name"] == "fastapi-alerts-config"
        assert path.name in config_map["data"]
        assert "slack-webhook-prod-secret" in prod.secret_refs(deployment)
    # Dev has no destinations: SLACK_WEBHOOK_URL alone, no config file.
    assert "ALERTS_CONFIG" not in releases["dev"].env_of("fastapi")


def test_alerts_config_quotes_what_it_is_given_and_takes_teams() -> None:
    values = load_values("prod.yaml")
    odd = 'He said "hi" \\ and <b> ${X}'
    values["alerts"]["destinations"]["ml"] = {"kind": "teams", "urlEnv": "TEAMS_ML_WEBHOOK"}
    values["alerts"]["routes"] = [
        {"match": {"name": [odd, "ServiceHealth"], "source": "Airflow"}, "to": ["slack", "ml"], "continue": True}
    ]
    values["secrets"]["extra"] = ["teams-webhook-prod-secret"]
    docs = manifests(render(values, "prod"))
    (config_map,) = [d for d in docs if d["kind"] == "ConfigMap"]
    config = tomllib.loads(config_map["data"]["alerts.toml"])
    assert config["routes"] == [
        {"match": {"name": [odd, "ServiceHealth"], "source": "Airflow"}, "to": ["slack", "ml"], "continue": True}
    ]
    assert config["destinations"]["ml"] == {"kind": "teams", "url": "${TEAMS_ML_WEBHOOK}"}
    # The Secret holding TEAMS_ML_WEBHOOK reaches both pods.
    for doc in docs:
        if doc["kind"] == "Deployment":
            (container,) = doc["spec"]["template"]["spec"]["containers"]
            assert {"secretRef": {"name": "teams-webhook-prod-secret"}} in container["envFrom"]


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        # A Slack URL is a secret: values may only name the variable holding it.
        (
            {"alerts": {"destinations": {"x": {"kind": "slack", "url": "https://hooks.example/services/T/B/x"}}}},
            helm.HelmValuesError,
            "/alerts/destinations/x",
        ),
        (
            {"alerts": {"destinations": {"x": {"kind": "alertmanager", "urls": ["http://u:p@am:9093"]}}}},
            helm.HelmValuesError,
            "urls",
        ),
        (
            {
                "alerts": {
                    "destinations": {"am": {"kind": "alertmanager", "urls": ["http://am:9093"]}},
                    "routes": [{"to": ["nope"]}],
                }
            },
            helm.HelmRenderError,
            '"nope" is not one of alerts.destinations',
        ),
        (
            {"secrets": {"fastapiToken": "fastapi-token-dev-secret", "slackWebhook": "slack-webhook-prod-secret"}},
            helm.HelmRenderError,
            "is not a Secret of environment",
        ),
        ({"terminationGracePeriodSeconds": 8}, helm.HelmRenderError, "terminationGracePeriodSeconds (8) must be above"),
        ({"environment": ""}, helm.HelmRenderError, "environment is required"),
        (
            {"secrets": {"fastapiToken": "fastapi-token-dev-secret", "slackWebhook": "slack-webhook-dev-secret"}},
            helm.HelmRenderError,
            "secrets.watch is required with watch.airflowUser",
        ),
        ({"podSecurityContext": {"runAsNonRoot": False}}, helm.HelmValuesError, "runAsNonRoot"),
        ({"secret": [{"envName": "X"}]}, helm.HelmValuesError, "additional properties 'secret'"),
    ],
    ids=[
        "slack-url-in-values",
        "am-credentials",
        "unknown-route-target",
        "other-env-secret",
        "short-grace",
        "no-env",
        "watch-user-without-password",
        "root",
        "typo",
    ],
)
def test_chart_refuses_unsafe_values(change: dict[str, Any], error: type[Exception], message: str) -> None:
    values = {**load_values("dev.yaml"), **change}
    with pytest.raises(error) as caught:
        render(values, "dev")
    assert message in str(caught.value)


def local_run(container: dict[str, Any], tmp: Path, extra: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The container's command and env, as this machine runs them: each volume mount becomes a temp dir."""
    mounts = {m["mountPath"]: tmp / m["name"] for m in container.get("volumeMounts", [])}
    env = {"PATH": os.environ.get("PATH", "")}
    for item in container.get("env", []):
        value = item["value"]
        for mount, local in mounts.items():
            if value == mount or value.startswith(mount + "/"):
                value = str(local) + value[len(mount) :]
        env[item["name"]] = value
    for local in mounts.values():
        local.mkdir(exist_ok=True)
    command = container["command"]
    assert command[0] == "python"
    return [sys.executable, *command[1:]], {**env, **extra}


def test_rendered_service_pod_really_starts_answers_its_probes_and_stops_in_its_grace(
    releases: dict[str, Release], tmp_path: Path
) -> None:
    """The dev pod's init container, then its container, run with the env the chart gives them (the Secrets
    the SealedSecrets would hold are test values, Slack is a local inbox): the kubelet's probe paths answer,
    and SIGTERM ends it well within the grace period that follows the preStop sleep."""
    dev = releases["dev"]
    pod = dev.pod("fastapi")
    port = free_port()
    with running_inbox(log_path=tmp_path / "inbox.log") as inbox:
        secrets = {
            "FASTAPI_TOKEN": "t0k3n-for-tests",
            "SLACK_WEBHOOK_URL": f"{inbox.base_url}/services/T0TEST/B0TEST/not-a-real-token",
        }
        (init,) = pod["initContainers"]
        command, env = local_run(init, tmp_path, {})
        subprocess.run(command, env=env, check=True, timeout=60, capture_output=True)
        command, env = local_run(
            dev.container("fastapi"), tmp_path, {**secrets, "HOST": "127.0.0.1", "PORT": str(port)}
        )
        base = f"http://127.0.0.1:{port}"
        container = dev.container("fastapi")
        child = Child(
            "fastapi", command, env, base + container["startupProbe"]["httpGet"]["path"], tmp_path / "api.log"
        )
        try:
            child.wait_ready(60)
            for probe in ("livenessProbe", "readinessProbe"):
                with urllib.request.urlopen(base + container[probe]["httpGet"]["path"], timeout=5) as answer:
                    assert answer.status == 200, probe
            assert wait_for_inbox_text(inbox.base_url, "[FastAPI] started: ", " · dev"), (
                "ALERTS_ENV=dev labels the startup alert"
            )
            started = time.monotonic()
            child.proc.send_signal(signal.SIGTERM)
            child.proc.wait(pod["terminationGracePeriodSeconds"])
            sleep = float(container["lifecycle"]["preStop"]["exec"]["command"][1])
            assert time.monotonic() - started < pod["terminationGracePeriodSeconds"] - sleep
            # uvicorn re-raises the SIGTERM it handled once it has shut down, so -15 is a clean exit too.
            assert child.proc.returncode in (0, -signal.SIGTERM), child.output()
            assert "Application shutdown complete" in child.output()
        finally:
            child.stop()


@pytest.mark.skipif(importlib.util.find_spec("alerts_lib.watch") is None, reason="alerts_lib.watch not here yet")
def test_rendered_watch_probe_turns_healthy_once_the_watch_loops(releases: dict[str, Release], tmp_path: Path) -> None:
    dev = releases["dev"]
    container = dev.container("fastapi-watch")
    dead = f"http://127.0.0.1:{free_port()}"
    # AIRFLOW_WATCH_PASSWORD is what airflow-watch-dev-secret holds: the watch refuses a user without one.
    command, env = local_run(container, tmp_path, {"ALERTS_WATCH_INTERVAL": "1", "AIRFLOW_WATCH_PASSWORD": "pw"})
    env["ALERTS_WATCH_HTTP"] = f"model={dead}/health"
    env["ALERTS_WATCH_AIRFLOW"] = dead
    probe = [sys.executable, *container["livenessProbe"]["exec"]["command"][1:]]
    watch = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(probe, env=env, capture_output=True, timeout=30).returncode != 0:
            assert watch.poll() is None and time.monotonic() < deadline, "the probe never passed"
            time.sleep(0.5)
    finally:
        watch.send_signal(signal.SIGTERM)
        watch.wait(dev.pod("fastapi-watch")["terminationGracePeriodSeconds"])


def wait_for_inbox_text(inbox_url: str, *expected: str, timeout: float = 20) -> bool:
    """True once one message contains every string of ``expected``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(inbox_url + "/api/messages", timeout=5) as answer:
            if any(all(e in m["text"] for e in expected) for m in json.load(answer)["messages"]):
                return True
        time.sleep(0.1)
    return False


# --- secrets: never in clear, each one sealed ------------------------------------------------------------------


def test_secret_scan_finds_what_it_looks_for() -> None:
    planted = {
        "Slack webhook": "url: https://hooks.slack.com/services/T0123ABCD/B0123ABCD/abcdefABCDEF0123456789ab",
        "Teams signature": "u: https://x.api.powerplatform.com/invoke?api-version=1&sig=Zm9vYmFy",
        "JWT": "token: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl",
        "credentials in a URL": "connection: postgresql://airflow:hunter2@db:5432/airflow",
        "hex token": "FASTAPI_TOKEN: 3f1a9c2b7d4e5f60718293a4b5c6d7e8f9012345",
        "base64 blob": "fernet-key: dGhpcyBpcyBub3QgYSByZWFsIGZlcm5ldCBrZXkgYnV0IGxvbmc=",
    }
    for kind, line in planted.items():
        assert any(f.startswith(kind) for f in secret_findings(line)), kind
    assert secret_findings("AIRFLOW_WATCH_PASSWORD: PLACEHOLDER-not-a-ciphertext-run-kubeseal-see-README") == []
    assert secret_findings("checksum/alerts-config: " + "ab" * 32) == []


def test_no_plaintext_secret_in_rendered_output_values_or_sealed_examples(releases: dict[str, Release]) -> None:
    texts = {f"render {env}: {path}": text for env, r in releases.items() for path, text in r.text.items()}
    for path in [*VALUES.glob("*.yaml"), *CHART.rglob("*"), REPO / "deploy" / "namespaces.yaml"]:
        if path.is_file():
            texts[str(path.relative_to(REPO))] = path.read_text()
    for path in SEALED.rglob("*.yaml"):  # all but the ciphertext, which is made to be committed
        doc = yaml.safe_load(path.read_text())
        doc["spec"]["encryptedData"] = {key: "(sealed)" for key in doc["spec"]["encryptedData"]}
        texts[str(path.relative_to(REPO))] = yaml.safe_dump(doc)
    findings = {name: found for name, text in texts.items() if (found := secret_findings(text))}
    assert findings == {}


@pytest.mark.parametrize("env", ENVS)
def test_every_secret_named_has_a_sealed_secret_of_its_environment(env: str, releases: dict[str, Release]) -> None:
    release = releases[env]
    airflow = load_values(f"airflow-{env}.yaml")
    named = {*release.secret_refs("fastapi"), *release.secret_refs("fastapi-watch")}
    named |= {s["secretName"] for s in airflow["secret"]}
    named |= {
        airflow["data"]["metadataSecretName"],
        airflow["fernetKeySecretName"],
        airflow["apiSecretKeySecretName"],
        airflow["jwtSecretName"],
    }
    sealed = {p.stem: yaml.safe_load(p.read_text()) for p in (SEALED / env).glob("*.yaml")}
    assert set(sealed) == named
    for name, doc in sealed.items():
        assert (doc["apiVersion"], doc["kind"]) == ("bitnami.com/v1alpha1", "SealedSecret")
        for metadata in (doc["metadata"], doc["spec"]["template"]["metadata"]):
            assert (metadata["name"], metadata["namespace"]) == (name, namespace(env))
        assert name.endswith(f"-{env}-secret")
        assert SECRET_KEYS[name.removesuffix(f"-{env}-secret")] in doc["spec"]["encryptedData"]
        # Our placeholders, or what kubeseal writes in their place (RSA-OAEP + AES-GCM, base64, "Ag..." prefix).
        for value in doc["spec"]["encryptedData"].values():
            assert value.startswith("PLACEHOLDER-") or re.fullmatch(r"Ag[A-Za-z0-9+/]{300,}={0,2}", value)


# --- the official Airflow chart's values ----------------------------------------------------------------------


def airflow_chart_keys() -> tuple[str, set[str]]:
    """The pinned chart version and the dotted keys its values.schema.json documents (``x.*``: anything below)."""
    lines = AIRFLOW_KEYS.read_text().splitlines()
    (version,) = [line.split(":", 1)[1].strip() for line in lines if line.startswith("# chart-version:")]
    return version, {line for line in lines if line and not line.startswith("#")}


def undocumented_keys(values: dict[str, Any], documented: set[str], prefix: str = "") -> list[str]:
    """Keys of ``values`` the chart does not document; below a documented leaf, anything goes (free-form)."""
    bad = []
    for key, value in values.items():
        path = f"{prefix}.{key}" if prefix else key
        if f"{prefix}.*" in documented:
            continue
        if path not in documented:
            bad.append(path)
        elif isinstance(value, dict) and any(k.startswith(path + ".") for k in documented):
            bad += undocumented_keys(value, documented, path)
    return bad


def test_key_check_catches_a_typo() -> None:
    _, documented = airflow_chart_keys()
    values = {"executor": "x", "dagProcesor": {"env": []}, "workers": {"kubernetes": {"resourcez": {}}}}
    assert undocumented_keys(values, documented) == ["dagProcesor", "workers.kubernetes.resourcez"]
    assert (
        undocumented_keys({"config": {"core": {"anything": "1"}}, "postgresql": {"auth": {"x": 1}}}, documented) == []
    )


@pytest.mark.parametrize("env", ENVS)
def test_airflow_values_use_only_documented_keys_of_the_pinned_chart(env: str) -> None:
    version, documented = airflow_chart_keys()
    assert version == "1.22.0"
    text = (VALUES / f"airflow-{env}.yaml").read_text()
    assert f"--version {version} -n {namespace(env)} -f values/airflow-{env}.yaml" in text
    assert undocumented_keys(yaml.safe_load(text), documented) == []


@pytest.mark.parametrize("env", ENVS)
def test_airflow_values_wire_alerts_to_this_environment(env: str, releases: dict[str, Release]) -> None:
    release = releases[env]
    values = load_values(f"airflow-{env}.yaml")
    assert values["executor"] == "KubernetesExecutor"
    # The version the tests and the image run (docker/airflow.Dockerfile).
    assert f"ARG AIRFLOW_VERSION={values['airflowVersion']}" in (REPO / "docker" / "airflow.Dockerfile").read_text()
    env_vars = {e["name"]: e["value"] for e in values["env"]}
    assert not [n for n in env_vars if SECRET_ENV_NAME.search(n)]
    assert env_vars["ALERTS_ENV"] == env
    assert env_vars["ALERTS_AIRFLOW_LISTENER"] == "true"
    service = release.get("Service", "fastapi")
    assert (
        env_vars["FASTAPI_RELOAD_URL"] == f"http://fastapi.{namespace(env)}.svc:{service['spec']['ports'][0]['port']}"
    )
    (host,) = [h["name"] for h in values["ingress"]["apiServer"]["hosts"]]
    assert env_vars["AIRFLOW__API__BASE_URL"] == f"https://{host}"
    assert host == ("airflow.dev.ml.example.com" if env == "dev" else "airflow.ml.example.com")
    assert {(s["envName"], s["secretName"], s["secretKey"]) for s in values["secret"]} == {
        ("SLACK_WEBHOOK_URL", f"slack-webhook-{env}-secret", "SLACK_WEBHOOK_URL"),
        ("FASTAPI_TOKEN", f"fastapi-token-{env}-secret", "FASTAPI_TOKEN"),
    }
    # The task pods mount the release's registry and spool where the service has them.
    api_env = release.env_of("fastapi")
    claims = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in values["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in values["volumeMounts"]}
    pvcs = {d["metadata"]["name"] for d in release.docs if d["kind"] == "PersistentVolumeClaim"}
    assert {claims["model-registry"], claims["alerts-spool"]} <= pvcs
    assert mounts["model-registry"] == env_vars["MODEL_REGISTRY_DIR"] == api_env["MODEL_REGISTRY_DIR"]
    assert mounts["alerts-spool"] == env_vars["ALERTS_SPOOL_DIR"] == api_env["ALERTS_SPOOL_DIR"]
    if env == "prod":  # the same ALERTS_CONFIG as the service: critical alerts to Alertmanager
        config_maps = {v["name"]: v["configMap"]["name"] for v in values["volumes"] if "configMap" in v}
        assert config_maps["alerts-config"] == "fastapi-alerts-config"
        assert env_vars["ALERTS_CONFIG"] == f"{mounts['alerts-config']}/alerts.toml" == api_env["ALERTS_CONFIG"]
    else:
        assert "ALERTS_CONFIG" not in env_vars
    assert values["createUserJob"]["enabled"] is False  # its defaults would create admin/admin


@pytest.mark.skipif(not os.environ.get("AIRFLOW_CHART_TGZ"), reason="set AIRFLOW_CHART_TGZ=airflow-1.22.0.tgz")
@pytest.mark.parametrize("env", ENVS)
def test_official_airflow_chart_renders_our_values(env: str) -> None:
    values = load_values(f"airflow-{env}.yaml")
    with helm.Chart.load(os.environ["AIRFLOW_CHART_TGZ"]) as chart:
        assert chart.version == airflow_chart_keys()[0]
        chart.validate_schema(values)
        docs = manifests(chart.render(values, name="airflow", namespace=namespace(env)))
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    pods = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "StatefulSet")
    }
    (pod_template,) = [d for d in docs if "pod_template_file.yaml" in d.get("data", {})]
    pods["task pod"] = yaml.safe_load(pod_template["data"]["pod_template_file.yaml"])["spec"]
    webhook = {"secretKeyRef": {"name": f"slack-webhook-{env}-secret", "key": "SLACK_WEBHOOK_URL"}}
    for name in ("airflow-scheduler", "airflow-dag-processor", "airflow-api-server", "airflow-triggerer", "task pod"):
        main = pods[name]["containers"][0]
        env_vars = {e["name"]: e.get("value", e.get("valueFrom")) for e in main["env"]}
        assert env_vars["SLACK_WEBHOOK_URL"] == webhook, name
        assert env_vars["ALERTS_ENV"] == env
        assert {"model-registry", "alerts-spool"} <= {v["name"] for v in pods[name]["volumes"]}
    (api,) = [d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "airflow-api-server"]
    assert [p["port"] for p in api["spec"]["ports"]] == [8080]
