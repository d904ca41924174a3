"""The listener behind the plugin: failure alerts for every DAG, with no DAG edit.

It covers what has no ``on_failure_callback`` of its own: a task or DAG with one (alert_slack, a notifier, any
function) is left to it, so wired DAGs keep their own messages (mentions, destinations) and send no more than
with the listener off. Hooks (Airflow 3 and 2 names; objects differ by process):

- ``on_task_instance_failed``, *final* failures only (not ``UP_FOR_RETRY``). In the task process (a
  ``RuntimeTaskInstance`` on Airflow 3) the alert is built from the same template context the task's own
  callbacks get, queued, and waited for (bounded, like a callback). In the scheduler (heartbeat timeout, task
  killed outside Airflow) the hook copies plain values and hands the rest to a background thread.
  Tasks marked failed by hand are not alerted here: Airflow calls no task callback for them either, and the
  DAG run's alert names them.
- ``on_dag_run_failed`` (scheduler: failed, timed out; API server: marked failed by hand, the one case where
  Airflow calls no DAG callback, so it is alerted even for wired DAGs): plain values are copied, and a background
  thread looks up the failed task (one query), why it failed (its log, the event log), and queues the same alert
  as a DAG-level ``alert_slack`` would send.

Hooks run inside the scheduler loop and the API server: they never block there (they enqueue and return),
never flush, and never raise. The once-record (:mod:`._once`) makes them and any callback that runs anyway
report each failure once. The background thread is drained (bounded) at exit and in ``before_stopping``.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, TypeVar, cast

from airflow.listeners import hookimpl as _hookimpl

from . import cause
from .callbacks import run_callback
from .context import MANUAL_RUN_MESSAGE, first, read, state_text
from .delivery import DEFAULT_TIMEOUT

logger = logging.getLogger("alerts_lib.airflow")

MANUAL_TASK_MESSAGE = "TaskInstance's state was manually set to"  # the API server's on_task_instance_failed error
DRAIN_TIMEOUT = 2.0  # seconds the background thread's jobs get at exit / before_stopping, then the core's flush
RETRY_STATES = {"up_for_retry", "up_for_reschedule"}

F = TypeVar("F", bound=Callable[..., Any])


def hookimpl(fn: F) -> F:
    """Airflow's (pluggy's) hook marker, typed."""
    return cast(F, _hookimpl(fn))


class AlertsListener:
    """The listener object the plugin registers (pluggy reads the ``@hookimpl`` methods)."""

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        try:
            task_failed(task_instance, error)
        except Exception as exc:  # a listener must never break the component it runs in
            logger.error("alerts_lib: listener on_task_instance_failed failed (%s)", type(exc).__name__)

    @hookimpl
    def on_dag_run_failed(self, dag_run: Any, msg: Any) -> None:
        try:
            dag_run_failed(dag_run, msg)
        except Exception as exc:
            logger.error("alerts_lib: listener on_dag_run_failed failed (%s)", type(exc).__name__)

    @hookimpl
    def before_stopping(self, component: Any) -> None:
        try:
            background.drain(DRAIN_TIMEOUT)
        except Exception as exc:
            logger.error("alerts_lib: listener before_stopping failed (%s)", type(exc).__name__)


listener = AlertsListener()


# -- task failures -------------------------------------------------------------------------------------------


def task_failed(ti: Any, error: Any) -> None:
    if not is_final_failure(ti):
        return  # a retry: alert_slack_retry is the opt-in for those
    if isinstance(error, str) and error.startswith(MANUAL_TASK_MESSAGE):
        return  # marked failed by hand: the DAG run's alert names it, as with callbacks
    if has_own_callback(read(ti, "task")):
        logger.info(
            "alerts_lib: listener leaves %s.%s to its own on_failure_callback", read(ti, "dag_id"), read(ti, "task_id")
        )
        return
    if in_task_process(ti):
        context = _template_context(ti)
        if context is not None:
            if read(context, "exception") is None and error is not None:
                context = {**context, "exception": error}
            run_callback(context, "failed", wait=DEFAULT_TIMEOUT)
            return
    facts = _ti_facts(ti)
    if facts is not None:
        known = cause.of_executor_report(error)
        background.submit(lambda: _server_task_failed(facts, known))


def is_final_failure(ti: Any) -> bool:
    """FAILED, not UP_FOR_RETRY (Airflow sets the state before calling the hook; else: try vs retries)."""
    state = state_text(read(ti, "state"))
    if state in RETRY_STATES:
        return False
    if state == "failed":
        return True
    try_number, max_tries = read(ti, "try_number"), read(ti, "max_tries")
    if isinstance(try_number, int) and isinstance(max_tries, int):
        return not (max_tries > 0 and try_number <= max_tries)
    return True


def in_task_process(ti: Any) -> bool:
    """The task's own process (it exits right after: wait for delivery) rather than a server."""
    if type(ti).__name__ == "RuntimeTaskInstance":  # Airflow 3's task runner (and `airflow dags test`)
        return True
    # Airflow 2: the task process exports its context before running the task.
    return bool(os.environ.get("AIRFLOW_CTX_TASK_ID")) and os.environ.get("AIRFLOW_CTX_TASK_ID") == read(ti, "task_id")


