"""How the service hands alerts to alerts_lib."""

from __future__ import annotations

from typing import Any

import alerts_lib


def send_alert(alert: Any) -> object:
    """alerts_lib's non-blocking send, looked up at call time so ``alerts_lib.testing`` can capture it."""
    return alerts_lib.send_slack_alert(alert)
