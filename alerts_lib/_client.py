"""The public entry points: the one place that turns a caller's call into a queued item.

Sync and async callers share everything past :meth:`Worker.submit`, so there is one retry loop, one pace
and one storm control. State is per process: a forked child (gunicorn, Celery) gets a fresh worker.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from ._alert import Alert
from ._redact import mask_url, protect
from ._settings import Settings, load_settings, webhook_problem
from ._text import clip, to_text
from ._worker import Item, Stats, Worker

logger = logging.getLogger("alerts_lib")

_lock = threading.RLock()
_settings: Settings | None = None
_worker: Worker | None = None
_hot: Worker | None = None  # the worker, when the default webhook is set: sends need no further checks
_checked_urls: dict[str, bool] = {}  # per-call webhook URLs already validated and registered as secrets
_warned_unset = False
_atexit_registered = False

# Set by alerts_lib.testing while capturing: called instead of queueing.
Capture = Callable[[object, Item, Settings], bool]
_capture: Capture | None = None


def send_slack_alert(
    message: str | Alert | None = None,
    *,
    webhook_url: str | None = None,
    dedup_key: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
    destination: str | None = None,
    **unknown: object,
) -> bool:
    """Queue ``message`` for Slack and return at once; never raises, whatever Slack or the arguments do.

    Returns True when accepted for delivery; False when dropped (queue full, nothing to send) or when no
    webhook is configured, in which case the alert is logged instead.
    """
    try:
        worker = _hot
        if worker is not None and _capture is None and webhook_url is None and not unknown:
            return worker.submit((message, None, dedup_key, blocks))  # the hot path: a plain tuple is cheapest
        return _send_slow(message, webhook_url, dedup_key, blocks, unknown)
    except Exception as exc:  # never break the caller
        logger.error("alerts_lib: could not queue an alert (%s)", type(exc).__name__)
        return False


async def asend_slack_alert(
    message: str | Alert | None = None,
    *,
    webhook_url: str | None = None,
    dedup_key: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
    **unknown: object,
) -> bool:
    """:func:`send_slack_alert` for async code: queueing never blocks, so it never stalls the event loop."""
    return send_slack_alert(message, webhook_url=webhook_url, dedup_key=dedup_key, blocks=blocks, **unknown)


def _send_slow(
    message: object,
    webhook_url: str | None,
    dedup_key: str | None,
    blocks: object,
    unknown: dict[str, object],
) -> bool:
    if unknown:
        logger.warning("alerts_lib: send_slack_alert ignores unknown options %s", sorted(unknown))
    if message is None and not blocks:
        logger.warning("alerts_lib: send_slack_alert called with no message; nothing sent")
        return False
    settings = get_settings()
    item = Item(message, None, dedup_key, blocks)
    if webhook_url is not None:
        if not _usable(webhook_url):
            return False
        item = item._replace(webhook_url=webhook_url)
    if _capture is not None:
        return _capture(message, item, settings)
    if item.webhook_url is None and settings.webhook is None:
        _log_only(message)
        return False
    return _ensure_worker().submit(item)


def _usable(url: object) -> bool:
    if not isinstance(url, str):
        logger.error("alerts_lib: webhook_url must be a str, not %s; alert not sent", type(url).__name__)
        return False
    ok = _checked_urls.get(url)
    if ok is None:
        problem = webhook_problem(url, f"webhook_url {mask_url(url)}")
        if problem:
            logger.error("alerts_lib: %s; alert not sent", problem)
        else:
            protect(url)
        ok = _checked_urls[url] = problem is None
    return ok


def _log_only(message: object) -> None:
    global _warned_unset
    if not _warned_unset:
        _warned_unset = True
        logger.warning("alerts_lib: SLACK_WEBHOOK_URL is not set: alerts are only logged, not sent to Slack")
    text = message.text if isinstance(message, Alert) else to_text(message)
    logger.info("alerts_lib alert (not sent): %s", clip(text, 2000))


def flush(timeout: float = 5.0) -> bool:
    """Wait up to ``timeout`` seconds for queued alerts; True when all were delivered or given up."""
    try:
        worker = _worker
        return True if worker is None else worker.flush(float(timeout))
    except Exception as exc:
        logger.error("alerts_lib: flush failed (%s)", type(exc).__name__)
        return False


async def aflush(timeout: float = 5.0) -> bool:
    """:func:`flush` without blocking the event loop (e.g. in a FastAPI lifespan shutdown)."""
    return await asyncio.to_thread(flush, timeout)


def stats() -> Stats:
    """A snapshot of the delivery counters: delivered, dropped, failed, suppressed, retries, last error."""
    worker = _worker
    return worker.stats() if worker is not None else Stats()


def get_settings() -> Settings:
    """The active settings, read from the environment on first use."""
    global _settings
    settings = _settings
    if settings is None:
        with _lock:
            if _settings is None:
                _settings = _activate(load_settings())
            settings = _settings
    return settings


def configure(settings: Settings | None = None, **overrides: Any) -> Settings:
    """Replace the active settings (from ``settings``, or the environment plus ``overrides``).

    The current worker is flushed for up to its shutdown timeout and replaced. Use it once at startup,
    or in tests; most applications only need environment variables.
    """
    global _settings, _worker, _hot
    new = _activate(settings if settings is not None else load_settings(**overrides))
    with _lock:
        old, _worker, _hot, _settings = _worker, None, None, new
    if old is not None:
        old.close(old.settings.shutdown_timeout)
    return new


def reset(timeout: float = 0.0) -> None:
    """Back to a pristine state: the worker stopped (flushed for ``timeout``), settings re-read on next use."""
    global _settings, _worker, _hot, _warned_unset
    with _lock:
        old, _worker, _hot, _settings = _worker, None, None, None
        _warned_unset = False
        _checked_urls.clear()
    if old is not None:
        old.close(timeout)


def _activate(settings: Settings) -> Settings:
    if settings.webhook:
        protect(settings.webhook)
    return settings


def _ensure_worker() -> Worker:
    global _worker, _hot, _atexit_registered
    with _lock:
        if _worker is None:
            settings = get_settings()
            _worker = Worker(settings)
            _hot = _worker if settings.webhook else None
            if not _atexit_registered:
                atexit.register(_at_exit)
                _atexit_registered = True
        return _worker


def _at_exit() -> None:
    worker = _worker
    if worker is not None:
        # After a flush that already timed out with nothing delivered since (an Airflow callback's bounded
        # wait, say), waiting again only delays the exit: say what is left and go.
        worker.close(0.0 if worker.stalled else worker.settings.shutdown_timeout)


def _after_fork_in_child() -> None:
    """The parent's worker thread does not exist in a forked child: start afresh, lazily."""
    global _worker, _hot, _lock, _atexit_registered
    _lock = threading.RLock()
    _worker = _hot = None
    # Some runners (Airflow 3's task runner) clear atexit handlers in the child: register again on first use.
    atexit.unregister(_at_exit)
    _atexit_registered = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
