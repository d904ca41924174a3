"""alerts_lib.integrations.fastapi on a plain app of its own (tests/support/plain_app.py), not the model service.

Responses must be exactly the app's own with and without ``install``; unhandled exceptions become one alert
with the route template (never the raw path); the app's lifespan still runs, wrapped; shutdown is bounded.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

import alerts_lib
from alerts_lib.integrations.fastapi import install
from alerts_lib.testing import capture_alerts
from demo.procs import free_port
from tests.support import plain_app
from tests.support.fake_slack import TOKEN, FakeSlack
from tests.support.paths import REPO_ROOT

# Percent-encoded on purpose: the decoded path parameter is "<!channel>\nforged" (a ping and a forged line).
HOSTILE_PATH = "/items/%3C%21channel%3E%0Aforged"
CASES = [("GET", HOSTILE_PATH), ("POST", "/sync/42/do"), ("GET", "/tenants/acme/things/7")]
TEMPLATES = {HOSTILE_PATH: "/items/{item_id}", "/sync/42/do": "/sync/{item_id}/do"}
TEMPLATES["/tenants/acme/things/7"] = "/tenants/{tenant}/things/{thing_id}"


def answers(app: FastAPI, requests: list[tuple[str, str]]) -> list[tuple[int, bytes, list[tuple[str, str]]]]:
    with TestClient(app, raise_server_exceptions=False) as client:
        return [
            (r.status_code, r.content, sorted(r.headers.multi_items()))
            for r in (client.request(method, path) for method, path in requests)
        ]


def unhandled(alerts: Any) -> list[Any]:
    return [a for a in alerts if a.alert is not None and a.alert.name == "UnhandledException"]


@pytest.mark.parametrize("own_500", [False, True], ids=["starlette_500", "app_handler_500"])
def test_responses_are_exactly_the_apps_own(own_500: bool) -> None:
    requests = [*CASES, ("GET", "/ok"), ("GET", "/http/404"), ("GET", "/http/503"), ("GET", "/stream")]
    requests += [("GET", "/background"), ("GET", "/nowhere")]
    with capture_alerts():
        without = answers(plain_app.build(installed=False, own_500=own_500), requests)
        with_install = answers(plain_app.build(own_500=own_500), requests)
    assert with_install == without
    statuses = [status for status, _, _ in without]
    assert statuses == [500, 500, 500, 200, 404, 503, 200, 202, 404]
    assert without[0][1] == (b'{"detail":"ours","kind":"RuntimeError"}' if own_500 else b"Internal Server Error")
    assert without[6][1] == b"chunk0\nchunk1\nchunk2\n"  # streaming untouched


@pytest.mark.parametrize(("method", "path"), CASES, ids=["async_def", "def", "mounted_app"])
def test_an_unhandled_exception_is_one_alert_with_the_route_template(method: str, path: str) -> None:
    with capture_alerts() as alerts, TestClient(plain_app.build(), raise_server_exceptions=False) as client:
        response = client.request(method, path, headers={"X-Request-ID": "req-77"})
    assert response.status_code == 500
    [sent] = unhandled(alerts)
    alert, template = sent.alert, TEMPLATES[path]
    assert dict(alert.fields)["route"] == template and dict(alert.labels)["route"] == template
    assert dict(alert.fields)["method"] == method and dict(alert.labels) == {
        "method": method,
        "route": template,
        "service": "plain",
    }
    assert dict(alert.fields)["request_id"] == "req-77"
    assert alert.source == "plain" and alert.severity.value == "error"
    assert sent.text.startswith(f"❌ [plain] unhandled exception on {method} {template}: ")
    assert alert.dedup_key == f"unhandled:plain:{method}:{template}:{dict(alert.fields)['exception']}"
    everything = str(sent.payload)
    assert "forged" not in everything and "acme" not in everything and "/42/" not in everything  # no raw path
    assert "<!channel>" not in everything and "<https://evil" not in everything  # the message is escaped


def test_the_exception_reaches_the_server_unchanged() -> None:
    """Re-raised as is: ServerErrorMiddleware (and a test client, and uvicorn's log) see the app's exception."""
    with capture_alerts() as alerts, TestClient(plain_app.build()) as client:
        with pytest.raises(KeyError, match="missing"):
            client.post("/sync/1/do")
    assert len(unhandled(alerts)) == 1


def test_http_exceptions_the_app_raises_are_not_alerts() -> None:
    with capture_alerts() as alerts, TestClient(plain_app.build(), raise_server_exceptions=False) as client:
        for code in (400, 401, 404, 409, 500, 503):
            r = client.get(f"/http/{code}")
            assert (r.status_code, r.json(), r.headers["x-why"]) == (code, {"detail": f"the app's own {code}"}, "app")
        assert client.get("/no/such/route").status_code == 404
    assert unhandled(alerts) == []


def test_background_task_failures_alert_after_the_response() -> None:
    with capture_alerts() as alerts, TestClient(plain_app.build(), raise_server_exceptions=False) as client:
        r = client.get("/background")
    assert (r.status_code, r.text) == (202, "accepted")
    [sent] = unhandled(alerts)
    assert "LookupError: background task failed" in sent.text and dict(sent.alert.fields)["route"] == "/background"


def test_request_ids_hostile_headers_and_the_apps_own() -> None:
    with capture_alerts() as alerts, TestClient(plain_app.build(), raise_server_exceptions=False) as client:
        client.get("/items/1", headers={"X-Request-ID": "<!here> x"})
        client.get("/items/2")
        client.get("/state-id", headers={"X-Request-ID": "from-header"})
    hostile, missing, from_app = (dict(a.alert.fields)["request_id"] for a in unhandled(alerts))
    assert len(hostile) == 32 and hostile.isalnum()  # replaced, not echoed
    assert len(missing) == 32 and missing != hostile
    assert from_app == "set-by-the-app"  # request.state.request_id wins: the id the app already uses


def test_a_storm_of_errors_is_one_alert_and_a_summary(slack: FakeSlack, deliver_to: Any) -> None:
    deliver_to(slack.url, dedup_window=30)
    with TestClient(plain_app.build(startup_alert=False), raise_server_exceptions=False) as client:
        for i in range(50):
            assert client.get(f"/items/{i}").status_code == 500
        assert client.post("/sync/1/do").status_code == 500  # another route: its own alert
    # The shutdown flush sent the storm summary. Posts may combine alerts: count lines.
    lines = "\n".join(slack.delivered_texts()).splitlines()
    storm = [line for line in lines if "GET /items/{item_id}" in line or "more like this" in line]
    assert storm[0].startswith("❌ [plain] unhandled exception on GET /items/{item_id}: RuntimeError: boom"), lines
    assert len(storm) <= 3 and sum("49 more" in line for line in storm) == 1, lines  # the first, then a summary
    assert sum("POST /sync/{item_id}/do" in line for line in lines) == 1
    assert alerts_lib.stats().suppressed == 49


def test_lifespan_composes_with_the_apps_own(slack: FakeSlack, deliver_to: Any) -> None:
    deliver_to(slack.url)
    events: list[str] = []
    app = plain_app.build(events=events, startup_details=lambda a: {"routes": len(a.routes)})
    with TestClient(app) as client:
        assert events == ["startup"]
        assert client.get("/ok").json() == {"ok": True, "state": "hello from the lifespan state"}  # its state too
    assert events == ["startup", "shutdown"]
    lines = "\n".join(slack.delivered_texts()).splitlines()  # delivered by the time the shutdown flush returned
    assert lines[:2] == ["the app's own startup alert", "🚀 [plain] started · dev"], lines
    assert "7.1" in str(slack.requests[-1].body) and "routes" in str(slack.requests[-1].body)


def test_a_failed_startup_is_alerted_and_still_fails(slack: FakeSlack, deliver_to: Any) -> None:
    deliver_to(slack.url)
    with pytest.raises(ConnectionError):
        with TestClient(plain_app.build(fail_startup=True)):
            pass
    texts = slack.delivered_texts()
    assert any(t.startswith("🔥 [plain] plain failed to start: ConnectionError: database unreachable") for t in texts)
    assert not any("[plain] started" in t for t in texts)


def test_the_shutdown_flush_is_bounded_when_slack_hangs(deliver_to: Any) -> None:
    with FakeSlack(mode="hang") as slack:
        deliver_to(slack.url, deadline=60, read_timeout=60)
        app = plain_app.build(shutdown_timeout=0.5)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        assert slack.wait_for(lambda s: len(s.requests) >= 1, 10)  # the worker is stuck in the hang
        client.get("/items/1")
        began = time.monotonic()
        client.__exit__(None, None, None)
        took = time.monotonic() - began
    assert took < 10, f"shutdown took {took:.1f} s while Slack hung (deadline 60 s)"


def test_install_twice_is_install_once() -> None:
    app = plain_app.build()
    install(app, service="plain")
    with capture_alerts() as alerts, TestClient(app, raise_server_exceptions=False) as client:
        client.get("/items/1")
    assert len(unhandled(alerts)) == 1 and len(alerts.find("started")) == 1


def test_errors_outside_any_route_are_unmatched_never_the_path() -> None:
    class Broken:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                raise OSError("middleware failed")
            await self.app(scope, receive, send)

    app = FastAPI(middleware=[Middleware(Broken)])
    install(app, service="plain")
    with capture_alerts() as alerts, TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/nowhere/%3C%21zork%3E").status_code == 500
    [sent] = unhandled(alerts)
    assert dict(sent.alert.fields)["route"] == "<unmatched>"
    assert "zork" not in str(sent.payload) and "nowhere" not in str(sent.payload)


def test_stats_and_metrics_routes(slack: FakeSlack, deliver_to: Any) -> None:
    deliver_to(slack.url)
    app = plain_app.build(stats_path="/_alerts", metrics_path="/metrics")
    with TestClient(app, raise_server_exceptions=False) as client:
        assert alerts_lib.flush(5)
        stats = client.get("/_alerts").json()
        metrics = client.get("/metrics")
    assert stats["destinations"]["default"]["delivered"] == 2  # the app's startup alert and ours
    assert set(stats["destinations"]["default"]) >= {"posts", "retries", "suppressed", "queued", "last_error"}
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'alerts_lib_alerts_total{destination="default",outcome="delivered"} 2.0' in metrics.text
    assert "/_alerts" not in str(app.openapi()) and "/metrics" not in str(app.openapi())  # schema unchanged


def run_python(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_import_alerts_lib_imports_no_framework() -> None:
    done = run_python(
        """
        import sys
        import alerts_lib, alerts_lib.metrics, alerts_lib.testing
        alerts_lib.send_slack_alert("x")
        loaded = sorted({m.split(".")[0] for m in sys.modules} & {"fastapi", "starlette", "prometheus_client"})
        print(loaded)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_metrics_route_without_prometheus_client_says_what_to_install() -> None:
    done = run_python(
        """
        import sys
        sys.modules["prometheus_client"] = None  # as if the extra were not installed
        from fastapi.testclient import TestClient
        from tests.support import plain_app

        app = plain_app.build(metrics_path="/metrics")
        with TestClient(app) as client:
            r = client.get("/metrics")
        print(r.status_code, r.json()["detail"])
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "404 alerts_lib metrics need prometheus-client: pip install 'alerts_lib[prometheus]'"
    assert "GET /metrics answers 404" in done.stderr


def test_under_a_real_uvicorn(tmp_path: Path) -> None:
    events = tmp_path / "events.txt"
    port = free_port()
    with FakeSlack() as slack:
        env = {
            "SLACK_WEBHOOK_URL": slack.url,
            "ALERTS_MIN_INTERVAL": "0",
            "ALERTS_SHUTDOWN_TIMEOUT": "3",
            "PLAIN_APP_EVENTS": str(events),
            "PYTHONPATH": str(REPO_ROOT),
        }
        cmd = [sys.executable, "-m", "uvicorn", "tests.support.plain_app:app", "--port", str(port)]
        cmd += ["--host", "127.0.0.1", "--log-level", "warning"]
        log = tmp_path / "uvicorn.log"
        with open(log, "wb") as sink:
            proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/ok", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
            # One connection per request: uvicorn drops a keep-alive connection after an app exception
            # (with or without install).
            boom = httpx.get(base + HOSTILE_PATH, headers={"X-Request-ID": "uv-1"}, timeout=10)
            sync = httpx.post(f"{base}/sync/9/do", timeout=10)
            assert httpx.get(f"{base}/http/503", timeout=10).status_code == 503
            assert "alerts_lib_alerts_total" in httpx.get(f"{base}/metrics", timeout=10).text
        finally:
            proc.terminate()  # SIGTERM: uvicorn runs the lifespan shutdown, then our flush
            proc.wait(20)
        lines = "\n".join(slack.delivered_texts()).splitlines()  # posts may combine several alerts
    output = log.read_text(errors="replace")
    assert (boom.status_code, boom.text, sync.status_code) == (500, "Internal Server Error", 500)
    assert "RuntimeError: boom" in output  # uvicorn still logs the app's traceback: the exception came through
    assert events.read_text().split() == ["startup", "shutdown"]
    assert "🚀 [plain] started · dev" in lines
    [alert] = [line for line in lines if "GET /items/{item_id}" in line]
    assert alert.startswith("❌ [plain] unhandled exception on GET /items/{item_id}: RuntimeError: boom &lt;!channel")
    assert sum("POST /sync/{item_id}/do: KeyError" in line for line in lines) == 1
    assert not any("503" in line for line in lines)
    assert TOKEN not in output
