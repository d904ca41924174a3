"""AlertNotifier as the task- and DAG-level failure callback, in a list beside another notifier-like callable.

Its templates are rendered from the context; as a DAG-level callback under ``airflow dags test`` on 3.3.2 the
context's dag is a SerializedDAG (Airflow #64649), where Airflow's own BaseNotifier crashes.
"""

from __future__ import annotations

import datetime as dt
import os

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task

from alerts_lib.airflow import AlertNotifier

START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def record_call(context) -> None:
    """Another callback in the same list: it must still run after ours."""
    marker = os.environ.get("NOTIFIER_MARKER")
    if marker:
        with open(marker, "a", encoding="utf-8") as handle:
            handle.write(("dag" if "reason" in context else "task") + "\n")


@dag(
    dag_id="notifier_smoke",
    schedule=None,
    start_date=START,
    catchup=False,
    default_args={
        "retries": 0,
        "on_failure_callback": [
            AlertNotifier(
                text="{{ ti.task_id }} broke in {{ dag.dag_id }}",
                mention="<!subteam^S0TEST>",
                extra_fields={"owner": "team-{{ ti.task_id }}"},
            ),
            record_call,
        ],
    },
    on_failure_callback=[AlertNotifier(extra_fields={"run": "{{ run_id }}"}), record_call],
)
def notifier_smoke() -> None:
    @task
    def first() -> None:
        raise RuntimeError("notifier_smoke fails on purpose")

    first()


notifier_smoke()
