"""``alerts_lib.airflow``: the Airflow callbacks, kept at their original import path.

The code lives in :mod:`alerts_lib.integrations.airflow`; this module re-exports its public names and, like
it, does not import Airflow (``AlertNotifier`` is resolved on first access, which does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .integrations.airflow import (
    CONN_ID_ENV,
    DEFAULT_CONN_ID,
    DEFAULT_CONN_IDS,
    DEFAULT_TIMEOUT,
    MAX_TIMEOUT,
    alert_slack,
    alert_slack_retry,
    alert_slack_success,
    connection_webhook,
    context_alert,
    make_slack_callback,
    slack_webhook,
)

if TYPE_CHECKING:
    from .integrations.airflow.notifier import AlertNotifier as AlertNotifier

# Not AlertNotifier: `import *` must not import Airflow (it is an attribute, loaded on first access).
__all__ = [
    "CONN_ID_ENV",
    "DEFAULT_CONN_ID",
    "DEFAULT_CONN_IDS",
    "DEFAULT_TIMEOUT",
    "MAX_TIMEOUT",
    "alert_slack",
    "alert_slack_retry",
    "alert_slack_success",
    "connection_webhook",
    "context_alert",
    "make_slack_callback",
    "slack_webhook",
]


def __getattr__(name: str) -> Any:
    if name == "AlertNotifier":
        from .integrations.airflow.notifier import AlertNotifier as AlertNotifier

        return AlertNotifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
