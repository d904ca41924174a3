"""The real service under uvicorn, alerting to a real misbehaving webhook on 127.0.0.1.

Requests must stay fast while Slack hangs, and the alerts must arrive once it recovers; shutdown flushes
what is pending, within a bound, and neither secret reaches the service's output.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from fastapi_app.seed import seed_registry
from tests.support.fake_slack import TOKEN, FakeSlack
from tests.support.service_helpers import ADMIN_TOKEN, AUTH, FEATURES, MODEL, running_service

OVERFLOW = {"x1": 1e308, "x2": -1e308, "x3": 1e308}
# Generous for a noisy 2-core machine, far below what a blocking send would cost (ALERTS_DEADLINE below).
FAST_ENOUGH = 1.0


def service_env(root: Path, webhook: str, **extra: str) -> dict[str, str]:
    env = {
        "MODEL_REGISTRY_DIR": str(root),
        "MODEL_NAME": MODEL,
        "FASTAPI_TOKEN": ADMIN_TOKEN,
        "SLACK_WEBHOOK_URL": webhook,
        "ALERTS_ENV": "test",
        "ALERTS_DEADLINE": "3",
        "ALERTS_BACKOFF_BASE": "0.2",
        "ALERTS_BACKOFF_MAX": "1",
        "ALERTS_MAX_RETRIES": "20",
        "ALERTS_MIN_INTERVAL": "0.2",
        "ALERTS_DEDUP_WINDOW": "3",
    }
    env.update(extra)
    return env


def delivered(slack: FakeSlack) -> str:
    return "\n".join(slack.delivered_texts())


def test_requests_stay_fast_while_slack_hangs_and_alerts_arrive_after(tmp_path: Path) -> None:
    seed_registry(tmp_path / "reg", MODEL)
    with FakeSlack(mode="hang") as slack:
        with running_service(service_env(tmp_path / "reg", slack.url), tmp_path) as svc:
            timings: list[tuple[str, float]] = []
            with httpx.Client(base_url=svc.base, timeout=30) as http:

                def call(method: str, path: str, **kw: object) -> httpx.Response:
                    start = time.perf_counter()
                    r = http.request(method, path, **kw)  # type: ignore[arg-type]
                    timings.append((path, time.perf_counter() - start))
                    return r

                assert slack.wait_for(lambda s: len(s.requests) >= 1, 10), "the startup alert never left"
                for _ in range(20):
                    assert call("POST", "/predict", json={"features": FEATURES}).status_code == 200
                    assert call("GET", "/health").json()["status"] == "ok"
                assert call("POST", "/variant/A/reload?version=2", headers=AUTH).status_code == 200
                assert call("POST", "/variant/B/reload?version=9", headers=AUTH).status_code == 404
                for _ in range(5):
                    assert call("POST", "/predict", json={"features": OVERFLOW}).status_code == 500
                for _ in range(10):
                    assert call("POST", "/predict", json={"features": FEATURES}).status_code == 200

            slowest = max(timings, key=lambda t: t[1])
            assert slowest[1] < FAST_ENOUGH, f"{slowest[0]} took {slowest[1]:.2f} s while Slack hung"
            assert delivered(slack) == ""  # nothing got through the hang

            slack.mode = "ok"
            wanted = [
                "🚀 [FastAPI] started: my_model@A, my_model@B · test",
                "🔁 [FastAPI] my_model@A hot-swapped to v2 (run_id=seed-B) · test",
                "❌ [FastAPI] hot-swap of my_model@B to v9 failed: NotFoundError: my_model v9 does not exist",
                "❌ [FastAPI] prediction error on my_model@A: NonFiniteOutputError",
                "… and 4 more like this",  # storm control: 5 identical errors, one message plus a count
            ]
            arrived = slack.wait_for(lambda s: all(w in delivered(s) for w in wanted), timeout=30)
            assert arrived, f"missing: {[w for w in wanted if w not in delivered(slack)]}"
            assert delivered(slack).count("prediction error on my_model@A") == 2  # the first, then the summary
            assert delivered(slack).count("[FastAPI] started") == 1  # retried after the hang, delivered once
        output = svc.output()
    assert TOKEN not in output and ADMIN_TOKEN not in output


def test_shutdown_flushes_pending_alerts(tmp_path: Path) -> None:
    seed_registry(tmp_path / "reg", MODEL)
    with FakeSlack(mode="slow") as slack:  # each post takes 0.3 s; pacing 1 s apart
        env = service_env(tmp_path / "reg", slack.url, ALERTS_MIN_INTERVAL="1")
        with running_service(env, tmp_path) as svc:
            for alias in ("A", "B"):
                assert httpx.post(f"{svc.base}/variant/{alias}/reload", headers=AUTH).status_code == 200
            # SIGTERM right away: the lifespan flushes before exiting (uvicorn re-raises the signal: -15).
            assert svc.stop() in (0, -15)
        texts = delivered(slack)
    assert "my_model@A hot-swapped" in texts and "my_model@B hot-swapped" in texts


def test_shutdown_is_bounded_when_slack_hangs(tmp_path: Path) -> None:
    seed_registry(tmp_path / "reg", MODEL)
    with FakeSlack(mode="hang") as slack:
        env = service_env(
            tmp_path / "reg",
            slack.url,
            ALERTS_DEADLINE="60",
            ALERTS_SHUTDOWN_TIMEOUT="1",
        )
        with running_service(env, tmp_path) as svc:
            assert slack.wait_for(lambda s: len(s.requests) >= 1, 10)
            start = time.monotonic()
            svc.stop(timeout=30)
            took = time.monotonic() - start
    assert took < 10, f"shutdown took {took:.1f} s with Slack hanging"
