"""Airflow callbacks that alert Slack: ``default_args={"on_failure_callback": alert_slack}``.

Works as a task-level and a DAG-level callback on Airflow 3 and 2. Nothing here imports Airflow (this module
is imported by code that never runs under Airflow); Airflow is only used, lazily, to read a Connection and to
register the webhook URL with its secret masker.

Callbacks run in processes that exit right after them (the task process, the DAG processor's callback run), so
each callback queues its alert and then waits a bounded time for delivery (:data:`DEFAULT_TIMEOUT`; at most
:data:`MAX_TIMEOUT` per failure in all). A failure Airflow reports twice (a heartbeat timeout calls the task
callback from two processes; the listener sees what the callbacks see) is alerted once. A callback never
raises: a broken alert must not turn into a second failure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..._alert import Alert
from .context import EVENTS, Event, FieldsOrFactory, context_alert, failure_of
from .delivery import DEFAULT_TIMEOUT, Target, bounded_timeout, deliver

logger = logging.getLogger("alerts_lib.airflow")

Callback = Callable[[Any], None]


def make_slack_callback(
    event: Event = "failed",
    *,
    mention: str | None = None,
    webhook_url: str | None = None,
    conn_id: str | None = None,
    destination: str | None = None,
    extra_fields: FieldsOrFactory = None,
    timeout: float = DEFAULT_TIMEOUT,
    env: str | None = None,
) -> Callback:
    """A callback for ``on_failure_callback`` / ``on_retry_callback`` / ``on_success_callback``.

    ``mention`` pings (``<!subteam^S1>``, ``<@U123>``, ``<!here>``); ``webhook_url``, ``conn_id`` (an HTTP or
    ``slackwebhook`` Connection) or ``destination`` (a name from ``ALERTS_CONFIG``) send elsewhere than the
    default; ``extra_fields`` is a mapping, or a function of the context returning one; ``timeout`` bounds the
    wait for delivery.
    """
    chosen: Event = event if event in EVENTS else "failed"
    target = Target(destination=destination, conn_id=conn_id, webhook_url=webhook_url)
    wait = bounded_timeout(timeout)

    def callback(context: Any) -> None:
        run_callback(context, chosen, target, wait, mention=mention, extra_fields=extra_fields, env=env)

    callback.__name__ = callback.__qualname__ = f"alert_slack_{chosen}"
    callback.__doc__ = f"Send a Slack alert for an Airflow {chosen} event (alerts_lib)."
    return callback


def alert_slack(context: Any) -> None:
    """``on_failure_callback`` for tasks (in ``default_args``) and DAGs: alert Slack, never raise."""
    run_callback(context, "failed")


def alert_slack_retry(context: Any) -> None:
    """``on_retry_callback``: a task failed and will be retried."""
    run_callback(context, "retry")


def alert_slack_success(context: Any) -> None:
    """``on_success_callback`` for tasks or DAGs."""
    run_callback(context, "success")


def run_callback(
    context: Any,
    event: Event,
    target: Target | None = None,
    wait: float | None = DEFAULT_TIMEOUT,
    *,
    mention: str | None = None,
    extra_fields: FieldsOrFactory = None,
    env: str | None = None,
    alert: Alert | None = None,
) -> None:
    """Build (unless given) and deliver the alert for ``context``, once per failure, waiting up to ``wait``
    seconds for delivery (None: not at all); never raises."""
    try:
        built = alert or context_alert(context, event, mention=mention, extra_fields=extra_fields, env=env)
        deliver(built, failure_of(context), event=event, target=target or Target(), wait=wait)
    except Exception as exc:  # the callback must never become a second failure
        logger.error("alerts_lib: Airflow callback failed (%s)", type(exc).__name__)
