"""Run with the Airflow venv's python: what needs a real Airflow import but not a whole DAG run, as JSON.

- the webhook URL a callback uses is registered with Airflow's own secret masker;
- model_pipeline's training reaches the true coefficients, and its readiness callback sends
  ``❌ [Airflow] READY check failed`` with the sensor's exception.

Usage: ``python check_callbacks.py <dags folder> <webhook url> <output.json>``.
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace
from typing import Any

from alerts_lib.airflow import make_slack_callback
from alerts_lib.testing import capture_alerts

try:  # Airflow 3
    from airflow.sdk.exceptions import AirflowSensorTimeout
    from airflow.sdk.log import redact
except ImportError:  # Airflow 2
    from airflow.exceptions import AirflowSensorTimeout
    from airflow.utils.log.secrets_masker import redact

folder, webhook, output = sys.argv[1:4]
report: dict[str, Any] = {}

sys.path.insert(0, folder)
import model_pipeline  # noqa: E402

weights = model_pipeline.train_model(seed=7)
report["weights"] = weights
report["true_coef"] = model_pipeline.TRUE_COEF
report["true_intercept"] = model_pipeline.TRUE_INTERCEPT


class RegisterXCom:
    """The one thing the callback asks of its task instance: the ``register`` task's XCom."""

    def xcom_pull(self, task_ids: str) -> Any:
        return {"model": "my_model", "version": 12, "alias": "A"} if task_ids == "register" else None


with capture_alerts() as alerts:
    model_pipeline.readiness_failed({"ti": RegisterXCom(), "exception": AirflowSensorTimeout("Sensor has timed out")})
    model_pipeline.readiness_failed({"ti": None})  # must not raise
report["readiness_alerts"] = [{"text": a.text, "payload": a.payload} for a in alerts]

# Last (its undeliverable alert stays queued): the callback masks the URL it posts to (nothing listens).
make_slack_callback(webhook_url=webhook, timeout=0)({"dag": SimpleNamespace(dag_id="masking"), "run_id": "r"})
report["redacted"] = str(redact(f"posting to {webhook}"))

with open(output, "w", encoding="utf-8") as handle:
    json.dump(report, handle)
