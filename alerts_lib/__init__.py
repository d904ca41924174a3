"""Slack alerting that never blocks or breaks its caller.

``send_slack_alert`` queues and returns in microseconds; a background worker delivers to the incoming
webhook in ``SLACK_WEBHOOK_URL`` with pacing, retries, storm control and a hard deadline per attempt.
"""

from . import formatters
from ._alert import Alert, Severity
from ._client import aflush, asend_slack_alert, configure, flush, get_settings, send_slack_alert, stats
from ._redact import mask_url
from ._settings import Settings
from ._worker import Stats
from .airflow import alert_slack
from .integrations.logging import AlertHandler

__all__ = [
    "Alert",
    "AlertHandler",
    "Settings",
    "Severity",
    "Stats",
    "aflush",
    "alert_slack",
    "asend_slack_alert",
    "configure",
    "flush",
    "formatters",
    "get_settings",
    "mask_url",
    "send_slack_alert",
    "stats",
]

__version__ = "0.1.0"
