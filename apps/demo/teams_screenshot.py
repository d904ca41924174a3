"""``python -m demo.teams_screenshot [docs/inbox-teams.png]``: the inbox page showing Teams cards, as a PNG.

The cards are what :class:`~alerts_lib.destinations.teams.TeamsDestination` renders for the team's alerts,
posted to a real inbox's Workflows endpoint and shown by headless Debian Chromium, so the README's picture
is what a Teams destination really sends.
"""

from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path

import httpx

from alerts_lib import formatters
from alerts_lib.destinations.teams import TeamsDestination

from . import browser
from .procs import running_inbox

ALERTS = [
    formatters.health_degraded(["A"], ["C"], details={"C": "no READY version for alias @C"}, env="demo"),
    formatters.airflow_event(
        "model_pipeline",
        task_id="register",
        run_id="manual__2026-11-21T08:41:10",
        try_number=1,
        exception=RuntimeError(
            "registry write failed: <at>On call</at> [link](http://evil) <!channel>\n"
            '  File "dags/model_pipeline.py", line 88, in register\n    registry.register(weights)'
        ),
        log_url="http://localhost:8080/dags/model_pipeline/runs/manual__2026-11-21T08:41:10/tasks/register",
        env="demo",
    ),
    formatters.hotswap_succeeded("my_model", "A", 9, run_id="abc", previous_version=8, env="demo"),
]


def take(out: Path, width: int = 1200, height: int = 1080) -> None:
    reason = browser.missing()
    if reason:
        raise SystemExit(f"cannot take a screenshot: {reason}")
    with running_inbox() as inbox:
        flow = f"workflows/{secrets.token_hex(16)}/triggers/manual/paths/invoke"
        url = f"{inbox.base_url}/{flow}?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={secrets.token_hex(8)}"
        teams = TeamsDestination("ml", url, mention="ML on-call <oncall@example.com>")
        now = time.time()
        renders = [teams.render(alert, now=now) for alert in ALERTS]
        bodies = [renders[0], teams.batch(renders[1:]).body]  # the last two combined in one card
        for body in bodies:
            answer = httpx.post(teams.post_url(url), json=body, timeout=5)
            if answer.status_code != 202:
                raise SystemExit(f"the inbox refused a card: HTTP {answer.status_code} {answer.text}")
        browser.screenshot(inbox.base_url + "/", out, width, height)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/inbox-teams.png")
    take(target)
    print(f"wrote {target}")
