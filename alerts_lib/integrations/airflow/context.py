"""Reading an Airflow callback context (Airflow 3 and 2): the alert it describes and the failure it is about.

Pure and Airflow-free: contexts are read through ``obj[name]`` / ``obj.name`` with every read guarded, because
Airflow versions and processes (task runner, DAG processor, ``airflow dags test``) hand different objects, some
with lazy properties that raise.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlencode

from ... import formatters
from ..._alert import Alert
from ..._text import to_text
from . import cause as _cause

logger = logging.getLogger("alerts_lib.airflow")

Event = Literal["failed", "retry", "success"]
Context = Mapping[str, Any]
FieldsOrFactory = Mapping[str, object] | Callable[[Context], Mapping[str, object] | None] | None

EVENTS: tuple[Event, ...] = ("failed", "retry", "success")
NOT_FAILED_STATES = {"success", "skipped", "running", "queued", "scheduled", "removed", "deferred"}
# What Airflow passes as a DAG-level ``reason`` (or the listener's ``msg``), in words where it is not clear.
REASONS = {"timed_out": "timed_out", "all_tasks_deadlocked": "all_tasks_deadlocked"}
MANUAL_RUN_MESSAGE = "Dag Run's state was manually set to"  # the API server's on_dag_run_failed msg
MANUAL_REASON = "marked failed by hand"


def context_alert(
    context: Any,
    event: Event = "failed",
    *,
    mention: str | None = None,
    extra_fields: FieldsOrFactory = None,
    env: str | None = None,
) -> Alert:
    """The alert for an Airflow callback context (pure, never raises): what :func:`alert_slack` sends."""
    try:
        return _build(context, event, mention, extra_fields, env)
    except Exception as exc:  # a context no Airflow version produces: still say that something happened
        logger.warning("alerts_lib: unreadable Airflow context (%s); sending a minimal alert", type(exc).__name__)
        dag_id = safe(lambda: read(read(mapping(context), "dag"), "dag_id"))
        return formatters.airflow_event(dag_id, event=event, mention=mention, env=env)


# -- which failure a context is about -------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """The identity of what a context reports: a task try, or a DAG run (``task_id`` None)."""

    dag_id: str
    run_id: str
    task_id: str | None = None
    map_index: int = -1
    try_number: int | None = None
    clear_number: int | None = None  # a DAG run cleared and failed again is a new failure

    def key(self, event: str, target: str) -> tuple[object, ...] | None:
        """The once-record key, or None when the context lacks part of it (then nothing is deduplicated:
        a duplicate beats a loss). ``target`` names where the alert goes ("" for the default)."""
        if self.task_id is not None:
            if self.try_number is None:
                return None
            return ("task", self.dag_id, self.run_id, self.task_id, self.map_index, self.try_number, event, target)
        if self.clear_number is None:
            return None
        return ("dag", self.dag_id, self.run_id, self.clear_number, event, target)

    def label(self) -> str:
        """For the record's file (no secrets): what was claimed."""
        if self.task_id is not None:
            return f"task {self.dag_id}.{self.task_id} run={self.run_id} map={self.map_index} try={self.try_number}"
        return f"dag {self.dag_id} run={self.run_id} clear={self.clear_number}"


def failure_of(context: Any) -> Failure | None:
    """The task try or DAG run a callback context reports; None when it does not say."""
    try:
        ctx = mapping(context)
        ti = read(ctx, "ti") or read(ctx, "task_instance")
        dag_run = read(ctx, "dag_run")
        dag_id = first(read(ti, "dag_id"), read(read(ctx, "dag"), "dag_id"), read(dag_run, "dag_id"))
        run_id = first(read(ctx, "run_id"), read(dag_run, "run_id"), read(ti, "run_id"))
        if dag_id is None or run_id is None:
            return None
        if is_dag_level(ctx):
            return Failure(to_text(dag_id), to_text(run_id), clear_number=_int(read(dag_run, "clear_number")))
        task_id = first(read(ti, "task_id"), read(read(ctx, "task"), "task_id"))
        if task_id is None:
            return None
        return Failure(
            to_text(dag_id),
            to_text(run_id),
            to_text(task_id),
            map_index=index if (index := map_index_of(read(ti, "map_index"))) is not None else -1,
            try_number=_int(read(ti, "try_number")),
        )
    except Exception:
        return None


