"""Run with the Airflow venv's python: parse dags/ with Airflow's own DagBag, report what it found as JSON.

Also checks, before Airflow is imported, that importing ``alerts_lib.airflow`` does not import Airflow.
Usage: ``python check_dags.py <dags folder> <output.json>`` (Airflow logs to stdout, hence a file).
"""

from __future__ import annotations

import json
import sys
import time

import alerts_lib.airflow  # noqa: F401 - the point: this must not pull Airflow in

lazy = "airflow" not in sys.modules

try:
    from airflow.dag_processing.dagbag import DagBag  # Airflow 3
except ImportError:
    from airflow.models.dagbag import DagBag  # Airflow 2

folder, output = sys.argv[1], sys.argv[2]
started = time.monotonic()
try:  # Airflow 3 dropped include_examples (examples follow [core] load_examples)
    bag = DagBag(dag_folder=folder, safe_mode=False)
except TypeError:
    bag = DagBag(dag_folder=folder, safe_mode=False, include_examples=False)
report = {
    "alerts_lib_airflow_is_lazy": lazy,
    "import_errors": {path: str(error)[-2000:] for path, error in bag.import_errors.items()},
    "dags": {dag_id: dag.fileloc for dag_id, dag in bag.dags.items()},
    "tasks": {dag_id: sorted(dag.task_ids) for dag_id, dag in bag.dags.items()},
    "every_task_has_failure_callback": {
        dag_id: all(t.on_failure_callback for t in dag.tasks) for dag_id, dag in bag.dags.items()
    },
    "dag_failure_callbacks": {dag_id: bool(dag.on_failure_callback) for dag_id, dag in bag.dags.items()},
    "parse_seconds": round(time.monotonic() - started, 2),
}
with open(output, "w", encoding="utf-8") as handle:
    json.dump(report, handle)
