"""No callbacks; the task fails twice (one retry): only the final failure is alerted."""

from __future__ import annotations

import datetime as dt

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task

START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
FAILURE = "fails on purpose"


@dag(
    dag_id="listener_retry",
    schedule=None,
    start_date=START,
    catchup=False,
    default_args={"retries": 1, "retry_delay": dt.timedelta(seconds=0)},
)
def listener_retry() -> None:
    @task
    def flaky() -> None:
        raise ValueError(f"listener_retry {FAILURE}")

    flaky()


listener_retry()
