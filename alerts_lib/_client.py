"""The public entry points: the one place that turns a caller's call into a queued item.

Sync and async callers share everything past :meth:`Worker.submit`, so there is one retry loop, one pace
and one storm control. State is per process: a forked child (gunicorn, Celery) gets a fresh worker.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from typing import Any

from ._alert import Alert
from ._config import Plan, build_plan
from ._redact import mask_url
from ._settings import Settings, load_settings, webhook_problem
from ._text import clip, to_text
from ._worker import Item, Stats, Worker

logger = logging.getLogger("alerts_lib")

_lock = threading.RLock()
_settings: Settings | None = None
_worker: Worker | None = None
_hot: Worker | None = None  # the worker, when the default webhook is set: sends need no further checks
_checked_urls: dict[str, bool] = {}  # per-call webhook URLs already validated and registered as secrets
_plan: Plan | None = None
_warned_unset = False
_warned_loop = False
_atexit_registered = False
_forked_away: list[Worker] = []

# Set by alerts_lib.testing while capturing: called instead of queueing.
Capture = Callable[[object, Item, Settings], bool]
_capture: Capture | None = None


def send_slack_alert(
    message: str | Alert | Mapping[str, Any] | None = None,
    *args: object,
    webhook_url: str | None = None,
    dedup_key: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
    destination: str | Sequence[str] | None = None,
    **unknown: object,
) -> bool:
    """Queue ``message`` and return at once; never raises, whatever the destinations or the arguments do.

    ``message`` is Slack mrkdwn (``str``), an :class:`Alert`, or a ready Slack payload dict. Routes decide
    where it goes (``ALERTS_CONFIG``); ``destination`` names the destination(s) instead, ``webhook_url`` one
    Slack webhook. Returns True when accepted for delivery; False when dropped (queue full, nothing to send)
    or when no destination is configured, in which case the alert is logged instead.
    """
    try:
        worker = _hot
        if (
            worker is not None
            and webhook_url is None
            and destination is None
            and not args
            and not unknown
            and _capture is None
            and (message.__class__ is Alert or (isinstance(message, str) and message and not message.isspace()))
        ):
            held = worker.held.get(id(message))
            if held is not None and held[0] is message and dedup_key is None and blocks is None:
                next(held[1])  # storm control holds this very object on all its destinations: count, queue nothing
                return True
            return worker.submit((message, None, dedup_key, blocks))  # the hot path: a plain tuple is cheapest
        return _send_slow(message, args, webhook_url, dedup_key, blocks, destination, unknown)
    except Exception as exc:  # never break the caller
        logger.error("alerts_lib: could not queue an alert (%s)", type(exc).__name__)
        return False


class _Done:
    """An awaitable that is already done: what :func:`asend_slack_alert` returns."""

    __slots__ = ("_value",)

    def __init__(self, value: bool) -> None:
        self._value = value

    def __await__(self) -> Generator[Any, None, bool]:
        return _result(self._value)


def _result(value: bool) -> Generator[Any, None, bool]:
    """A generator that returns ``value`` at once, which is what ``await`` on an already-done awaitable needs."""
    yield from ()
    return value


def asend_slack_alert(
    message: str | Alert | Mapping[str, Any] | None = None,
    *args: object,
    webhook_url: str | None = None,
    dedup_key: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
    destination: str | Sequence[str] | None = None,
    **unknown: object,
) -> Awaitable[bool]:
    """:func:`send_slack_alert` for async code: ``await asend_slack_alert(...)``.

    The alert is queued when this is *called*, not when it is awaited, so a forgotten ``await`` loses nothing;
    queueing never blocks, so the event loop never stalls.
    """
    return _Done(
        send_slack_alert(
            message,
            *args,
            webhook_url=webhook_url,
            dedup_key=dedup_key,
            blocks=blocks,
            destination=destination,
            **unknown,
        )
    )


def _send_slow(
    message: object,
    args: tuple[object, ...],
    webhook_url: str | None,
    dedup_key: str | None,
    blocks: object,
    destination: str | Sequence[str] | None,
    unknown: dict[str, object],
) -> bool:
    if args:
        shown = ", ".join(mask_url(a) if isinstance(a, str) and "://" in a else type(a).__name__ for a in args)
        logger.warning(
            "alerts_lib: send_slack_alert takes one positional argument (the message); ignoring %d more (%s). "
            "Pass options by name, e.g. webhook_url=…",
            len(args),
            shown,
        )
    if unknown:
        logger.warning("alerts_lib: send_slack_alert ignores unknown options %s", sorted(unknown))
    if not _has_content(message, blocks):
        return False
    settings = get_settings()
    plan = get_plan()
    names: tuple[str, ...] | None = None
    if destination is not None:
        wanted = (destination,) if isinstance(destination, str) else tuple(str(d) for d in destination)
        # While capturing (tests), what the code asked for is recorded: the test's configuration is not prod's.
        names = wanted if _capture is not None else _known_destinations(wanted, plan)
        if not names:
            return False
    item = Item(message, None, dedup_key, blocks, names)
    if webhook_url is not None:
        if not _usable(webhook_url):
            return False
        item = item._replace(webhook_url=webhook_url)
    if _capture is not None:
        return _capture(message, item, settings)
    if item.webhook_url is None and not plan.destinations:
        _log_only(message)
        return False
    return _ensure_worker().submit(item)


def _has_content(message: object, blocks: object) -> bool:
    """Nothing to send (None, blank text, an empty or foreign dict) is a warning and False, never a post."""
    if isinstance(message, Mapping):
        if not any(message.get(k) for k in ("text", "blocks", "attachments")):
            logger.warning(
                "alerts_lib: a dict message must be a Slack payload with text, blocks or attachments; nothing sent"
            )
            return False
        return True
    if message is None or (isinstance(message, str) and not message.strip()):
        if blocks:
            return True
        logger.warning(
            "alerts_lib: send_slack_alert called with %s; nothing sent",
            "no message" if message is None else "blank text",
        )
        return False
    return True


def _known_destinations(names: tuple[str, ...], plan: Plan) -> tuple[str, ...]:
    unknown = [n for n in names if n not in plan.destinations]
    if unknown:
        logger.error(
            "alerts_lib: unknown destination(s) %s (configured: %s); %s",
            unknown,
            sorted(plan.destinations) or "none",
            "alert not sent" if len(unknown) == len(names) else "sent to the others",
        )
    return tuple(n for n in names if n in plan.destinations)


def _usable(url: object) -> bool:
    if not isinstance(url, str):
        logger.error("alerts_lib: webhook_url must be a str, not %s; alert not sent", type(url).__name__)
        return False
    ok = _checked_urls.get(url)
    if ok is None:
        problem = webhook_problem(url, f"webhook_url {mask_url(url)}", allow_http=get_settings().allow_http)
        if problem:
            logger.error("alerts_lib: %s; alert not sent", problem)
        ok = _checked_urls[url] = problem is None  # the worker's destination for it registers it as a secret
    return ok


def _log_only(message: object) -> None:
    global _warned_unset
    if not _warned_unset:
        _warned_unset = True
        logger.warning(
            "alerts_lib: SLACK_WEBHOOK_URL is not set and ALERTS_CONFIG names no usable destination: "
            "alerts are only logged"
        )
    if isinstance(message, Alert):
        text = message.text
    elif isinstance(message, Mapping):
        text = to_text(message.get("text") or "(Slack payload)")
    else:
        text = to_text(message)
    logger.info("alerts_lib alert (not sent): %s", clip(text, 2000))


def flush(timeout: float = 5.0) -> bool:
    """Wait up to ``timeout`` seconds for queued alerts; True when all were delivered or given up."""
    global _warned_loop
    if not _warned_loop and _in_event_loop():
        _warned_loop = True
        logger.warning(
            "alerts_lib: flush() called inside a running event loop blocks it; use `await alerts_lib.aflush()`"
        )
    worker = _worker
    return True if worker is None else _flush_worker(worker, timeout)


async def aflush(timeout: float = 5.0) -> bool:
    """:func:`flush` without blocking the event loop (e.g. in a FastAPI lifespan shutdown)."""
    worker = _worker
    if worker is None:
        return True
    return await asyncio.to_thread(_flush_worker, worker, timeout)


def _flush_worker(worker: Worker, timeout: float) -> bool:
    try:
        return worker.flush(float(timeout))
    except Exception as exc:
        logger.error("alerts_lib: flush failed (%s)", type(exc).__name__)
        return False


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


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
                _settings = load_settings()
            settings = _settings
    return settings


def get_plan() -> Plan:
    """The destinations and routes in force (from ``ALERTS_CONFIG``, or ``SLACK_WEBHOOK_URL`` alone)."""
    global _plan
    plan = _plan
    if plan is None:
        with _lock:
            if _plan is None:
                _plan = build_plan(get_settings())
            plan = _plan
    return plan


def configure(settings: Settings | None = None, **overrides: Any) -> Settings:
    """Replace the active settings (from ``settings``, or the environment plus ``overrides``).

    The current worker is flushed for up to its shutdown timeout and replaced. Use it once at startup,
    or in tests; most applications only need environment variables.
    """
    global _settings, _worker, _hot, _plan
    new = settings if settings is not None else load_settings(**overrides)
    with _lock:
        old, _worker, _hot, _settings, _plan = _worker, None, None, new, None
    if old is not None:
        old.close(old.settings.shutdown_timeout)
    return new


def reset(timeout: float = 0.0) -> None:
    """Back to a pristine state: the worker stopped (flushed for ``timeout``), settings re-read on next use."""
    global _settings, _worker, _hot, _warned_unset, _plan
    with _lock:
        old, _worker, _hot, _settings, _plan = _worker, None, None, None, None
        _warned_unset = False
        _checked_urls.clear()
    if old is not None:
        old.close(timeout)


def _ensure_worker() -> Worker:
    global _worker, _hot, _atexit_registered
    with _lock:
        if _worker is None:
            settings = get_settings()
            plan = get_plan()  # building it registered every destination's URL with the log scrubber
            _worker = Worker(settings, plan)
            _hot = _worker if plan.destinations else None
            if not _atexit_registered:
                atexit.register(_at_exit)
                _atexit_registered = True
                _finalize_in_multiprocessing_child()
        return _worker


def _finalize_in_multiprocessing_child() -> None:
    """A ``multiprocessing`` child leaves through ``os._exit``, skipping atexit; its own finalizers still run."""
    mp = sys.modules.get("multiprocessing")
    if mp is None or mp.parent_process() is None:
        return
    import multiprocessing.util

    multiprocessing.util.Finalize(None, _at_exit, exitpriority=100)


def _at_exit() -> None:
    global _worker, _hot
    worker = _worker
    if worker is not None:
        _worker = _hot = None
        # After a flush that already timed out with nothing delivered since (an Airflow callback's bounded
        # wait, say), waiting again only delays the exit: say what is left and go.
        worker.close(0.0 if worker.stalled else worker.settings.shutdown_timeout, wait=False)


def _after_fork_in_child() -> None:
    """The parent's worker thread does not exist in a forked child: start afresh, lazily."""
    global _worker, _hot, _lock, _atexit_registered
    _lock = threading.RLock()
    if _worker is not None:
        _forked_away.append(_worker)  # never collected here: its files and sockets belong to the parent
    _worker = _hot = None
    # Some runners (Airflow 3's task runner) clear atexit handlers in the child: register again on first use.
    atexit.unregister(_at_exit)
    _atexit_registered = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
