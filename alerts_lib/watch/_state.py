"""Per-check state machines: alert on transitions only, with hysteresis both ways.

A check fires after ``FIRE_AFTER`` failing polls in a row, or when it flaps (``FLAP_FAILURES`` failures among
the last ``FLAP_WINDOW`` polls), and resolves after ``RESOLVE_AFTER`` healthy polls in a row. So one bad poll
never alerts, a check failing every other poll alerts once (as flapping) instead of once per poll, and the
recovery says how long the failure lasted, from its first failing poll. While firing, a different *kind* of
failure (degraded → down) that persists as long alerts again; a changing detail (a heartbeat's age) does not.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

log = logging.getLogger("alerts_lib.watch")

FIRE_AFTER = 2
RESOLVE_AFTER = 2
FLAP_WINDOW = 6
FLAP_FAILURES = 3

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, order=True)
class Key:
    """A check's identity, which its alerts share: the alert name and its labels."""

    name: str
    labels: Labels = ()

    @classmethod
    def of(cls, name: str, **labels: str) -> Key:
        return cls(name, tuple(sorted(labels.items())))

    def __str__(self) -> str:
        inner = ",".join(f"{k}={v}" for k, v in self.labels)
        return f"{self.name}{{{inner}}}" if inner else self.name


@dataclass(frozen=True)
class Observation:
    """One poll's verdict on one check. A failing one carries what its alerts say."""

    ok: bool
    problem: str = ""  # the kind of failure, stable from poll to poll ("unhealthy", "degraded", "HTTP 503")
    title: str = ""  # the firing alert's title, e.g. "Airflow scheduler unhealthy: last heartbeat 47 s ago"
    recovered: str = ""  # the recovery's subject + verb, e.g. "Airflow scheduler healthy again"
    severity: str = "error"
    fields: tuple[tuple[str, str], ...] = ()

    @classmethod
    def healthy(cls) -> Observation:
        return _HEALTHY

    @classmethod
    def failing(
        cls,
        problem: str,
        title: str,
        recovered: str,
        *,
        severity: str = "error",
        fields: Mapping[str, object] | None = None,
    ) -> Observation:
        shown = tuple((k, str(v)) for k, v in (fields or {}).items() if v is not None and v != "")
        return cls(False, problem, title, recovered, severity, shown)


_HEALTHY = Observation(True)


@dataclass(frozen=True)
class Transition:
    """What to alert: a check started firing (or changed how it fails), or resolved."""

    key: Key
    state: Literal["firing", "resolved"]
    observation: Observation  # for "resolved": the failure that ended
    since: float  # wall-clock time of the first failing poll
    until: float  # firing: this poll; resolved: the first healthy poll of the recovery
    flapping: bool = False
    failures: int = 0  # failing polls in the flap window, when flapping

    @property
    def duration(self) -> float:
        return max(0.0, self.until - self.since)


@dataclass
class Tracker:
    """One check's state."""

    key: Key
    firing: Observation | None = None  # the failure we alerted on (its newest details)
    since: float | None = None  # while firing: when the failure started
    run_start: float | None = None  # the first poll of the current run of failing (or, firing, healthy) polls
    fails_in_row: int = 0
    oks_in_row: int = 0
    changed_in_row: int = 0
    recent: deque[tuple[bool, float]] = field(default_factory=lambda: deque(maxlen=FLAP_WINDOW))

    @property
    def state(self) -> str:
        if self.firing is not None:
            return "firing"
        return "pending" if any(not ok for ok, _ in self.recent) else "ok"

    def observe(self, obs: Observation, now: float) -> Transition | None:
        self.recent.append((obs.ok, now))
        if obs.ok:
            return self._healthy(now)
        return self._failing(obs, now)

    def _failing(self, obs: Observation, now: float) -> Transition | None:
        if self.fails_in_row == 0:
            self.run_start = now
        self.oks_in_row = 0
        self.fails_in_row += 1
        if self.firing is None:
            failed_at = [at for ok, at in self.recent if not ok]
            if self.fails_in_row >= FIRE_AFTER:
                return self._fire(obs, self.run_start or now, now)
            if len(failed_at) >= FLAP_FAILURES:
                return self._fire(obs, failed_at[0], now, flapping=len(failed_at))
            return None
        if obs.problem == self.firing.problem:
            self.firing, self.changed_in_row = obs, 0
            return None
        self.changed_in_row += 1
        if self.changed_in_row >= FIRE_AFTER:  # another kind of failure, confirmed: news
            self.firing, self.changed_in_row = obs, 0
            return Transition(self.key, "firing", obs, self.since or now, now)
        return None

    def _fire(self, obs: Observation, since: float, now: float, flapping: int = 0) -> Transition:
        self.firing, self.since, self.changed_in_row = obs, since, 0
        return Transition(self.key, "firing", obs, since, now, bool(flapping), flapping)

    def _healthy(self, now: float) -> Transition | None:
        if self.oks_in_row == 0:
            self.run_start = now
        self.fails_in_row = self.changed_in_row = 0
        self.oks_in_row += 1
        if self.firing is None or self.oks_in_row < RESOLVE_AFTER:
            return None
        ended, since, until = self.firing, self.since or now, self.run_start or now
        self.firing = self.since = None
        self.recent.clear()
        return Transition(self.key, "resolved", ended, since, until)


class StateBook:
    """Every check's tracker. Checks with dynamic keys (one per broken DAG file) report only their failures;
    a key missing from a poll that *covered* its name counts as healthy, and a key whose name was not covered
    (its endpoint failed this time) keeps its state."""

    def __init__(self) -> None:
        self._trackers: dict[Key, Tracker] = {}

    def observe(self, observations: Mapping[Key, Observation], covered: Iterable[str], now: float) -> list[Transition]:
        covered = set(covered)
        out: list[Transition] = []
        for key, obs in observations.items():
            tracker = self._trackers.get(key)
            if tracker is None:
                tracker = self._trackers[key] = Tracker(key)
            if (transition := tracker.observe(obs, now)) is not None:
                out.append(transition)
        for key, tracker in list(self._trackers.items()):
            if key in observations or key.name not in covered:
                continue
            if (transition := tracker.observe(Observation.healthy(), now)) is not None:
                out.append(transition)
            if tracker.state == "ok":
                del self._trackers[key]  # forget dynamic keys that are healthy (a deleted file, a fixed DAG)
        for transition in out:
            firing = transition.state == "firing"
            log.log(
                logging.WARNING if firing else logging.INFO,
                "watch: %s %s: %s",
                transition.key,
                transition.state,
                transition.observation.title if firing else transition.observation.recovered,
            )
        return out

    def states(self) -> dict[str, str]:
        """``{"AirflowComponentUnhealthy{component=scheduler}": "firing", …}`` for the status file."""
        return {str(key): tracker.state for key, tracker in sorted(self._trackers.items())}

    def firing(self) -> list[Key]:
        return sorted(key for key, tracker in self._trackers.items() if tracker.firing is not None)
