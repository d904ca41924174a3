"""No callbacks; the task SIGKILLs its own process (as the OOM killer would): Airflow calls no task
callback and no task hook, so the DAG run's alert must say which task died, and how."""

from __future__ import annotations

import datetime as dt
import os
import signal

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task

START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


@dag(dag_id="listener_sigkill", schedule=None, start_date=START, catchup=False, default_args={"retries": 0})
def listener_sigkill() -> None:
    @task
    def killed() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    killed()


listener_sigkill()