def is_dag_level(ctx: Context) -> bool:
    """Only DAG-level contexts carry a ``reason`` ("task_failure", "timed_out", "success", …)."""
    return read(ctx, "reason") is not None


# -- building the alert --------------------------------------------------------------------------------------


def _build(context: Any, event: Event, mention: str | None, extra_fields: FieldsOrFactory, env: str | None) -> Alert:
    ctx = mapping(context)
    ti = read(ctx, "ti") or read(ctx, "task_instance")
    dag_run = read(ctx, "dag_run")
    reason = read(ctx, "reason")
    exception = read(ctx, "exception")

    dag_id = first(read(ti, "dag_id"), read(read(ctx, "dag"), "dag_id"), read(dag_run, "dag_id"))
    run_id = first(read(ctx, "run_id"), read(dag_run, "run_id"), read(ti, "run_id"))
    fields: list[tuple[str, object]] = []
    if reason is not None:  # DAG level
        reason_text = reason_in_words(reason)
        # Airflow 3 passes the task that made the run fail (for a timeout: the one still running); Airflow 2
        # the run's last task instance, which may have succeeded: name it only when its state does not say so.
        state = state_text(read(ti, "state"))
        timed_out = to_text(reason) == "timed_out"
        related = (
            ti if ti is not None and event != "success" and (timed_out or state not in NOT_FAILED_STATES) else None
        )
        task_id = None
        try_number = None
        if related is not None:
            fields.append(("running task" if timed_out else "failed task", read(related, "task_id")))
            fields.append(("try", read(related, "try_number")))
            if not timed_out:
                fields.append(("cause", read(ctx, "alerts_lib_cause") or _cause.of_task(related, dag_id, run_id)))
        log_url = log_url_of(related, dag_id, run_id, None) if related is not None else None
        log_url = log_url or built_url(dag_id, run_id, None, None, None, hint=read(ti, "log_url"))
    else:
        reason_text = None
        related = ti
        task_id = first(read(ti, "task_id"), read(read(ctx, "task"), "task_id"))
        try_number = read(ti, "try_number")
        log_url = log_url_of(ti, dag_id, run_id, task_id)
        if event == "failed":
            fields.append(("cause", read(ctx, "alerts_lib_cause") or _task_cause(ctx, ti, dag_id, run_id, task_id)))
    map_index = map_index_of(read(related, "map_index"))
    if map_index is not None:
        fields.append(("map index", map_index))
    fields.extend(_extra(extra_fields, ctx))

    return formatters.airflow_event(
        dag_id,
        task_id=task_id,
        event=event,
        run_id=run_id,
        try_number=try_number,
        when=_when(ctx, dag_run),
        exception=exception,
        log_url=log_url,
        reason=reason_text,
        extra_fields=[(k, v) for k, v in fields if v is not None],
        mention=mention,
        env=env,
    )


def reason_in_words(reason: object) -> str:
    text = to_text(reason)
    if text.startswith(MANUAL_RUN_MESSAGE):
        return MANUAL_REASON
    return REASONS.get(text, text)


def _task_cause(ctx: Context, ti: Any, dag_id: Any, run_id: Any, task_id: Any) -> str | None:
    """A task-level failure with no exception: Airflow 3 calls it from the DAG processor, which it does only
    when the task's own process could not (heartbeat timeout, killed outside Airflow)."""
    if ti is None or ("exception" in ctx and read(ctx, "exception") is not None):
        return None
    return _cause.of_task(ti, dag_id, run_id, task_id=task_id) or _cause.LOST


