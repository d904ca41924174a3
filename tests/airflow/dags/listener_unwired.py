"""No callbacks at all: with ALERTS_AIRFLOW_LISTENER=true the plugin's listener alerts on its failures.

``boom`` fails once (no retries); ``flaky`` fails twice (one retry): only its final failure is alerted.
"""

from __future__ import annotations

import datetime as dt

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task


@dag(
    dag_id="listener_unwired",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    default_args={"retries": 0},
)
def listener_unwired() -> None:
    @task
    def ok() -> str:
        return "ok"

    @task
    def boom(upstream: str) -> None:
        raise RuntimeError("listener_unwired.boom fails on purpose")

    @task(retries=1, retry_delay=dt.timedelta(seconds=0))
    def flaky() -> None:
        raise ValueError("listener_unwired.flaky fails on every try")

    boom(ok())
    flaky()


listener_unwired()