def _template_context(ti: Any) -> Any:
    try:
        return ti.get_template_context()
    except Exception as exc:
        logger.debug("alerts_lib: no template context from the task instance (%s)", type(exc).__name__)
        return None


def _ti_facts(ti: Any) -> SimpleNamespace | None:
    """Plain values of an ORM task instance, read in the calling thread (no lazy loads: no queries)."""
    dag_id, run_id, task_id = read(ti, "dag_id"), read(ti, "run_id"), read(ti, "task_id")
    if dag_id is None or run_id is None or task_id is None:
        return None
    map_index = read(ti, "map_index")
    return SimpleNamespace(
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        map_index=map_index if isinstance(map_index, int) else -1,
        try_number=read(ti, "try_number"),
        state="failed",
        log_url=read(ti, "log_url"),
    )


def _server_task_failed(ti: SimpleNamespace, known: str | None) -> None:
    """Background: the alert a task callback would send from the DAG processor, with what the DB knows."""
    run = _dag_run_facts(ti.dag_id, ti.run_id)
    if known is None and cause.heartbeat_logged(ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number):
        known = cause.HEARTBEAT
    context: dict[str, Any] = {
        "dag": SimpleNamespace(dag_id=ti.dag_id),
        "ti": ti,
        "task_instance": ti,
        "dag_run": run,
        "run_id": ti.run_id,
        **_dates(run),
    }
    if known is not None:
        context["alerts_lib_cause"] = known
    run_callback(context, "failed", wait=None)


# -- DAG run failures ----------------------------------------------------------------------------------------


def dag_run_failed(dag_run: Any, msg: Any) -> None:
    dag_id, run_id = read(dag_run, "dag_id"), read(dag_run, "run_id")
    if dag_id is None or run_id is None:
        return
    run = SimpleNamespace(
        dag_id=dag_id,
        run_id=run_id,
        logical_date=read(dag_run, "logical_date"),
        run_after=read(dag_run, "run_after"),
        clear_number=read(dag_run, "clear_number") or 0,
    )
    reason = first(msg, "task_failure")
    manual = isinstance(reason, str) and reason.startswith(MANUAL_RUN_MESSAGE)
    if not manual and has_own_callback(read(dag_run, "dag")):  # Airflow calls none for a run failed by hand
        logger.info("alerts_lib: listener leaves DAG %s to its own on_failure_callback", dag_id)
        return
    background.submit(lambda: _server_dag_run_failed(run, reason))


def has_own_callback(obj: Any) -> bool:
    """A task or DAG with an ``on_failure_callback`` of its own (any: alert_slack, a notifier, an email
    function): Airflow will call it, so its messages are the DAG author's, mentions and all. The listener
    covers what has none. Serialized tasks and DAGs (scheduler) only know ``has_on_failure_callback``."""
    if obj is None:
        return False
    if read(obj, "on_failure_callback"):
        return True
    return read(obj, "has_on_failure_callback") is True


