"""The background worker: a bounded queue drained by one daemon thread (after sentry-python's transport worker).

The caller's only cost is ``SimpleQueue.put_nowait`` behind a size check. Everything slow happens
here: rendering, storm control, pacing to Slack's one post per second per webhook (combining what queued up
meanwhile), HTTP under a hard deadline, and retries as :mod:`._policy` decides.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from . import _payload
from ._alert import Alert, Payload
from ._policy import Outcome, RetryPolicy, Verdict, blocks_rejected
from ._redact import mask_url
from ._settings import Settings
from ._storm import StormControl
from ._transport import Transport

logger = logging.getLogger("alerts_lib")


_WAKE = object()  # put on the queue to wake the worker (flush, stop); never counted against the bound


class Item(NamedTuple):
    """What the caller enqueues: raw, unrendered; rendering is the worker's job."""

    message: object
    webhook_url: str | None
    dedup_key: str | None
    blocks: object


@dataclass
class Stats:
    """Counters since the worker started (``alerts_lib.stats()``)."""

    queued: int = 0  # waiting in the queue or for their post
    delivered: int = 0  # alerts Slack accepted (a combined post counts each alert in it)
    posts: int = 0  # HTTP posts Slack accepted
    retries: int = 0  # failed attempts that were retried
    dropped: int = 0  # refused because the queue was full
    failed: int = 0  # given up: permanent error or retries exhausted
    suppressed: int = 0  # identical alerts merged by storm control
    last_error: str | None = None
    # The same counters per destination name ("default" for SLACK_WEBHOOK_URL); the totals above add them up.
    destinations: dict[str, Stats] = field(default_factory=dict)


@dataclass(eq=False)  # identity, not value: two identical alerts are two alerts
class _Pending:
    payload: Payload
    attempts: int = 0
    plain: bool = False  # resend as text only: Slack rejected its blocks


@dataclass
class _Route:
    """Per-webhook state: what waits, and when the next post may go (pace, backoff or Retry-After)."""

    url: str
    pending: deque[_Pending] = field(default_factory=deque)
    not_before: float = 0.0
    failures: int = 0  # consecutive failed posts, for the backoff exponent


