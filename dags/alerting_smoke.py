"""alerting_smoke: one task succeeds, one fails on purpose, to show the Slack failure alerts end to end.

Trigger it (or ``airflow dags test alerting_smoke``) and Slack receives two alerts: the task-level one
(``🔥 [Airflow] task failed: alerting_smoke.fail: RuntimeError: …`` with a link to the task's log) and the
DAG-level one (``🔥 [Airflow] DAG failed: alerting_smoke``, reason ``task_failure``).
"""

from __future__ import annotations

import datetime as dt

from alerts_lib import alert_slack

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task

FAILURE_MESSAGE = "alerting_smoke fails on purpose: this is the alert you should see in Slack"


@dag(
    dag_id="alerting_smoke",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    default_args={"on_failure_callback": alert_slack, "retries": 0},
    on_failure_callback=alert_slack,
    tags=["alerts_lib", "demo"],
    doc_md=__doc__,
)
def alerting_smoke() -> None:
    @task
    def succeed() -> str:
        return "ok"

    @task
    def fail(upstream: str) -> None:
        raise RuntimeError(FAILURE_MESSAGE)

    fail(succeed())


alerting_smoke()
