"""Repeats the caller counts itself: in a storm, a held repeat costs a dict lookup and a counter, nothing more.

Storm control runs on the worker's intake thread, so every repeat that reaches it costs a queue hand-over and,
in a storm, the GIL hand-overs between the caller's thread and the intake thread: a few percent of a CPU-bound
host. When storm control holds a message on every destination it goes to, the intake thread publishes that very
object here. A caller that sends the same object again (a formatter returns the same :class:`Alert` for the
same error; a constant string is one object) bumps its counter instead of queueing it. The intake thread folds
the counts into storm control before every look at its windows, and withdraws an object as soon as one of its
windows ends, so the next repeat is queued, and posted, as before. Counts that arrive after a withdrawal (a
caller preempted between its lookup and its count) are taken for a grace period and queued as if they had come
through the queue: nothing is lost either way.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

MAX_HELD = 1000  # distinct objects published at once; past it, repeats simply go through the queue
RETIRE_GRACE = 2.0  # seconds a withdrawn object's counter is still read
FOLD_EVERY = 0.5  # seconds: how often the intake thread reads the counters while any object is held


@dataclass(eq=False)
class Held:
    """One published object: its (storm-control key, destination) pairs and its callers' counter."""

    message: object
    targets: tuple[tuple[Hashable, Any], ...]
    counter: Iterator[int] = field(default_factory=itertools.count)
    withdrawn_at: float = float("inf")
    _next: int = 0  # what the counter returns next if no caller counted: our own reads advance it too

    @property
    def keys(self) -> Iterator[Hashable]:
        return (key for key, _ in self.targets)

    def take(self) -> int:
        """Callers' repeats since the last take."""
        now = next(self.counter)
        new, self._next = now - self._next, now + 1
        return new


class HeldRepeats:
    """Owned by the intake thread; callers read only ``published``: ``id(message)`` → (message, counter)."""

    def __init__(self) -> None:
        self.published: dict[int, tuple[object, Iterator[int]]] = {}
        self._held: dict[int, Held] = {}
        self._withdrawn: list[Held] = []

    def __bool__(self) -> bool:
        return bool(self._held or self._withdrawn)

    def hold(self, message: object, targets: tuple[tuple[Hashable, Any], ...]) -> None:
        """Storm control holds ``message`` under each (key, destination): let callers count its repeats."""
        ident = id(message)
        if ident in self._held or len(self._held) >= MAX_HELD:
            return
        held = Held(message, targets)
        self._held[ident] = held
        self.published[ident] = (message, held.counter)

    def take(self) -> list[tuple[Held, int]]:
        """Each object with repeats since the last take, and how many; withdrawn ones included."""
        return [(h, n) for h in (*self._held.values(), *self._withdrawn) if (n := h.take())]

    def withdraw(self, holds: Callable[[Hashable], bool], now: float) -> None:
        """Stop publishing objects whose windows ended; forget withdrawn ones after the grace period."""
        for ident, held in list(self._held.items()):
            if not all(holds(k) for k in held.keys):
                del self.published[ident], self._held[ident]
                held.withdrawn_at = now
                self._withdrawn.append(held)
        self._withdrawn = [h for h in self._withdrawn if now - h.withdrawn_at < RETIRE_GRACE]

    def clear(self) -> None:
        """At shutdown: every repeat from now on goes through the queue (which then refuses it)."""
        self.published.clear()
