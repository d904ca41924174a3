"""Run with the Airflow venv's python: is the plugin found through its entry point, and is its listener
registered only when ALERTS_AIRFLOW_LISTENER is true? Importing alerts_lib (and its Airflow modules that
DAG files use) must not import Airflow. Writes a JSON report.

Usage: ``python check_plugin.py <output.json>``.
"""

from __future__ import annotations

import json
import sys

import alerts_lib
import alerts_lib.airflow
import alerts_lib.integrations.airflow
from alerts_lib import alert_slack

report: dict[str, object] = {
    "lazy": "airflow" not in sys.modules,
    "reexported": alerts_lib.airflow.alert_slack is alert_slack is alerts_lib.integrations.airflow.alert_slack,
}

from airflow.listeners.listener import get_listener_manager  # noqa: E402
from airflow.plugins_manager import get_plugin_info  # noqa: E402

report["plugins"] = [info.get("name") for info in get_plugin_info()]
report["listeners"] = sorted(type(p).__name__ for p in get_listener_manager().pm.get_plugins())
report["notifier_base"] = [c.__module__ for c in alerts_lib.airflow.AlertNotifier.__mro__[1:3]]
with open(sys.argv[1], "w", encoding="utf-8") as handle:
    json.dump(report, handle)
