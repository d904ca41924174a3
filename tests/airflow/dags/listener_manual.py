"""No callbacks; its task sleeps until the test marks the DAG run failed through the REST API."""

from __future__ import annotations

import datetime as dt
import time

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task


@dag(
    dag_id="listener_manual",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    default_args={"retries": 0},
)
def listener_manual() -> None:
    @task
    def waits() -> None:
        time.sleep(600)

    waits()


listener_manual()
