"""The watch's alerts: a firing/resolved pair per check, sharing name and labels, and one startup event."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone

from .. import formatters
from .._alert import Alert
from ._config import WatchConfig, format_duration
from ._state import FLAP_WINDOW, Transition

SOURCE = "Watch"


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
        title = f"{obs.recovered} after {format_duration(transition.duration)}"
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
