"""Wired with alert_slack; its task writes its pid and its supervisor's, then sleeps: the test SIGKILLs both,
so the task instance stops heartbeating and the scheduler fails it (a worker or pod that died)."""

from __future__ import annotations

import datetime as dt
import os
import time

from alerts_lib import alert_slack

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task


@dag(
    dag_id="listener_heartbeat",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    default_args={"retries": 0, "on_failure_callback": alert_slack},
    on_failure_callback=alert_slack,
)
def listener_heartbeat() -> None:
    @task
    def sleepy() -> None:
        with open(os.environ["HEARTBEAT_PIDS"], "w", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()} {os.getppid()}\n")
        time.sleep(600)

    sleepy()


listener_heartbeat()
