"""``python -m alerts_lib drain``: deliver what the spool holds, then say whether it is empty.

For the places where no long-lived process shares the spool: a cron job, a Kubernetes Job after a batch of
task pods, a CI step. It is the library's own worker, so delivery, pacing and retries are the same as anywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ._client import _ensure_worker, get_plan, get_settings


def drain(timeout: float, out: Callable[[str], None]) -> int:
    """0 when the spool is empty; 1 with the reason when it is not after ``timeout`` seconds; 2 when unusable."""
    settings = get_settings()
    if not settings.spool_dir:
        out("cannot drain: ALERTS_SPOOL_DIR is not set")
        return 2
    if not get_plan().destinations:
        out("cannot drain: no destination is configured (SLACK_WEBHOOK_URL or ALERTS_CONFIG)")
        return 2
    worker = _ensure_worker()
    spool = worker.spool
    if spool is None or not spool.active:
        out(f"cannot drain: the spool in {settings.spool_dir} is unusable (see the log)")
        return 2
    deadline = time.monotonic() + max(0.0, timeout)
    known = set(worker.lane_keys())
    while True:
        worker.claim_now()
        worker.flush(min(5.0, max(0.0, deadline - time.monotonic())))
        left = spool.pending()
        ours = sum(n for lane, n in left.items() if lane in known)
        if not left:
            out("drained: the spool is empty")
            return 0
        if time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    unknown = sum(n for lane, n in left.items() if lane not in known)
    reasons = []
    if ours:
        reasons.append(f"{ours} alert(s) not delivered yet ({worker.stats().last_error or 'held by a live process'})")
    if unknown:
        reasons.append(f"{unknown} alert(s) for destinations this configuration does not know")
    out(f"not drained after {timeout:g} s: " + "; ".join(reasons))
    return 1
