"""The background worker: a bounded queue, one event loop, one lane per destination URL.

The caller's only cost is ``SimpleQueue.put_nowait`` behind a size check (after sentry-python's transport
worker). An intake thread takes what arrives in batches and does routing and storm control: a held repeat is a
dictionary lookup and a counter there, and never wakes the event loop; a repeat of the very object storm control
holds is counted by the caller and never even queued (:mod:`._held`). What is admitted goes to the worker's
private event loop: rendering per destination, the spool, and one lane per destination URL. Lanes post
concurrently, each with its own pace, backoff and ``Retry-After``, so a hanging or rate-limited destination never
delays another's alerts. What to retry and how long to wait is :mod:`._policy`'s decision, the same for every lane.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ._alert import Alert, Severity
from ._config import Plan, webhook_destination
from ._durability import Durability
from ._held import FOLD_EVERY, HeldRepeats
from ._policy import Outcome, RetryPolicy, Verdict
from ._settings import Settings
from ._spool import lane_key, local_origin
from ._storm import StormControl, Summary
from ._text import clip, duration_text, to_text
from ._transport import Transport
from .destinations.base import Destination, Render, render_message

logger = logging.getLogger("alerts_lib")

DELAY_NOTE_AFTER = 60.0  # seconds: an alert that waited longer says so when delivered
SPOOL_POLL = 30.0  # seconds between looks for spooled alerts that no live process holds
MAX_BATCH_LOOK = 100  # renders offered to a destination's batch() at a time
LOGGED_TEXTS = 20  # undelivered alerts' texts quoted in one log line, at most
MAX_OPEN = 10_000  # firing alerts whose destinations are remembered for their resolve
INTAKE_LINGER = 0.01  # seconds the intake thread waits after handing a batch over, so a storm comes in batches


class Item(NamedTuple):
    """What the caller enqueues: raw, unrendered; rendering is the worker's job."""

    message: object
    webhook_url: str | None
    dedup_key: str | None
    blocks: object
    destination: tuple[str, ...] | None = None  # names given by the caller (send_slack_alert makes it a tuple)


class _Flush:
    """Put on the queue by flush(): everything before it must be delivered or given up."""

    __slots__ = ("done", "seq")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.seq = -1


_WAKE = object()  # wakes the intake thread (stop); never counted against the bound


@dataclass
class Stats:
    """Counters since the worker started (``alerts_lib.stats()``)."""

    queued: int = 0  # waiting in the queue or for their post
    delivered: int = 0  # alerts a destination accepted (a combined post counts each alert in it)
    posts: int = 0  # HTTP posts accepted
    retries: int = 0  # failed attempts that were retried
    dropped: int = 0  # refused because the queue was full, or evicted from a full spool
    failed: int = 0  # given up: permanent error, or ALERTS_GIVE_UP_AFTER passed
    suppressed: int = 0  # identical alerts merged by storm control
    last_error: str | None = None
    # The same counters per destination name ("default" for SLACK_WEBHOOK_URL); the totals above add them up.
    destinations: dict[str, Stats] = field(default_factory=dict)


@dataclass(eq=False)  # identity, not value: two identical alerts are two alerts
class _Pending:
    render: Render
    created: float  # wall-clock time when raised (spooled alerts keep the time of their first process)
    seq: int
    origin: str | None = None  # host of the process that raised it, when it was not this one
    spool_id: int | None = None
    fallen_back: bool = False  # resent in a simpler form once already (Slack rejected its blocks)
    resend: bool = False  # an Alertmanager re-send of a firing alert: not a new alert


