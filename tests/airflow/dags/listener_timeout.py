"""No callbacks; the run exceeds its dagrun_timeout while its task still runs (the task becomes skipped)."""

from __future__ import annotations

import datetime as dt
import time

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task

START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


@dag(
    dag_id="listener_timeout",
    schedule=None,
    start_date=START,
    catchup=False,
    dagrun_timeout=dt.timedelta(seconds=5),
    default_args={"retries": 0},
)
def listener_timeout() -> None:
    @task
    def slow() -> None:
        time.sleep(120)

    slow()


listener_timeout()
