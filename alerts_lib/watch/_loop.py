"""The watch loop: poll every target concurrently, alert on transitions, keep the interval, stop cleanly.

Each tick starts at ``start + n * interval`` whatever the last one cost; every target's poll is cut off at
``0.9 * interval`` (and each request earlier), so a hanging endpoint delays nothing. After each tick the status
file is rewritten (``--probe`` reads it) and the heartbeat URL is pinged. A stop (SIGTERM/SIGINT, or the
embedding code's Event) cancels the tick in flight and returns 0; at exit the library flushes queued alerts for
``ALERTS_SHUTDOWN_TIMEOUT`` at most, as in any process that alerts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from .. import _client
from .._redact import protect
from .._text import duration_text
from ._airflow import Airflow
from ._alerts import poll_alerts, started_alert
from ._config import WatchConfig, display_url
from ._http import Http
from ._result import PollResult
from ._services import Service
from ._state import StateBook, Transition

log = logging.getLogger("alerts_lib.watch")

Send = Callable[[Any], object]


class Poller(Protocol):
    """A target's check: ``poll`` fills a result as it goes; ``cut_off`` says what a poll stopped early means."""

    async def poll(self, http: Http, result: PollResult) -> None: ...

    def cut_off(self, http: Http, result: PollResult, budget: float) -> None: ...


STOP_CHECK = 0.1  # how often a wait looks at the stop Event