@dataclass(eq=False)
class _Lane:
    """One destination URL: what waits, and when the next post may go (pace, backoff or Retry-After)."""

    dest: Destination
    url: str
    key: str  # the spool's fingerprint of (kind, url); never the URL
    stats: Stats
    pending: deque[_Pending] = field(default_factory=deque)
    inflight: list[_Pending] = field(default_factory=list)
    not_before: float = 0.0
    failures: int = 0  # consecutive failed posts, for the backoff exponent
    failing_since: float | None = None
    warned_at: float = float("-inf")
    unreported_drops: int = 0  # queue-full drops not yet said in a delivered post
    unreported_evicted: int = 0  # spool-full evictions, likewise
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def where(self) -> str:
        return f"{self.dest.name} ({self.dest.mask(self.url)})"


class Worker:
    def __init__(
        self,
        settings: Settings,
        plan: Plan,
        *,
        transport: Callable[[Settings], Transport] = Transport,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.plan = plan
        self._clock = clock
        self._policy = RetryPolicy(
            settings.give_up_after, settings.backoff_base, settings.backoff_max, settings.max_retry_after
        )
        # SimpleQueue is C: put_nowait is the cheapest hand-over to another thread, and a blocked get()
        # wakes on it. It is unbounded; submit() enforces the bound, so flush/stop markers always fit.
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._maxsize = settings.queue_size
        self._markers = 0  # flush/stop markers in the queue: not alerts, never counted as queued
        self._lock = threading.Lock()  # guards counters written by callers
        self._dropped = 0  # queue full (callers' threads)
        self._reported_drops = 0
        self._evicted = 0  # spool full
        self._stats: dict[str, Stats] = {}
        self._lanes: dict[tuple[str, str], _Lane] = {}
        self._by_key: dict[str, list[_Lane]] = {}
        self._adhoc: dict[str, Destination] = {}  # per-call webhook_url destinations
        # Where each open (firing) alert went, so its resolve goes there too, whatever the routes say of it.
        self._open: dict[Hashable, list[Destination]] = {}
        self._storm: StormControl[tuple[Destination, object, str | None]] = StormControl(settings.dedup_window)
        self._held = HeldRepeats()
        self.held = self._held.published  # what callers read: see send_slack_alert
        self._flushes: list[_Flush] = []
        self._seq = 0
        self._origin = local_origin()
        self._host = socket.gethostname()
        self._stopping = False
        self._posts = 0
        self._stalled_at: int | None = None
        self._last_error: str | None = None
        self._durability = Durability(settings.spool_dir, settings.spool_max) if settings.spool_dir else None
        self._transport = transport(settings)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        for dest in plan.destinations.values():
            self._lanes_of(dest)
        self._loop_thread = threading.Thread(target=self._run_loop, name="alerts_lib-worker", daemon=True)
        self._intake_thread = threading.Thread(target=self._run_intake, name="alerts_lib-intake", daemon=True)
        self._loop_thread.start()
        self._intake_thread.start()

    # -- caller side: must stay microseconds ------------------------------------------------------
    def submit(self, item: tuple[Any, ...]) -> bool:
        """Enqueue ``Item``-shaped data; the caller's whole cost, so nothing here may be slow."""
        if self._queue.qsize() - self._markers >= self._maxsize or self._stopping:
            with self._lock:
                self._dropped += 1
            return False
        self._queue.put_nowait(item)
        return True

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far is delivered or given up, for at most ``timeout`` seconds."""
        if not self._loop_thread.is_alive() or self._loop.is_closed():
            return self._idle()
        marker = _Flush()
        with self._lock:
            self._markers += 1
        self._queue.put_nowait(marker)
        done = marker.done.wait(max(0.0, timeout))
        if not done:
            self._stalled_at = self._posts
        return done

    @property
    def stalled(self) -> bool:
        """A flush timed out and nothing was delivered since: the destinations are not answering."""
        return self._stalled_at is not None and self._posts == self._stalled_at

    def close(self, timeout: float, *, wait: bool = True) -> bool:
        """Flush, then stop; what is left stays in the spool for another process, or is logged — never lost silently.

        ``wait=False`` at interpreter exit: the worker's threads are daemons, waiting for them only delays the exit.
        """
        flushed = self.flush(timeout)
        self._stopping = True
        self._held.clear()  # repeats go through submit() again, which now refuses them
        if not flushed:
            # Said from this thread: the worker's loop may be stuck in a post, and the process is about to go.
            self._log_abandoned()
        if self._loop_thread.is_alive() and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop_loop)
            except RuntimeError:  # closed in the meantime
                pass
            if wait:
                self._loop_thread.join(timeout=1.0)
        with self._lock:
            self._markers += 1
        self._queue.put_nowait(_WAKE)
        return flushed

    def stats(self) -> Stats:
        """Totals and per destination. A drop (queue or spool full) happens before routing, so it counts for
        every destination and once in the totals."""
        dropped = self._dropped + self._evicted
        total = Stats(dropped=dropped, queued=max(0, self._queue.qsize() - self._markers), last_error=self._last_error)
        for name, s in list(self._stats.items()):
            snap = Stats(**{k: v for k, v in vars(s).items() if k != "destinations"}, destinations={})
            snap.dropped = dropped
            total.destinations[name] = snap
            for counter in ("delivered", "posts", "retries", "failed", "suppressed", "queued"):
                setattr(total, counter, getattr(total, counter) + getattr(snap, counter))
        return total

    @property
    def spool(self) -> Durability | None:
        return self._durability

    def lane_keys(self) -> list[str]:
        return list(self._by_key)

    def claim_now(self) -> None:
        """Look for spooled alerts that no live process holds, now rather than at the next poll."""
        if self._loop_thread.is_alive() and not self._loop.is_closed():
            asyncio.run_coroutine_threadsafe(self._claim_async(), self._loop).result(timeout=10)

    async def _claim_async(self) -> None:
        self._claim_spooled()

    # -- intake thread: hands what callers queued to the loop, in batches ----------------------------------
    def _run_intake(self) -> None:
        """Routing and storm control, on their own thread: a held repeat never wakes the event loop."""
        self._ready.wait()
        while True:
            try:
                batch = [self._queue.get(timeout=self._storm_wait())]
            except queue.Empty:
                batch = []
            while batch and len(batch) < 1000:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            markers = sum(1 for x in batch if x is _WAKE or isinstance(x, _Flush))
            if markers:
                with self._lock:
                    self._markers -= markers
            admitted = self._admit(batch)
            if admitted or markers:
                try:
                    self._loop.call_soon_threadsafe(self._on_admitted, admitted)
                except RuntimeError:  # the loop is closed: the worker stopped
                    return
            if self._stopping and any(x is _WAKE for x in batch):
                return
            if batch:
                # In a storm, let repeats pile up for a moment instead of waking for each one: the GIL
                # hand-offs are what an alerting host would pay for. Pacing is a second; 10 ms is unnoticed.
                time.sleep(INTAKE_LINGER)

    def _storm_wait(self) -> float | None:
        due = self._storm.next_due()
        wait = None if due is None else max(0.0, due - self._clock())
        if self._held:  # callers count held repeats themselves: read their counters now and then
            wait = FOLD_EVERY if wait is None else min(wait, FOLD_EVERY)
        return wait

    def _admit(self, batch: list[Any]) -> list[Any]:
        """What goes on to be rendered: admitted alerts, storm summaries that are due, flush markers in order."""
        now, wall = self._clock(), time.time()
        out: list[Any] = []
        self._fold_held(now, wall, out)
        for raw in batch:
            if raw is _WAKE:
                continue
            if isinstance(raw, _Flush):
                self._fold_held(now, wall, out)
                out += self._storm.due(now, force=True)  # a flush closes the windows early: nothing is held back
                out.append(raw)
                continue
            try:
                self._route(Item(*raw), now, wall, out)
            except Exception as exc:  # the worker must outlive any bug in one alert
                logger.error("alerts_lib: could not process an alert (%s)", type(exc).__name__)
                logger.debug("alerts_lib: intake error detail", exc_info=True)
        self._fold_held(now, wall, out)
        out += self._storm.due(now)
        self._held.withdraw(self._storm.holds, now)
        return out

    def _route(self, item: Item, now: float, wall: float, out: list[Any]) -> None:
        message = item.message
        raw_alert = message if isinstance(message, Alert) else None
        targets = self._targets(item, raw_alert)
        held: list[tuple[Hashable, Destination]] = []
        for dest in targets:
            if raw_alert is None or raw_alert.dedupe:
                # A repeat costs this lookup and a counter: nothing is rendered or copied for it.
                key: Hashable = (
                    dest.name,
                    item.dedup_key or (raw_alert.storm_key if raw_alert else _text_key(message, item.blocks)),
                )
                if not self._storm.admit(key, (dest, raw_alert or message, item.dedup_key), now, wall):
                    self._stats_of(dest).suppressed += 1
                    held.append((key, dest))
                    continue
            out.append((dest, item))
        if held and len(held) == len(targets) and _countable(item, raw_alert) and not self._stopping:
            self._held.hold(message, tuple(held))

    def _fold_held(self, now: float, wall: float, out: list[Any]) -> None:
        """Repeats that callers counted themselves become storm control's, as if they had come through the queue."""
        for held, count in self._held.take():
            if all(self._storm.holds(k) for k in held.keys):
                for key, dest in held.targets:
                    self._storm.repeat(key, count, now)
                    self._stats_of(dest).suppressed += count
                continue
            for _ in range(count):  # counted as its window ended: the first opens a new window, as if queued
                self._route(Item(held.message, None, None, None), now, wall, out)

    # -- the event loop ------------------------------------------------------------------------------------
    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except Exception:
            logger.error("alerts_lib: the delivery worker stopped on an internal error", exc_info=True)
        finally:
            try:
                self._loop.run_until_complete(self._transport.aclose())
            finally:
                self._loop.close()

    async def _main(self) -> None:
        self._stopped = asyncio.Event()
        for lanes in list(self._by_key.values()):
            for lane in lanes:
                lane.wake = asyncio.Event()
                lane.task = self._loop.create_task(self._run_lane(lane))
        self._ready.set()
        housekeeping = self._loop.create_task(self._run_housekeeping())
        await self._stopped.wait()
        tasks = [housekeeping, *(lane.task for lane in self._all_lanes() if lane.task is not None)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _stop_loop(self) -> None:
        if self._durability is not None:
            self._durability.close()
        self._stopped.set()

    def _account_drops(self) -> None:
        """Queue-full drops since the last look: logged once, and said in each destination's next post."""
        with self._lock:
            new = self._dropped - self._reported_drops
            self._reported_drops = self._dropped
        if new <= 0:
            return
        logger.warning("alerts_lib: dropped %d alert(s): the queue (ALERTS_QUEUE_SIZE=%d) was full", new, self._maxsize)
        for lane in self._all_lanes():
            lane.unreported_drops += new

    def _on_admitted(self, entries: list[Any]) -> None:
        try:
            self._account_drops()
            wall = time.time()
            added: list[tuple[_Lane, _Pending]] = []
            for entry in entries:
                try:
                    if isinstance(entry, _Flush):
                        entry.seq = self._seq
                        self._flushes.append(entry)
                    elif isinstance(entry, Summary):
                        self._summary(entry, wall, added)
                    else:
                        dest, item = entry
                        self._enqueue(dest, item, wall, added)
                except Exception as exc:  # the worker must outlive any bug in one alert
                    logger.error("alerts_lib: could not render an alert (%s)", type(exc).__name__)
                    logger.debug("alerts_lib: render error detail", exc_info=True)
            self._spool_new(added)
            for lane, _ in added:
                lane.wake.set()
            self._check_flushes()
        except Exception:
            logger.error("alerts_lib: internal error in the delivery worker", exc_info=True)

    def _enqueue(self, dest: Destination, item: Item, wall: float, added: list[tuple[_Lane, _Pending]]) -> None:
        render = render_message(dest, item.message, item.blocks, env=self.settings.env, now=wall)
        if render is not None:
            self._append(dest, render, wall, added)

    def _append(self, dest: Destination, render: Render, wall: float, added: list[tuple[_Lane, _Pending]]) -> None:
        for lane in self._lanes_of(dest):
            pending = _Pending(render, wall, self._next_seq())
            lane.pending.append(pending)
            lane.stats.queued += 1
            added.append((lane, pending))

    def _targets(self, item: Item, alert: Alert | None) -> list[Destination]:
        if item.webhook_url is not None:
            return [self._adhoc_destination(item.webhook_url)]
        if item.destination is not None:
            return [self.plan.destinations[n] for n in item.destination if n in self.plan.destinations]
        targets = self.plan.targets(alert, self.settings.env)
        if alert is None or alert.state is None:
            return targets
        # A resolve goes wherever its firing alert went: routed by severity, a ✅ recovery would otherwise never
        # reach the destination that holds the alert open (Alertmanager would keep it firing).
        key = (alert.name, alert.source, alert.labels)
        if alert.state == "firing":
            opened = self._open.pop(key, [])
            self._open[key] = opened + [d for d in targets if d not in opened]
            while len(self._open) > MAX_OPEN:
                del self._open[next(iter(self._open))]
            return targets
        return targets + [d for d in self._open.pop(key, []) if d not in targets]

    def _adhoc_destination(self, url: str) -> Destination:
        known = self._adhoc.get(url)
        if known is None:
            known = self._adhoc[url] = webhook_destination(url, self.settings)
        return known

    def _stats_of(self, dest: Destination) -> Stats:
        stats = self._stats.get(dest.name)
        if stats is None:
            # setdefault is one step under the GIL: the intake thread (suppressed) and the loop (lanes) may both
            # be first to see a per-call webhook, and neither's counters may land in a Stats the other replaced.
            stats = self._stats.setdefault(dest.name, Stats())
        return stats

    def _lanes_of(self, dest: Destination) -> list[_Lane]:
        lanes = []
        for url in dest.urls:
            lane = self._lanes.get((dest.name, url))
            if lane is None:
                key = lane_key(dest.kind, url)
                lane = _Lane(dest, url, key, self._stats_of(dest))
                self._lanes[(dest.name, url)] = lane
                self._by_key.setdefault(key, []).append(lane)
                if self._ready.is_set():
                    lane.task = self._loop.create_task(self._run_lane(lane))
            lanes.append(lane)
        return lanes

    def _all_lanes(self) -> list[_Lane]:
        return list(self._lanes.values())

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # -- storm summaries, spool, re-sends ------------------------------------------------------------------
    def _summary(self, summary: Summary[Any], wall: float, added: list[tuple[_Lane, _Pending]]) -> None:
        dest, sample, _ = summary.sample
        if getattr(dest, "storm_summaries", True):
            self._append(dest, dest.render(_summary_alert(summary, sample, self.settings.env), now=wall), wall, added)

    def _spool_new(self, added: list[tuple[_Lane, _Pending]]) -> None:
        if self._durability is None or not added:
            return
        fresh = [(lane, p) for lane, p in added if not p.resend and p.spool_id is None]
        ids = self._durability.add([(lane.key, p.render, p.created, self._origin) for lane, p in fresh])
        for (_, pending), spool_id in zip(fresh, ids, strict=True):
            pending.spool_id = spool_id

    def _claim_spooled(self) -> None:
        if self._durability is None:
            return
        for row in self._durability.claim(list(self._by_key)):
            lanes = self._by_key.get(row.lane)
            if not lanes:
                continue
            lane = lanes[0]
            origin = None if row.origin == self._origin else row.origin  # raised by another process: say so
            lane.pending.append(_Pending(row.render, row.created, self._next_seq(), origin, row.id))
            lane.stats.queued += 1
            lane.wake.set()
        evicted = self._durability.take_evicted()
        if evicted:
            self._evicted += evicted
            for lane in self._all_lanes():
                lane.unreported_evicted += evicted
            logger.warning(
                "alerts_lib: the spool was full (ALERTS_SPOOL_MAX): its %d oldest alert(s) were dropped from it",
                evicted,
            )

    async def _run_housekeeping(self) -> None:
        next_poll = self._clock()
        while True:
            now = self._clock()
            self._account_drops()
            added: list[tuple[_Lane, _Pending]] = []
            for dest in list(self.plan.destinations.values()):
                for render in dest.resends(time.time()):
                    for lane in self._lanes_of(dest):
                        pending = _Pending(render, time.time(), self._next_seq(), resend=True)
                        lane.pending.append(pending)
                        added.append((lane, pending))
            for lane, _ in added:
                lane.wake.set()  # re-sends are not spooled: the destination re-creates them
            if now >= next_poll:
                self._claim_spooled()
                next_poll = now + SPOOL_POLL
            wait = next_poll - now
            if any(getattr(d, "resend_interval", None) for d in self.plan.destinations.values()):
                wait = min(wait, 1.0)
            await asyncio.sleep(max(wait, 0.0) + 0.001)

    # -- lanes ---------------------------------------------------------------------------------------------
    async def _run_lane(self, lane: _Lane) -> None:
        while True:
            if not lane.pending:
                lane.wake.clear()
                await lane.wake.wait()
                continue
            wait = lane.not_before - self._clock()
            if wait > 0:
                lane.wake.clear()
                try:
                    await asyncio.wait_for(lane.wake.wait(), wait)
                except asyncio.TimeoutError:
                    pass
                continue
            try:
                await self._post(lane)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.error("alerts_lib: internal error posting to %s (%s)", lane.where, type(exc).__name__)
                logger.debug("alerts_lib: lane error detail", exc_info=True)
                lane.not_before = self._clock() + max(1.0, lane.dest.min_interval)
            self._check_flushes()

    async def _post(self, lane: _Lane) -> None:
        dest = lane.dest
        first = lane.pending[0].fallen_back  # a simpler form is never combined with rich ones
        head = list(
            itertools.takewhile(lambda p: p.fallen_back == first, itertools.islice(lane.pending, MAX_BATCH_LOOK))
        )
        wall = time.time()
        renders = [self._with_delay_note(dest, p, wall) for p in head]
        drops, evicted = lane.unreported_drops, lane.unreported_evicted
        if drops:
            renders[0] = dest.annotate(renders[0], f"⚠️ alerts_lib dropped {drops} alert(s): its queue was full")
        if evicted:
            renders[0] = dest.annotate(
                renders[0], f"⚠️ alerts_lib's spool was full: its {evicted} oldest alert(s) were dropped from it"
            )
        batch = dest.batch(renders)
        sent = head[: batch.count]
        lane.inflight = sent
        for _ in sent:
            lane.pending.popleft()
        try:
            outcome = await self._transport.post(dest.post_url(lane.url), batch.body, dest.classify)
        finally:
            lane.inflight = []
        self._settle(lane, sent, outcome, drops, evicted)

    def _settle(self, lane: _Lane, sent: list[_Pending], outcome: Outcome, drops: int, evicted: int) -> None:
        now, wall, stats = self._clock(), time.time(), lane.stats
        alerts = [p for p in sent if not p.resend]
        if outcome.verdict is Verdict.DELIVERED:
            self._posts += 1
            stats.delivered += len(alerts)
            stats.posts += 1
            stats.queued -= len(alerts)
            lane.unreported_drops -= drops
            lane.unreported_evicted -= evicted
            if lane.failures:
                logger.info(
                    "alerts_lib: delivery to %s works again after %d failed attempt(s)", lane.where, lane.failures
                )
            lane.failures, lane.failing_since = 0, None
            lane.not_before = now + lane.dest.min_interval
            self._forget(sent)
            return
        stats.last_error = outcome.reason
        self._last_error = outcome.reason if len(self._stats) <= 1 else f"{lane.dest.name}: {outcome.reason}"
        if outcome.verdict is Verdict.PERMANENT:
            lane.not_before = now + lane.dest.min_interval
            simpler = [self._fallback(lane.dest, p, outcome) for p in sent]
            if any(s is not None for s in simpler):
                logger.warning(
                    "alerts_lib: %s refused the alert (%s); resending it in a simpler form", lane.where, outcome.reason
                )
                kept = [p for p, s in zip(sent, simpler, strict=True) if s is not None]
                for pending, render in zip(kept, [s for s in simpler if s is not None], strict=True):
                    pending.render, pending.fallen_back = render, True
                lane.pending.extendleft(reversed(kept))
                sent = [p for p, s in zip(sent, simpler, strict=True) if s is None]
            self._give_up(lane, sent, f"{lane.where} refused it: {outcome.reason}")
            return
        # Transient: the batch waits for the next try, and so does this lane.
        lane.failures += 1
        if lane.failing_since is None:
            lane.failing_since = now
        expired = [p for p in sent if p.resend or self._policy.expired(wall - p.created)]
        retrying = [p for p in sent if p not in expired]
        lane.pending.extendleft(reversed(retrying))
        delay = self._policy.delay(lane.failures, outcome) or 0.0
        lane.not_before = now + max(delay, lane.dest.min_interval)
        stats.retries += len(retrying)
        given_up = [p for p in expired if not p.resend]
        if given_up:
            self._give_up(
                lane,
                given_up,
                f"{outcome.reason} at {lane.where}; "
                f"retried for {duration_text(self._policy.give_up_after)} (ALERTS_GIVE_UP_AFTER)",
            )
        if retrying and (lane.failures == 1 or now - lane.warned_at >= 300):
            lane.warned_at = now
            logger.warning(
                "alerts_lib: delivery to %s failed (%s); %d alert(s) retry in %.1f s%s",
                lane.where,
                outcome.reason,
                len(lane.pending),
                delay,
                "" if lane.failures == 1 else f" (failing for {duration_text(now - (lane.failing_since or now))})",
            )

    def _fallback(self, dest: Destination, pending: _Pending, outcome: Outcome) -> Render | None:
        fallback = getattr(dest, "fallback", None)
        if pending.fallen_back or fallback is None:
            return None
        result: Render | None = fallback(pending.render, outcome)
        return result

    def _with_delay_note(self, dest: Destination, pending: _Pending, wall: float) -> Render:
        waited = wall - pending.created
        if pending.resend or (waited < DELAY_NOTE_AFTER and pending.origin is None):
            return pending.render
        where = pending.origin.split(":")[0] if pending.origin else self._host
        return dest.annotate(pending.render, f"⏱ delayed: raised {duration_text(waited)} ago on {where}")

    def _give_up(self, lane: _Lane, batch: list[_Pending], why: str) -> None:
        if not batch:
            return
        lane.stats.failed += len(batch)
        lane.stats.queued -= len([p for p in batch if not p.resend])
        self._forget(batch)
        quoted = _quoted([(lane.dest, p) for p in batch])
        logger.error("alerts_lib: %d alert(s) not delivered: %s. Text: %s", len(batch), why, quoted)

    def _forget(self, batch: list[_Pending]) -> None:
        if self._durability is not None:
            ids = [p.spool_id for p in batch if p.spool_id is not None]
            if ids:
                self._durability.remove(ids)

    # -- flush bookkeeping ---------------------------------------------------------------------------------
    def _oldest_waiting(self) -> int | None:
        seqs = [p.seq for lane in self._lanes.values() for p in (*lane.inflight, *lane.pending) if not p.resend]
        return min(seqs) if seqs else None

    def _check_flushes(self) -> None:
        if not self._flushes:
            return
        oldest = self._oldest_waiting()
        still = []
        for marker in self._flushes:
            if oldest is None or oldest > marker.seq:
                marker.done.set()
            else:
                still.append(marker)
        self._flushes = still

    def _idle(self) -> bool:
        return not (self._queue.qsize() - self._markers) and self._oldest_waiting() is None

    def _log_abandoned(self) -> None:
        left = [(lane, p) for lane in self._lanes.values() for p in (*lane.inflight, *lane.pending) if not p.resend]
        waiting = max(0, self._queue.qsize() - self._markers)
        count = len(left) + waiting
        if not count:
            return
        if self._durability is not None and self._durability.active:
            spooled = sum(1 for _, p in left if p.spool_id is not None)
            logger.warning(
                "alerts_lib: %d alert(s) undelivered at shutdown; %d kept in the spool (%s) for the next process "
                "or `python -m alerts_lib drain`",
                count,
                spooled,
                self.settings.spool_dir,
            )
            self._durability.release()
            if spooled == count:
                return
        never = f" ({waiting} never left the queue)" if waiting else ""
        texts = _quoted([(lane.dest, p) for lane, p in left])
        logger.error("alerts_lib: %d alert(s) still undelivered at shutdown%s. Text: %s", count, never, texts)


def _countable(item: Item, alert: Alert | None) -> bool:
    """Repeats the caller may count itself: routed like any other (no per-call destination, key or blocks), and
    not an alert that opens or closes (its routing remembers where the firing one went)."""
    plain = item.webhook_url is None and item.destination is None and item.dedup_key is None and item.blocks is None
    return plain and (alert.state is None if alert is not None else isinstance(item.message, str))


def _text_key(message: object, blocks: object) -> Hashable:
    """Two messages are the same for storm control when they would show the same: text, and any Block Kit.
    (Keyed by text alone, every blocks-only message was "None", and the second was held as a repeat.)"""
    if isinstance(message, Mapping):
        return ("payload", _digest(message))
    text = "" if message is None else to_text(message)
    return text if blocks is None else ("blocks", text, _digest(blocks))


def _digest(value: object) -> bytes:
    """A small, stable fingerprint of JSON-like data (windows keep their keys for a while)."""
    try:
        shown = json.dumps(value, sort_keys=True, default=repr)
    except Exception:  # keys that cannot be sorted, a broken __repr__: still a key, never an error
        shown = to_text(value)
    return hashlib.blake2b(shown.encode("utf-8", "replace"), digest_size=16).digest()


def _summary_alert(summary: Summary[Any], sample: object, env: str | None) -> Alert:
    """The short line that follows a storm: how many more, over how long, and which alert they repeat."""
    first = time.strftime("%H:%M:%S UTC", time.gmtime(summary.first_seen)) if summary.first_seen else ""
    if isinstance(sample, Alert):
        title, source, severity, name, labels = sample.title, sample.source, sample.severity, sample.name, sample.labels
    else:
        text = sample.get("text") if isinstance(sample, Mapping) else sample
        title, source, severity, name, labels = to_text(text), None, Severity.INFO, None, ()
    title = " ".join(title.split())
    over = "within 1 s" if summary.seconds < 1 else f"over {duration_text(summary.seconds)}"
    return Alert(
        title=f"… and {summary.repeats} more like this {over}: “{clip(title, 80)}”"
        + (f" (first seen {first})" if first else ""),
        source=source,
        severity=severity,
        env=env,
        emoji="↳",
        name=name,
        labels=labels,
        dedupe=False,
    )


def _quoted(entries: list[tuple[Destination, _Pending]]) -> str:
    """What undelivered alerts said, for one log line (at most LOGGED_TEXTS of them): never lost silently."""
    shown = " | ".join(clip(" ".join(dest.text_of(p.render).split()), 200) for dest, p in entries[:LOGGED_TEXTS])
    more = len(entries) - LOGGED_TEXTS
    return shown + (f" | … and {more} more" if more > 0 else "")
