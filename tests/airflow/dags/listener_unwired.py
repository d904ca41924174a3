"""No callbacks at all: with ALERTS_AIRFLOW_LISTENER=true the plugin's listener alerts on its failure."""

from __future__ import annotations

import datetime as dt

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task

START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
FAILURE = "fails on purpose"


@dag(dag_id="listener_unwired", schedule=None, start_date=START, catchup=False, default_args={"retries": 0})
def listener_unwired() -> None:
    @task
    def ok() -> str:
        return "ok"

    @task
    def boom(upstream: str) -> None:
        raise RuntimeError(f"listener_unwired {FAILURE}")

    boom(ok())


listener_unwired()
