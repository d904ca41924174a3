"""Storm control: identical alerts within a window are sent once, the repeats counted and summarised.

A crash loop or a flapping dependency can raise the same alert hundreds of times a minute; Slack would
rate-limit us and people would mute the channel. The first one goes out at once; a repeat costs a dict
lookup and a counter increment (nothing is rendered for it); the repeats become one short follow-up line
naming the first alert when the window ends (or at flush/exit), so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_KEYS = 10_000  # bounds memory under a flood of distinct alerts; the oldest window is closed early


@dataclass
class _Window(Generic[T]):
    started: float
    repeats: int
    sample: T  # the first alert of the window: the summary refers to it
    first_seen: float  # wall-clock time of the first alert, for "first seen 14:03:12 UTC"
    last: float = 0.0  # when the latest repeat arrived


@dataclass(frozen=True)
class Summary(Generic[T]):
    sample: T
    repeats: int
    seconds: float  # from the first alert to the latest repeat: a real duration, not the window's length
    first_seen: float


class StormControl(Generic[T]):
    """Keyed windows; the clock is passed in, so it is deterministic under test."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._windows: dict[Hashable, _Window[T]] = {}
        self._ready: list[Summary[T]] = []  # windows closed by admit() before due() collected them

    def admit(self, key: Hashable, sample: T, now: float, wall: float = 0.0) -> bool:
        """True when this alert should be sent now; False when it is a repeat, counted for the summary."""
        if self.window <= 0:
            return True
        current = self._windows.get(key)
        if current is not None and now - current.started < self.window:
            current.repeats += 1
            current.last = now
            return False
        if current is not None:
            self._close(current)
        elif len(self._windows) >= MAX_KEYS:
            self._close(self._windows.pop(next(iter(self._windows))))
        self._windows[key] = _Window(now, 0, sample, wall, now)
        return True

    def holds(self, key: Hashable) -> bool:
        """A window is open for ``key``: a repeat of it now would be counted, not sent."""
        return key in self._windows

    def repeat(self, key: Hashable, count: int, now: float) -> None:
        """``count`` repeats of ``key`` counted elsewhere (by callers, see ``_held``) while its window was open."""
        window = self._windows[key]
        window.repeats += count
        window.last = now

    def _close(self, window: _Window[T]) -> None:
        if window.repeats:
            self._ready.append(_summary(window))

    def due(self, now: float, *, force: bool = False) -> list[Summary[T]]:
        """Summaries of windows that ended (all windows with repeats when ``force``); expired windows close."""
        out, self._ready = self._ready, []
        for key, w in list(self._windows.items()):
            ended = now - w.started >= self.window
            if w.repeats and (ended or force):
                out.append(_summary(w))
                # A storm that goes on keeps being summarised once per window instead of re-alerting.
                self._windows[key] = _Window(now, 0, w.sample, w.first_seen, now)
            elif ended:
                del self._windows[key]
        return out

    def pending(self) -> bool:
        return bool(self._ready) or any(w.repeats for w in self._windows.values())

    def next_due(self) -> float | None:
        """When the earliest window with repeats ends (the worker sleeps until then)."""
        if self._ready:
            return float("-inf")
        ends = [w.started + self.window for w in self._windows.values() if w.repeats]
        return min(ends) if ends else None


def _summary(window: _Window[T]) -> Summary[T]:
    return Summary(window.sample, window.repeats, max(window.last - window.started, 0.0), window.first_seen)
