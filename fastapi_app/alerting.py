"""How the service hands alerts to alerts_lib."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import alerts_lib

_events = itertools.count(1)


def send_alert(alert: Any) -> object:
    """alerts_lib's non-blocking send, looked up at call time so ``alerts_lib.testing`` can capture it."""
    return alerts_lib.send_slack_alert(alert)


def state_change(alert: alerts_lib.Alert) -> alerts_lib.Alert:
    """Mark ``alert`` as a one-off state change, exempt from storm control.

    Storm control merges identical alerts within its window and reports repeats only when it ends. That
    suits repeated errors, not transitions: after degraded → recovered → degraded, the second "degraded"
    would wait up to a minute while Slack's last word is "recovered". Each transition gets its own key.
    """
    key = alert.dedup_key or alert.title
    return dataclasses.replace(alert, dedup_key=f"{key}#{next(_events)}")