def map_index_of(value: Any) -> int | None:
    """A mapped task's index; None for unmapped tasks (-1) and anything that is not an index."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _int(value: Any, default: int | None = None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def mapping(context: Any) -> Mapping[str, Any]:
    return context if isinstance(context, Mapping) else {}


def read(obj: Any, name: str) -> Any:
    """``obj[name]`` or ``obj.name``; None when absent or when reading it fails (lazy Airflow properties)."""
    if obj is None:
        return None
    try:
        if isinstance(obj, Mapping):
            return obj.get(name)
        return getattr(obj, name, None)
    except Exception:
        return None


def first(*values: Any) -> Any:
    return next((v for v in values if v is not None and not (isinstance(v, str) and not v.strip())), None)


def safe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:
        return None


def state_text(value: Any) -> str | None:
    """A TaskInstanceState enum, a str, or None, as a lowercase str."""
    if value is None:
        return None
    return to_text(getattr(value, "value", value)).lower()


def _when(ctx: Context, dag_run: Any) -> str | None:
    """The logical date; manual Airflow 3 runs have none, then the time the run was due (``run_after``)."""
    logical = first(read(ctx, "logical_date"), read(ctx, "ts"), read(dag_run, "logical_date"))
    if logical is None and "logical_date" not in ctx:  # Airflow 2 names it execution_date (read only then)
        logical = read(ctx, "execution_date")
    if logical is not None:
        return _iso(logical)
    run_after = read(dag_run, "run_after")
    return f"{_iso(run_after)} (run_after)" if run_after is not None else None


def _iso(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return safe(lambda: value.isoformat(timespec="seconds")) or to_text(value)
    return to_text(value)


def _extra(extra_fields: FieldsOrFactory, ctx: Context) -> list[tuple[str, object]]:
    if extra_fields is None:
        return []
    try:
        values = extra_fields(ctx) if callable(extra_fields) else extra_fields
        if isinstance(values, Mapping):
            return [(to_text(k), v) for k, v in values.items()]
        return [] if values is None else [("extra", values)]
    except Exception as exc:
        logger.warning("alerts_lib: extra_fields failed (%s); alert sent without them", type(exc).__name__)
        return []


# -- the log link --------------------------------------------------------------------------------------------


def log_url_of(ti: Any, dag_id: Any, run_id: Any, task_id: Any) -> str | None:
    """``ti.log_url`` (Airflow builds it from its own config), else one built from the base URL variables."""
    url = read(ti, "log_url")
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        return url
    task = first(task_id, read(ti, "task_id"))
    return built_url(dag_id, run_id, task, read(ti, "try_number"), read(ti, "map_index"))


def built_url(
    dag_id: Any, run_id: Any, task_id: Any, try_number: Any, map_index: Any, *, hint: Any = None
) -> str | None:
    """The UI link for a task's log (or a DAG run), in the URL scheme of the Airflow the base URL belongs to.

    ``hint``: another task's ``log_url``, whose base is used when no base URL variable is set."""
    if dag_id is None:
        return None
    base, major = _base_url(hint)
    if base is None:
        return None
    dag = quote(to_text(dag_id), safe="")
    if major >= 3:
        url = f"{base}/dags/{dag}"
        if run_id is not None:
            url += f"/runs/{quote(to_text(run_id), safe='')}"
            if task_id is not None:
                url += f"/tasks/{quote(to_text(task_id), safe='')}"
                if map_index_of(map_index) is not None:
                    url += f"/mapped/{map_index}"
                if try_number is not None:
                    url += "?" + urlencode({"try_number": to_text(try_number)})
        return url
    query: dict[str, str] = {}
    if run_id is not None:
        query["dag_run_id"] = to_text(run_id)
    if task_id is not None:
        query.update(task_id=to_text(task_id), tab="logs")
        if map_index_of(map_index) is not None:
            query["map_index"] = str(map_index)
    return f"{base}/dags/{dag}/grid" + ("?" + urlencode(query) if query else "")


def _base_url(hint: Any = None) -> tuple[str | None, int]:
    """The UI base URL and the Airflow major version its URL scheme follows."""
    if isinstance(hint, str) and hint.startswith(("http://", "https://")) and "/dags/" in hint:
        base, _, rest = hint.partition("/dags/")
        return base.rstrip("/"), 3 if "/runs/" in rest else 2
    api = os.environ.get("AIRFLOW__API__BASE_URL", "").strip()
    if api:
        return api.rstrip("/"), 3
    for name in ("AIRFLOW__WEBSERVER__BASE_URL", "AIRFLOW__WEBSERVER__WEB_SERVER_BASE_URL"):
        web = os.environ.get(name, "").strip()
        if web:
            return web.rstrip("/"), airflow_major() or 2
    return None, 0


def airflow_major() -> int | None:
    """The running Airflow's major version, without importing Airflow when it is not already loaded."""
    module = sys.modules.get("airflow")
    version = to_text(getattr(module, "__version__", "")) if module is not None else ""
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else None
