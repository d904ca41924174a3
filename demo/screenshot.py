"""``python -m demo.screenshot [docs/inbox.png]``: the inbox page with the scenario's real alerts, as a PNG.

Regenerates the README's screenshot from a real run (headless Debian Chromium), so it never goes stale.
"""

from __future__ import annotations

import sys
import time
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
        with browser.headless_chrome(width, height) as driver:
            driver.get(stack.inbox_url + "/")
            time.sleep(3)  # a poll, then the fade-in of fresh messages
            out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(out))


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/inbox.png")
    take(target)
    print(f"wrote {target}")
