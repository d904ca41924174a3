"""The watch process against the real model service under uvicorn: SIGKILL → one down alert; restarted on
the same port → one recovery stating how long it was down. Slack is a real local FakeSlack."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from fastapi_app.seed import seed_registry
from tests.support.fake_slack import FakeSlack
from tests.support.service_helpers import MODEL, free_port, running_service
from tests.support.watch_helpers import wait_for, watch_env, watching


def test_service_killed_then_restarted(tmp_path: Path) -> None:
    seed_registry(tmp_path / "reg", MODEL)
    service_env = {"MODEL_REGISTRY_DIR": str(tmp_path / "reg"), "MODEL_NAME": MODEL}
    port = free_port()
    with FakeSlack() as slack:

        def texts() -> list[str]:
            return slack.delivered_texts()

        env = watch_env(SLACK_WEBHOOK_URL=slack.url, ALERTS_MIN_INTERVAL="0", ALERTS_ENV="ci")
        args = ["watch", "--http", f"model=http://127.0.0.1:{port}/health", "--interval", "2"]
        args += ["--status-file", str(tmp_path / "status")]
        with running_service(service_env, tmp_path, port=port) as service:
            with watching(args, env, tmp_path / "watch.log") as watch:
                assert wait_for(lambda: any("watch started" in t for t in texts()))
                assert wait_for(lambda: (tmp_path / "status").exists())
                time.sleep(5)  # a few healthy polls (each poll may take 1.6 s: a loaded machine is not a dead service)
                assert not [t for t in texts() if "service model" in t], texts()

                service.proc.send_signal(signal.SIGKILL)
                service.proc.wait(10)
                killed = time.monotonic()
                assert wait_for(lambda: any("service model down" in t for t in texts()), 30), texts()
                down_after = time.monotonic() - killed
                time.sleep(3)  # more failing polls: still one alert
                with running_service(service_env, tmp_path, port=port):
                    assert wait_for(lambda: any("healthy again" in t for t in texts()), 30), texts()
                    time.sleep(3)
                watch.send_signal(signal.SIGTERM)
                assert watch.wait(20) == 0
    down = [t for t in texts() if "service model down" in t]
    recovered = [t for t in texts() if "service model healthy again" in t]
    assert len(down) == 1 and len(recovered) == 1, texts()
    assert down[0].startswith("🔥 [Watch] service model down: connection refused · ci")
    assert recovered[0].startswith("✅ [Watch] service model healthy again after ")
    assert down_after >= 2.0, "not before the second failing poll"
