"""``python -m demo.screenshot [docs/inbox.png]``: the inbox page with the scenario's real alerts, as a PNG.

Regenerates the README's screenshot from a real run (headless Debian Chromium), so it never goes stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import browser, scenario
from .stack import DemoStack


def take(out: Path, width: int = 1200, height: int = 1500) -> None:
    reason = browser.missing()
    if reason:
        raise SystemExit(f"cannot take a screenshot: {reason}")
    with DemoStack(aliases=scenario.SCENARIO_ALIASES, seeded=scenario.SEEDED_ALIASES) as stack:
        if not scenario.run(stack, say=lambda line: None, pause=0.5):
            raise SystemExit("the scenario's alerts did not all reach the inbox")
        scenario.wait_for_alert(stack, "more like this", timeout=20)  # the storm summary, for the picture
        browser.screenshot(stack.inbox_url + "/", out, width, height)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/inbox.png")
    take(target)
    print(f"wrote {target}")
