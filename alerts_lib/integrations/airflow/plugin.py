"""The Airflow plugin, found through the ``airflow.plugins`` entry point of the installed package.

It does nothing unless ``ALERTS_AIRFLOW_LISTENER`` is true: installing alerts_lib must not change Airflow.
When on, it registers :mod:`.listener` in every Airflow component that loads plugins (scheduler, API server,
DAG processor, task runner). Set the variable for all of them.
"""

from __future__ import annotations

import os
from typing import Any

from airflow.plugins_manager import AirflowPlugin

SWITCH = "ALERTS_AIRFLOW_LISTENER"
_TRUE = {"1", "true", "yes", "on"}


def enabled() -> bool:
    """``ALERTS_AIRFLOW_LISTENER`` is true (1/true/yes/on); off by default."""
    return os.environ.get(SWITCH, "").strip().lower() in _TRUE


def _listeners() -> list[Any]:
    if not enabled():
        return []
    from .listener import listener

    return [listener]


class AlertsLibPlugin(AirflowPlugin):  # type: ignore[misc]
    """alerts_lib: Slack alerts for every DAG's failures (``ALERTS_AIRFLOW_LISTENER=true``)."""

    name = "alerts_lib"
    listeners = _listeners()