class Worker:
    def __init__(
        self,
        settings: Settings,
        *,
        transport: Callable[[Settings], Any] = Transport,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._policy = RetryPolicy(
            settings.max_retries, settings.backoff_base, settings.backoff_max, settings.max_retry_after
        )
        # SimpleQueue is C: put_nowait is the cheapest hand-over to another thread, and a blocked get()
        # wakes on it. It is unbounded; submit() enforces the bound, so flush/stop sentinels always fit.
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._maxsize = settings.queue_size
        self._lock = threading.Lock()  # guards stats counters written by callers, and flush waiters
        self._flush_waiters: list[threading.Event] = []
        self._routes: dict[str, _Route] = {}
        self._storm: StormControl[tuple[str, Payload]] = StormControl(settings.dedup_window)
        self._stats = Stats()
        self._unreported_drops = 0  # not yet mentioned in a delivered message
        self._logged_drops = 0  # already mentioned in the log
        self._stopping = False
        self._abandon = False  # set by close() after a failed flush: stop even with alerts pending
        self._stalled_at: int | None = None  # posts delivered when a flush last timed out
        self._transport_factory = transport
        self._thread = threading.Thread(target=self._run, name="alerts_lib-worker", daemon=True)
        self._thread.start()

    # -- caller side: must stay microseconds ------------------------------------------------------
    def submit(self, item: tuple[object, str | None, str | None, object]) -> bool:
        """Enqueue ``Item``-shaped data; the caller's whole cost, so nothing here may be slow."""
        if self._queue.qsize() >= self._maxsize or self._stopping:
            with self._lock:
                self._stats.dropped += 1
                self._unreported_drops += 1
            return False
        self._queue.put_nowait(item)
        return True

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far is delivered or given up, for at most ``timeout`` seconds."""
        if not self._thread.is_alive():
            return self._idle()
        done = threading.Event()
        with self._lock:
            self._flush_waiters.append(done)
        self._queue.put_nowait(_WAKE)
        if done.wait(max(0.0, timeout)):
            return True
        with self._lock:
            if done in self._flush_waiters:
                self._flush_waiters.remove(done)
        if not done.is_set():
            self._stalled_at = self._stats.posts
        return done.is_set()

    @property
    def stalled(self) -> bool:
        """A flush timed out and nothing was delivered since: Slack is not answering, waiting again is futile."""
        return self._stalled_at is not None and self._stats.posts == self._stalled_at

    def close(self, timeout: float) -> bool:
        """Flush, then stop the thread; what is left is logged, never silently lost."""
        flushed = self.flush(timeout)
        if not flushed:
            self._log_abandoned()
            self._abandon = True
        self._stopping = True
        self._queue.put_nowait(_WAKE)
        return flushed

    def stats(self) -> Stats:
        with self._lock:
            snapshot = Stats(**vars(self._stats))
        snapshot.queued = self._queue.qsize() + sum(len(r.pending) for r in list(self._routes.values()))
        return snapshot

    # -- worker thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        transport = self._transport_factory(self.settings)
        try:
            while not (self._stopping and (self._abandon or self._idle())):
                try:
                    first = self._queue.get(timeout=self._sleep_for())
                except queue.Empty:
                    first = _WAKE
                try:
                    self._step(transport, first)
                except Exception as exc:  # the worker must outlive any bug in one alert
                    logger.error("alerts_lib: internal error in the delivery worker (%s)", type(exc).__name__)
                    logger.debug("alerts_lib: worker error detail", exc_info=True)
        finally:
            transport.close()

    def _step(self, transport: Any, first: Any) -> None:
        self._log_drops()
        self._intake(self._clock(), first)
        flushing = bool(self._flush_waiters) or self._stopping
        for summary in self._storm.due(self._clock(), force=flushing):
            url, payload = summary.sample
            self._route(url).pending.append(_Pending(_payload.annotate(payload, summary.note)))
        for route in list(self._routes.values()):
            if route.pending and self._clock() >= route.not_before:
                self._post(transport, route)
                self._intake(self._clock())  # what arrived during the post joins the next one
        if self._idle():
            self._release_flushers()

    def _intake(self, now: float, first: Any = None) -> None:
        default_url = self.settings.webhook
        while True:
            if first is not None:
                raw, first = first, None
            else:
                try:
                    raw = self._queue.get_nowait()
                except queue.Empty:
                    return
            if raw is _WAKE:
                continue
            item = Item._make(raw)
            url = item.webhook_url or default_url
            if url is None:
                continue
            payload = _payload.render(item.message, env=self.settings.env, blocks=item.blocks)
            if payload is None:
                continue
            alert = item.message if isinstance(item.message, Alert) else None
            key = item.dedup_key or (alert.dedup_key if alert else None)
            if (alert is not None and not alert.dedupe) or self._storm.admit(
                (url, key or _payload.text_of(payload)), (url, payload), now
            ):
                self._route(url).pending.append(_Pending(payload))
            else:
                self._stats.suppressed += 1

    def _route(self, url: str) -> _Route:
        route = self._routes.get(url)
        if route is None:
            route = self._routes[url] = _Route(url)
        return route

    def _post(self, transport: Any, route: _Route) -> None:
        head = route.pending[0]
        if head.plain:
            batch = [head]
            payload = _payload.text_only(head.payload)
        else:
            run = list(itertools.takewhile(lambda p: not p.plain, route.pending))
            batch = run[: _payload.batch_size([p.payload for p in run])]
            payload = _payload.combine([p.payload for p in batch])
        drops = self._unreported_drops
        if drops:
            payload = _payload.annotate(payload, f"⚠️ alerts_lib dropped {drops} alert(s): its queue was full")
        outcome: Outcome = transport.post(route.url, payload)
        now = self._clock()
        if outcome.verdict is Verdict.DELIVERED:
            self._done(route, batch)
            route.failures = 0
            route.not_before = now + self.settings.min_interval
            with self._lock:
                self._stats.delivered += len(batch)
                self._stats.posts += 1
                self._unreported_drops -= drops
            return
        self._stats.last_error = outcome.reason
        where = mask_url(route.url)
        if outcome.verdict is Verdict.PERMANENT:
            if blocks_rejected(outcome) and not head.plain and _payload.has_blocks(payload):
                logger.warning("alerts_lib: Slack rejected the blocks (%s); resending as plain text", outcome.reason)
                for pending in batch:
                    pending.plain = True
                return
            self._done(route, batch)
            route.not_before = now + self.settings.min_interval
            self._give_up(batch, f"Slack refused it at {where}: {outcome.reason}")
            return
        # Transient: everything in the batch waits for the next try, and so does this webhook.
        route.failures += 1
        for pending in batch:
            pending.attempts += 1
        exhausted = [p for p in batch if p.attempts > self._policy.max_retries]
        if exhausted:
            for pending in exhausted:
                route.pending.remove(pending)
            self._give_up(exhausted, f"{outcome.reason} at {where}, {self._policy.max_retries} retries spent")
        delay = self._policy.delay(min(route.failures, self._policy.max_retries), outcome) or 0.0
        route.not_before = now + max(delay, self.settings.min_interval)
        retrying = len(batch) - len(exhausted)
        if retrying:
            self._stats.retries += retrying
            logger.warning(
                "alerts_lib: delivery to %s failed (%s); %d alert(s) retry in %.1f s",
                where,
                outcome.reason,
                retrying,
                delay,
            )

    def _log_drops(self) -> None:
        dropped = self._stats.dropped
        if dropped > self._logged_drops:
            logger.warning(
                "alerts_lib: dropped %d alert(s): the queue (ALERTS_QUEUE_SIZE=%d) was full",
                dropped - self._logged_drops,
                self._maxsize,
            )
            self._logged_drops = dropped

    def _done(self, route: _Route, batch: list[_Pending]) -> None:
        for _ in batch:
            route.pending.popleft()

    def _give_up(self, batch: list[_Pending], why: str) -> None:
        with self._lock:
            self._stats.failed += len(batch)
        logger.error("alerts_lib: %d alert(s) not delivered: %s. Text: %s", len(batch), why, _texts(batch))

    def _sleep_for(self) -> float | None:
        """Until the next thing to do: a webhook's next allowed post, or a storm window ending."""
        if self._flush_waiters and self._storm.pending():
            return 0.0
        times = [r.not_before for r in self._routes.values() if r.pending]
        storm = self._storm.next_due()
        if storm is not None:
            times.append(storm)
        if not times:
            return None
        return max(0.0, min(times) - self._clock())

    def _idle(self) -> bool:
        return (
            not self._queue.qsize()
            and not any(r.pending for r in self._routes.values())
            and not (self._storm.pending() and (self._flush_waiters or self._stopping))
        )

    def _release_flushers(self) -> None:
        with self._lock:
            waiters, self._flush_waiters = self._flush_waiters, []
        for waiter in waiters:
            waiter.set()

    def _log_abandoned(self) -> None:
        left = [p for r in list(self._routes.values()) for p in list(r.pending)]
        count = len(left) + self._queue.qsize()
        if count:
            logger.error("alerts_lib: %d alert(s) still undelivered at shutdown. Text: %s", count, _texts(left))


def _texts(pending: list[_Pending]) -> str:
    """What undelivered alerts said, for the log: an alert given up is logged, never silently lost."""
    return " | ".join(_payload.text_of(p.payload)[:300] for p in pending)
