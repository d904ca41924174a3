"""The watch's alerts: a firing/resolved pair per check, sharing name and labels, and one startup event."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone

from .. import formatters
from .._alert import Alert
from .._text import duration_text
from ._config import WatchConfig
from ._state import FLAP_WINDOW, Transition

SOURCE = "Watch"
MAX_PER_KIND = 10  # per alert name and state in one poll; beyond it, one summary (a bad deploy breaks 200 files)


def transition_alert(transition: Transition) -> Alert:
    """``❌ [Watch] service model down: connection refused`` / ``✅ [Watch] service model healthy again after 12 s``."""
    obs = transition.observation
    labels = dict(transition.key.labels)
    if transition.state == "firing":
        title = obs.title
        if transition.flapping:
            title += f" (flapping: {transition.failures} of the last {FLAP_WINDOW} polls failed)"
        fields = [*obs.fields, ("since", _when(transition.since))]
        severity = obs.severity
    else:
        title = f"{obs.recovered} after {duration_text(transition.duration)}"
        fields = [
            *((k, v) for k, v in obs.fields if k in labels),
            ("was", obs.title),
            ("since", _when(transition.since)),
        ]
        severity = "success"
    return formatters.alert(
        title,
        severity=severity,
        source=SOURCE,
        fields=fields,
        name=transition.key.name,
        labels=labels,
        state=transition.state,
        dedupe=False,
    )


def poll_alerts(transitions: list[Transition]) -> list[Alert]:
    """The alerts for one poll's transitions: each on its own, up to MAX_PER_KIND per name and state, then one
    summary naming how many more (their states are tracked all the same; their recoveries are summarised too)."""
    alerts: list[Alert] = []
    extra: dict[tuple[str, str], list[Transition]] = {}
    counts: dict[tuple[str, str], int] = {}
    for transition in transitions:
        kind = (transition.key.name, transition.state)
        counts[kind] = counts.get(kind, 0) + 1
        if counts[kind] <= MAX_PER_KIND:
            alerts.append(transition_alert(transition))
        else:
            extra.setdefault(kind, []).append(transition)
    for (name, state), rest in extra.items():
        shown = ", ".join(", ".join(v for _, v in t.key.labels) for t in rest[:20])
        firing = state == "firing"
        alerts.append(
            formatters.alert(
                f"… and {len(rest)} more {name} {'firing' if firing else 'resolved'}",
                severity=rest[0].observation.severity if firing else "success",
                source=SOURCE,
                fields={"which": shown + (" …" if len(rest) > 20 else "")},
                name=name,
                dedupe=False,
            )
        )
    return alerts


def started_alert(config: WatchConfig) -> Alert:
    """What the watch watches, so a silent channel can be told apart from a watch that watches nothing."""
    parts = []
    if config.airflow:
        parts.append("Airflow")
    if config.http:
        names = ", ".join(t.name for t in config.http)
        parts.append(f"{len(config.http)} service{'s' if len(config.http) > 1 else ''} ({names})")
    return formatters.alert(
        f"watch started: {' + '.join(parts) or 'nothing'}",
        severity="info",
        source=SOURCE,
        fields=[*config.describe(), ("host", f"{socket.gethostname()} pid {os.getpid()}")],
        name="WatchStarted",
        labels={"host": socket.gethostname()},
        dedupe=False,
    )


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")