def _server_dag_run_failed(run: SimpleNamespace, reason: Any) -> None:
    """Background: the alert a DAG-level callback would send, naming the task that made the run fail."""
    timed_out = reason == "timed_out"
    ti = _related_ti(run.dag_id, run.run_id, timed_out=timed_out)
    context: dict[str, Any] = {
        "dag": SimpleNamespace(dag_id=run.dag_id),
        "run_id": run.run_id,
        "dag_run": run,
        "reason": reason,
        **_dates(run),
    }
    if ti is not None:
        context["ti"] = context["task_instance"] = ti
        if not timed_out and cause.heartbeat_logged(run.dag_id, run.run_id, ti.task_id, ti.map_index, ti.try_number):
            context["alerts_lib_cause"] = cause.HEARTBEAT
        elif isinstance(reason, str) and reason.startswith(MANUAL_RUN_MESSAGE):
            context["alerts_lib_cause"] = cause.MANUAL
    run_callback(context, "failed", wait=None)


def _dates(run: Any) -> dict[str, Any]:
    logical = read(run, "logical_date")
    return {"logical_date": logical} if logical is not None else {}


def _related_ti(dag_id: str, run_id: str, *, timed_out: bool) -> SimpleNamespace | None:
    """The task Airflow's DAG callback names: the failed one that ended last (for a timeout: the last one
    started, now skipped). One query, in the background thread's own session."""
    try:
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select

        state = "skipped" if timed_out else "failed"
        order = TaskInstance.start_date if timed_out else TaskInstance.end_date
        query = (
            select(TaskInstance)
            .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.state == state)
            .where(order.is_not(None))
            .order_by(order.desc())
            .limit(1)
        )
        with create_session() as session:
            ti = session.scalars(query).first()
            if ti is None:
                return None
            facts = _ti_facts(ti)
            if facts is not None:
                facts.state = state
            return facts
    except Exception as exc:
        logger.warning("alerts_lib: could not look up the failed task of %s (%s)", dag_id, type(exc).__name__)
        return None


def _dag_run_facts(dag_id: str, run_id: str) -> SimpleNamespace:
    run = SimpleNamespace(dag_id=dag_id, run_id=run_id, logical_date=None, run_after=None, clear_number=None)
    try:
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            found = session.scalars(
                select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id).limit(1)
            ).first()
            if found is not None:
                run.logical_date = read(found, "logical_date")
                run.run_after = read(found, "run_after")
                run.clear_number = read(found, "clear_number")
    except Exception as exc:
        logger.debug("alerts_lib: could not look up the DAG run (%s)", type(exc).__name__)
    return run


# -- the background thread -----------------------------------------------------------------------------------


class Background:
    """One daemon thread per process running the listener's slow parts (queries, log reads, Connection
    lookups) off the scheduler loop. ``submit`` never blocks; ``drain`` waits, bounded."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._pending = 0
        self._cond = threading.Condition()
        self._pid: int | None = None
        self._thread: threading.Thread | None = None

    def submit(self, job: Callable[[], None]) -> None:
        with self._cond:
            if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                self._start()
            self._pending += 1
        self._last_at_exit()
        self._queue.put(job)

    def _last_at_exit(self) -> None:
        """Be the first exit handler (they run last-registered first): drain before the core's exit flush
        closes its queue. Re-done after each job, since a job's first alert starts (and registers) the core."""
        atexit.unregister(self._at_exit)
        atexit.register(self._at_exit)

    def _at_exit(self) -> None:
        self.drain(DRAIN_TIMEOUT)

    def _start(self) -> None:
        if self._pid != os.getpid():  # a fresh process (fork): the parent's jobs are not ours
            self._queue = queue.SimpleQueue()
            self._pending = 0
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="alerts_lib-airflow-listener", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                job()
            except Exception as exc:
                logger.error("alerts_lib: listener job failed (%s)", type(exc).__name__)
            finally:
                self._last_at_exit()
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for submitted jobs to queue their alerts; delivering them is the core's exit
        flush (``ALERTS_SHUTDOWN_TIMEOUT``), which runs after this."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._pid != os.getpid():  # a fork child: the pending count is the parent's
                return True
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    logger.warning("alerts_lib: %d listener job(s) unfinished at exit", self._pending)
                    return False
                self._cond.wait(left)
        return True


background = Background()
