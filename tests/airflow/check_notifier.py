"""Run with the Airflow venv's python: AlertNotifier's templates against real Airflow objects, as JSON.

- templates render from the context, afresh for each call of a notifier shared by many tasks;
- a template that fails to render is sent as written, and nothing raises (not even for a broken context);
- Airflow 3: a context whose ``dag`` is a SerializedDAG (a DAG-level callback under ``airflow dags test``,
  Airflow #64649) renders, where Airflow's own BaseNotifier fails.

Usage: ``python check_notifier.py <output.json>``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from types import SimpleNamespace
from typing import Any

from alerts_lib.airflow import AlertNotifier
from alerts_lib.testing import capture_alerts

try:  # Airflow 3
    from airflow.sdk import DAG
    from airflow.sdk.bases.notifier import BaseNotifier
except ImportError:  # Airflow 2
    from airflow.models.dag import DAG
    from airflow.notifications.basenotifier import BaseNotifier

START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
dag = DAG("notify_me", schedule=None, start_date=START)
report: dict[str, Any] = {}


def context(task_id: str, dag_obj: Any = dag, try_number: int = 1) -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="notify_me", task_id=task_id, run_id="manual__1", try_number=try_number, map_index=-1)
    return {"dag": dag_obj, "ti": ti, "task_instance": ti, "run_id": "manual__1", "exception": ValueError("bad")}


shared = AlertNotifier(text="{{ ti.task_id }} failed in {{ dag.dag_id }}", extra_fields={"who": "{{ ti.task_id }}"})
broken = AlertNotifier(text="{{ 1 / 0 }} never renders")
with capture_alerts() as alerts:
    shared(context("first"))
    shared(context("second"))
    broken(context("third"))
    broken(None)  # not a context at all: logged, never raised
report["shared"] = [a.text for a in alerts]
report["fields"] = [dict(a.alert.fields) if a.alert else {} for a in alerts]


class PlainNotifier(BaseNotifier):
    """What users write with Airflow's own base class (the provider's notifiers are built the same way)."""

    template_fields = ("text",)

    def __init__(self) -> None:
        super().__init__()
        self.text = "{{ run_id }}"

    def notify(self, context: Any) -> None:
        pass


try:
    from airflow.serialization.serialized_objects import DagSerialization
except ImportError:  # Airflow 2: DAG-level callbacks get the DAG itself
    report["serialized"] = None
else:
    serialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    try:
        PlainNotifier()(context("plain", serialized))
        report["airflow_base_on_serialized"] = "ok"
    except Exception as exc:  # Airflow #64649
        report["airflow_base_on_serialized"] = f"{type(exc).__name__}: {exc}"
    with capture_alerts() as alerts:
        AlertNotifier(text="{{ ti.task_id }} in {{ run_id }}")(context("serialized", serialized))
    report["serialized"] = [a.text for a in alerts]

with open(sys.argv[1], "w", encoding="utf-8") as handle:
    json.dump(report, handle)
