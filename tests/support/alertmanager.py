"""The real Prometheus Alertmanager (Debian's ``prometheus-alertmanager``) on 127.0.0.1, for tests.

Each instance runs the shipped ``deploy/alertmanager`` config and Slack template, with the Slack receiver's
``api_url`` pointed at a recording server and timings shortened for speed; storage lives in a temp dir and
the cluster listener is off unless the test peers replicas (on loopback ports).

``python -m tests.support.alertmanager URL...`` is one separate process sending one alert: it renders with
:class:`AlertmanagerDestination` and posts with httpx directly, printing each replica's verdict.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from demo.procs import Child, free_port
from tests.support.paths import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy" / "alertmanager"
BINARY_NAMES = ("prometheus-alertmanager", "alertmanager")
# Fast enough for tests, slow enough that the three-process posts land in one group on a noisy machine.
GROUP_WAIT = "500ms"
GROUP_INTERVAL = "1s"
PEER_TIMEOUT = "2s"


def binary() -> str | None:
    return next((path for name in BINARY_NAMES if (path := shutil.which(name))), None)


def require_binary() -> str:
    """The binary, or skip (fail in CI, where .ci/run installs it) with what to install."""
    found = binary()
    if found is None:
        reason = "prometheus-alertmanager is not installed (apt-get install -y prometheus-alertmanager)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def write_config(directory: Path, slack_url: str) -> Path:
    """The shipped alertmanager.yml and slack.tmpl, with the receiver at ``slack_url`` and short timings."""
    templates = directory / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEPLOY / "slack.tmpl", templates / "slack.tmpl")
    config: dict[str, Any] = yaml.safe_load((DEPLOY / "alertmanager.yml").read_text())
    config["templates"] = [str(templates / "*.tmpl")]
    config["route"].update(group_wait=GROUP_WAIT, group_interval=GROUP_INTERVAL, repeat_interval="1h")
    for receiver in config["receivers"]:
        for slack in receiver.get("slack_configs", []):
            slack["api_url"] = slack_url
    path = directory / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


class Alertmanager:
    """One running replica: ``url`` is its base URL (what ``[destinations.am] urls`` holds)."""

    def __init__(self, config: Path, directory: Path, *, cluster_port: int | None = None, peers: Sequence[int] = ()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        storage = directory / f"data-{self.port}"
        storage.mkdir(parents=True)
        command = [
            require_binary(),
            f"--config.file={config}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--cluster.listen-address={f'127.0.0.1:{cluster_port}' if cluster_port else ''}",
        ]
        if cluster_port:
            command += [f"--cluster.peer=127.0.0.1:{p}" for p in peers]
            command += [
                f"--cluster.advertise-address=127.0.0.1:{cluster_port}",
                "--cluster.gossip-interval=50ms",
                "--cluster.pushpull-interval=1s",
                f"--cluster.peer-timeout={PEER_TIMEOUT}",
                "--cluster.settle-timeout=5s",
            ]
        self.log = directory / f"alertmanager-{self.port}.log"
        self.child = Child("alertmanager", command, dict(os.environ), f"{self.url}/-/ready", self.log)
        self.child.wait_ready(20)

    def alerts(self) -> list[dict[str, Any]]:
        """Its active alerts, as its API lists them."""
        answer = httpx.get(f"{self.url}/api/v2/alerts", timeout=5)
        answer.raise_for_status()
        alerts: list[dict[str, Any]] = answer.json()
        return alerts

    def peers(self) -> int:
        status = httpx.get(f"{self.url}/api/v2/status", timeout=5).json()
        return len(status.get("cluster", {}).get("peers") or [])

    def stop(self) -> None:
        self.child.stop(5)


@contextlib.contextmanager
def running(directory: Path, slack_url: str, replicas: int = 1) -> Iterator[list[Alertmanager]]:
    """``replicas`` Alertmanagers sharing one config; two or more are peered with each other on loopback."""
    config = write_config(directory, slack_url)
    cluster_ports = [free_port() for _ in range(replicas)] if replicas > 1 else [None]
    started: list[Alertmanager] = []
    try:
        for port in cluster_ports:
            peers = [p for p in cluster_ports if p and p != port]
            started.append(Alertmanager(config, directory, cluster_port=port, peers=peers))
        if replicas > 1:
            deadline = time.monotonic() + 20
            while not all(am.peers() == replicas for am in started):
                assert time.monotonic() < deadline, "the replicas did not form a cluster"
                time.sleep(0.1)
        yield started
    finally:
        for am in started:
            am.stop()


def send_once(urls: Sequence[str]) -> list[str]:
    """What one process does: render one alert, post it to every replica, return each verdict."""
    from alerts_lib import formatters
    from alerts_lib.destinations.alertmanager import AlertmanagerDestination

    destination = AlertmanagerDestination("am", urls)
    error = RuntimeError("weights corrupt <!channel> <@U123> [x](http://evil)")
    alert = formatters.hotswap_failed("my_model", "A", error, version=9, env="test")
    body = destination.batch([destination.render(alert, now=time.time())]).body
    verdicts = []
    for url in destination.urls:
        answer = httpx.post(destination.post_url(url), json=body, timeout=5)
        verdicts.append(destination.classify(answer.status_code, answer.text, answer.headers).verdict.value)
    return verdicts


if __name__ == "__main__":
    sys.stdout.write(" ".join(send_once(sys.argv[1:])) + "\n")