class Watch:
    """``Watch(config).run(stop_event)``: the watch, embeddable. ``poll_once()`` runs a single tick."""

    def __init__(self, config: WatchConfig, *, send: Send | None = None) -> None:
        self.config = config
        self._send = send or _client.send_slack_alert
        self.book = StateBook()
        self.polls = 0
        self.started = time.time()
        self.airflow = Airflow(config) if config.airflow else None
        self.services = [Service(t) for t in config.http]
        self._heartbeat_ok: bool | None = None
        if config.heartbeat_url:
            protect(config.heartbeat_url)  # a dead-man's-switch URL is a credential: httpx logs must not show it
        for url in (config.airflow, *(t.url for t in config.http)):
            if url:
                protect(url, path_is_secret=False)  # a password in its user info: httpx logs URLs as they are

    # -- running ------------------------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None, *, announce: bool = True) -> int:
        """Poll until ``stop`` is set, then return 0; never raises on a failed poll. Queued alerts are the library's
        to flush: it does at interpreter exit, for ``ALERTS_SHUTDOWN_TIMEOUT`` at most."""
        stop = stop or threading.Event()
        if announce:
            self._send(started_alert(self.config))
        log.info(
            "watch: watching %s every %s",
            ", ".join(v for _, v in self.config.describe()[:-2]) or "nothing",
            duration_text(self.config.interval),
        )
        asyncio.run(self._run(stop))
        log.info("watch: stopped after %d polls", self.polls)
        return 0

    def poll_once(self) -> list[Transition]:
        """One tick, as the loop runs it (alerts sent, status file written); the transitions it caused."""
        return asyncio.run(self._tick_alone())

    async def _tick_alone(self) -> list[Transition]:
        async with Http(self.config.poll_timeout) as http:
            return await self.tick(http)

    async def _run(self, stop: threading.Event) -> None:
        interval = self.config.interval
        async with Http(self.config.poll_timeout) as http:
            next_at = time.monotonic()
            while not stop.is_set():
                tick = asyncio.ensure_future(self.tick(http))
                while not tick.done():
                    await asyncio.wait({tick}, timeout=STOP_CHECK)
                    if stop.is_set():
                        tick.cancel()
                        await asyncio.gather(tick, return_exceptions=True)
                        return
                if (error := tick.exception()) is not None:  # a bug, not a failed poll: log it, keep watching
                    log.error("watch: a poll failed unexpectedly (%s: %s)", type(error).__name__, error)
                next_at += interval
                now = time.monotonic()
                if next_at < now:  # fell behind (a suspended VM): start again from now, do not burst
                    next_at = now
                while not stop.is_set() and (left := next_at - time.monotonic()) > 0:
                    await asyncio.sleep(min(STOP_CHECK, left))

    # -- one tick -----------------------------------------------------------------------------------------
    async def tick(self, http: Http) -> list[Transition]:
        """Poll every target at once, each within its budget; alert on what changed; write the status file."""
        budget = max(0.2, self.config.interval * 0.9)
        polls: list[tuple[str, Poller]] = []
        if self.airflow is not None:
            polls.append(("Airflow", self.airflow))
        polls += [(f"service {s.target.name}", s) for s in self.services]
        results = [PollResult() for _ in polls]
        jobs = [
            self._bounded(name, poll, http, result, budget) for (name, poll), result in zip(polls, results, strict=True)
        ]
        if self.config.heartbeat_url:
            jobs.append(self._heartbeat(http))
        await asyncio.gather(*jobs)
        merged = PollResult()
        for result in results:
            merged.merge(result)
        transitions = self.book.observe(merged.observations, merged.covered, time.time())
        for alert in poll_alerts(transitions):
            try:
                self._send(alert)
            except Exception as exc:  # an embedding's own send must not stop the watch
                log.error("watch: could not send the %s alert (%s)", alert.name, type(exc).__name__)
        self.polls += 1
        self._write_status()
        return transitions

    async def _bounded(self, name: str, poller: Poller, http: Http, result: PollResult, budget: float) -> None:
        try:
            await asyncio.wait_for(poller.poll(http, result), budget)
        except asyncio.TimeoutError:
            log.debug("watch: the poll of %s ran out of its %s", name, duration_text(budget))
            poller.cut_off(http, result, budget)
        except Exception as exc:  # a bug in a check must not stop the other checks or the loop
            log.error("watch: the poll of %s failed unexpectedly (%s: %s)", name, type(exc).__name__, exc)

    async def _heartbeat(self, http: Http) -> None:
        assert self.config.heartbeat_url
        reply = await http.get(self.config.heartbeat_url)
        if reply.ok != self._heartbeat_ok:  # log changes only, never the URL's secret part
            level = logging.INFO if reply.ok else logging.WARNING
            shown = display_url(self.config.heartbeat_url).rsplit("/", 1)[0] + "/…"
            log.log(level, "watch: heartbeat to %s %s", shown, "ok" if reply.ok else f"failed: {reply.describe()}")
            self._heartbeat_ok = reply.ok

    def _write_status(self) -> None:
        """Atomically: a probe never reads half a file."""
        status = {
            "updated": time.time(),
            "interval": self.config.interval,
            "pid": os.getpid(),
            "started": self.started,
            "polls": self.polls,
            "firing": [str(k) for k in self.book.firing()],
            "checks": self.book.states(),
        }
        path = self.config.status_file
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(status, indent=1) + "\n", encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            log.error("watch: cannot write the status file %s (%s)", path, type(exc).__name__)


def probe(status_file: Path, interval: float, now: float | None = None) -> tuple[bool, str]:
    """(alive, why): the status file was written less than 3 intervals ago (the interval the watch recorded)."""
    try:
        status = json.loads(status_file.read_text(encoding="utf-8"))
        updated = float(status["updated"])
        recorded = float(status.get("interval") or interval)
    except FileNotFoundError:
        return False, f"no status file at {status_file}: the watch has not completed a poll"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return False, f"unreadable status file {status_file} ({type(exc).__name__})"
    age = (time.time() if now is None else now) - updated
    limit = 3 * recorded
    firing = status.get("firing") or []
    if age > limit:
        return False, f"stale: last poll {duration_text(age)} ago (limit {duration_text(limit)})"
    return True, f"alive: last poll {duration_text(max(0.0, age))} ago, {len(firing)} firing"
