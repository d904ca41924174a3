"""Health status and its transitions: Slack hears about ok → degraded and degraded → ok, not every probe."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from alerts_lib import formatters

from .variants import VariantStore

log = logging.getLogger(__name__)

Notify = Callable[[Any], object]  # takes an alerts_lib Alert


@dataclass(frozen=True)
class HealthReport:
    status: str  # "ok" | "degraded"
    loaded: list[str]
    missing: list[str]
    errors: dict[str, str] = field(default_factory=dict)


class HealthTracker:
    """Evaluates health from the variant store and alerts once per transition.

    A change in *which* variants are missing while already degraded is a transition too (it got worse or
    partly better); the same state seen by a thousand probes is not.
    """

    def __init__(self, store: VariantStore, expected: Sequence[str], notify: Notify, model: str | None = None) -> None:
        self._store = store
        self._model = model  # named in the alerts: my_model@B missing
        self._expected = tuple(expected)
        self._notify = notify
        self._lock = threading.Lock()
        self._last: tuple[str, tuple[str, ...]] | None = None

    def report(self) -> HealthReport:
        variants = self._store.snapshot()
        loaded = sorted(variants)
        missing = [a for a in self._expected if a not in variants]
        errors = {a: r for a, r in self._store.errors().items() if a in missing}
        return HealthReport("degraded" if missing else "ok", loaded, missing, errors)

    def evaluate(self) -> HealthReport:
        """The current report; sends an alert if it differs from the last one evaluated."""
        report = self.report()
        state = (report.status, tuple(report.missing))
        with self._lock:
            previous, self._last = self._last, state
        if state == previous:
            return report
        if report.status == "degraded":
            log.warning("health degraded: loaded=%s missing=%s", report.loaded, report.missing)
            alert = formatters.health_degraded(report.loaded, report.missing, model=self._model, details=report.errors)
            self._notify(alert)
        elif previous is not None:
            log.info("health recovered: loaded=%s", report.loaded)
            self._notify(formatters.health_recovered(report.loaded, model=self._model))
        return report
