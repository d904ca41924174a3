"""alerts_lib for Apache Airflow (3, and 2.6+): callbacks, a notifier, and a plugin whose listener alerts on
every DAG's failures with no DAG edit (``ALERTS_AIRFLOW_LISTENER=true``).

Importing this package does not import Airflow: DAG files, tests and tools can use the callbacks anywhere.
Only :mod:`.plugin`, :mod:`.listener` and :mod:`.notifier` import Airflow, and only Airflow loads them
(``AlertNotifier`` is resolved lazily on first access).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .callbacks import alert_slack, alert_slack_retry, alert_slack_success, make_slack_callback
from .context import context_alert
from .delivery import DEFAULT_TIMEOUT, MAX_TIMEOUT
from .webhook import CONN_ID_ENV, DEFAULT_CONN_ID, DEFAULT_CONN_IDS, connection_webhook, slack_webhook

if TYPE_CHECKING:
    from .notifier import AlertNotifier as AlertNotifier

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
    """``AlertNotifier`` imports Airflow's BaseNotifier, so it is loaded only when asked for."""
    if name == "AlertNotifier":
        from .notifier import AlertNotifier

        return AlertNotifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
