"""One way out for every Airflow path (callbacks, notifier, listener): claim the failure, queue, maybe wait.

Claiming first (:mod:`._once`) makes the callbacks and the listener report a failure once, whichever runs
first and in whichever process. Waiting is only for processes that exit right after (the task runner, the
DAG processor's callback run, ``airflow dags test``): it is bounded per failure by :data:`MAX_TIMEOUT` in
total, below ``[core] task_success_overtime`` (20 s), after which Airflow SIGTERMs the task process.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..._alert import Alert
from ..._client import flush, send_slack_alert, stats
from . import _once
from .context import Failure
from .webhook import mask_in_airflow, slack_webhook

logger = logging.getLogger("alerts_lib.airflow")

DEFAULT_TIMEOUT = 5.0  # seconds a callback waits for delivery before its process may exit
# The most one failure's alerts wait in total, flush included: task-runner callbacks and listeners share
# [core] task_success_overtime (20 s by default) before Airflow SIGTERMs the task process; keep a margin.
MAX_TIMEOUT = 15.0
MAX_TIMEOUT_ENV = "ALERTS_AIRFLOW_MAX_TIMEOUT"  # raise it together with AIRFLOW__CORE__TASK_SUCCESS_OVERTIME

_lock = threading.Lock()
_waited: dict[Failure | None, float] = {}  # seconds already waited per failure (None: unknown) in this process


@dataclass(frozen=True)
class Target:
    """Where an alert goes: the default destination, a named one, a Connection or a webhook URL."""

    destination: str | None = None
    conn_id: str | None = None
    webhook_url: str | None = field(default=None, repr=False)  # a secret: never in a repr

    def ident(self) -> str:
        """Part of the once-record key: the same failure sent to two places is two alerts ("" = default)."""
        if self.webhook_url:
            return "url:" + hashlib.sha256(self.webhook_url.encode()).hexdigest()[:16]
        if self.conn_id:
            return f"conn:{self.conn_id}"
        if self.destination:
            return f"destination:{self.destination}"
        return ""


DEFAULT_TARGET = Target()


def max_timeout() -> float:
    """:data:`MAX_TIMEOUT`, or ``ALERTS_AIRFLOW_MAX_TIMEOUT`` (0-300 s) for deployments that raised
    ``[core] task_success_overtime`` too."""
    raw = os.environ.get(MAX_TIMEOUT_ENV, "").strip()
    if not raw:
        return MAX_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if 0 <= value <= 300:
        return value
    logger.warning("alerts_lib: %s=%r is not within [0, 300] s; using %g", MAX_TIMEOUT_ENV, raw, MAX_TIMEOUT)
    return MAX_TIMEOUT


def bounded_timeout(value: Any, default: float = DEFAULT_TIMEOUT) -> float:
    """A number in [0, max_timeout()], else ``default``: a callback must never wait unbounded."""
    limit = max_timeout()
    try:
        timeout = float(value)
    except (TypeError, ValueError):
        timeout = math.nan
    if not 0 <= timeout <= limit:  # also rejects NaN
        logger.warning("alerts_lib: callback timeout %r is not within [0, %g] s; using %g", value, limit, default)
        timeout = min(default, limit)
    return timeout


def deliver(
    alert: Alert,
    failure: Failure | None,
    *,
    event: str,
    target: Target = DEFAULT_TARGET,
    wait: float | None,
) -> bool:
    """Send ``alert`` unless another path already reported ``failure``; then wait up to ``wait`` seconds
    (None: never wait, for the scheduler and the API server). True when this call queued it. Never raises."""
    try:
        key = failure.key(event, target.ident()) if failure is not None else None
        if key is not None and not _once.claim(key, label=failure.label() if failure else ""):
            logger.info("alerts_lib: already alerted by another callback or process: %s", alert.text)
            return False
        queued = _queue(alert, target)
        if not queued:
            if key is not None:
                _once.release(key)  # not queued (no webhook, queue full): let another path try
            return False
        if wait is not None:
            _wait(alert, failure, wait)
        return True
    except Exception as exc:  # the callback must never become a second failure
        logger.error("alerts_lib: Airflow alert failed (%s)", type(exc).__name__)
        return False


def _queue(alert: Alert, target: Target) -> bool:
    if target.webhook_url:
        url: str | None = target.webhook_url
        mask_in_airflow(url)
    elif target.destination:
        return send_slack_alert(alert, destination=target.destination)
    else:
        url = slack_webhook(target.conn_id)
    return send_slack_alert(alert, webhook_url=url)


def _wait(alert: Alert, failure: Failure | None, wanted: float) -> None:
    """Flush for ``wanted`` seconds at most, and for max_timeout() at most over all of ``failure``'s alerts."""
    with _lock:
        timeout = max(0.0, min(wanted, max_timeout() - _waited.get(failure, 0.0)))
    failed_before = stats().failed
    started = time.monotonic()
    done = flush(timeout)
    with _lock:
        if len(_waited) > 1000:  # a long-lived process (airflow dags test of a big DAG): old failures are done
            _waited.clear()
        _waited[failure] = _waited.get(failure, 0.0) + (time.monotonic() - started)
    if not done:
        logger.warning(
            "alerts_lib: Slack alert not delivered within %g s (retried until this process exits): %s",
            timeout,
            alert.text,
        )
    elif stats().failed > failed_before:
        logger.warning("alerts_lib: Slack did not accept the alert (see the error above): %s", alert.text)
    else:
        logger.info("alerts_lib: Slack alert delivered: %s", alert.text)
