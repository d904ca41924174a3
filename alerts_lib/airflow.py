"""Airflow callbacks that alert Slack: ``default_args={"on_failure_callback": alert_slack}``.

Works as a task-level and a DAG-level callback on Airflow 3 and 2. Nothing here imports Airflow at module
import time (this module is imported by code that never runs under Airflow); Airflow is only used, lazily,
to read a Connection and to register the webhook URL with its secret masker.

Callbacks run in processes that exit right after them (the task process, the DAG processor's file run), so
each callback queues its alert and then waits a bounded time for delivery (:data:`DEFAULT_TIMEOUT`). A
callback never raises: a broken alert must not turn into a second failure.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlencode

from . import formatters
from ._alert import Alert
from ._client import flush, get_settings, send_slack_alert, stats
from ._redact import secret_parts
from ._text import to_text

__all__ = [
    "DEFAULT_CONN_ID",
    "DEFAULT_TIMEOUT",
    "MAX_TIMEOUT",
    "alert_slack",
    "alert_slack_retry",
    "alert_slack_success",
    "connection_webhook",
    "context_alert",
    "make_slack_callback",
    "slack_webhook",
]

logger = logging.getLogger("alerts_lib.airflow")

Event = Literal["failed", "retry", "success"]
Context = Mapping[str, Any]
Callback = Callable[[Any], None]
FieldsOrFactory = Mapping[str, object] | Callable[[Context], Mapping[str, object] | None] | None

DEFAULT_CONN_ID = "slack_conn"  # read when SLACK_WEBHOOK_URL is unset, if such a Connection exists
CONN_ID_ENV = "ALERTS_AIRFLOW_CONN_ID"  # another default Connection id, without a factory
DEFAULT_TIMEOUT = 5.0  # seconds a callback waits for delivery before its process may exit
# DAG-level callbacks share the DAG processor's per-file budget (dag_file_processor_timeout, 50 s by default).
MAX_TIMEOUT = 20.0
SLACK_SERVICES_URL = "https://hooks.slack.com/services"

_EVENTS = ("failed", "retry", "success")
_NOT_FAILED_STATES = {"success", "skipped", "running", "queued", "scheduled", "removed", "deferred"}
_masked: set[str] = set()


# -- public callbacks ----------------------------------------------------------------------------------------


def make_slack_callback(
    event: Event = "failed",
    *,
    mention: str | None = None,
    webhook_url: str | None = None,
    conn_id: str | None = None,
    extra_fields: FieldsOrFactory = None,
    timeout: float = DEFAULT_TIMEOUT,
    env: str | None = None,
) -> Callback:
    """A callback for ``on_failure_callback`` / ``on_retry_callback`` / ``on_success_callback``.

    ``mention`` pings (``<!subteam^S1>``, ``<@U123>``, ``<!here>``); ``webhook_url`` or ``conn_id`` (an HTTP
    Connection: host + password) send to another webhook than ``SLACK_WEBHOOK_URL``; ``extra_fields`` is a
    mapping, or a function of the context returning one; ``timeout`` bounds the wait for delivery.
    """
    options = _Options(
        event=event if event in _EVENTS else "failed",
        mention=mention,
        webhook_url=webhook_url,
        conn_id=conn_id,
        extra_fields=extra_fields,
        timeout=_bounded_timeout(timeout),
        env=env,
    )

    def callback(context: Any) -> None:
        _run(context, options)

    callback.__name__ = callback.__qualname__ = f"alert_slack_{options.event}"
    callback.__doc__ = f"Send a Slack alert for an Airflow {options.event} event (alerts_lib)."
    return callback


def alert_slack(context: Any) -> None:
    """``on_failure_callback`` for tasks (in ``default_args``) and DAGs: alert Slack, never raise."""
    _run(context, _FAILED)


def alert_slack_retry(context: Any) -> None:
    """``on_retry_callback``: a task failed and will be retried."""
    _run(context, _RETRY)


def alert_slack_success(context: Any) -> None:
    """``on_success_callback`` for tasks or DAGs."""
    _run(context, _SUCCESS)


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
        dag_id = _safe(lambda: _read(_read(_mapping(context), "dag"), "dag_id"))
        return formatters.airflow_event(dag_id, event=event, mention=mention, env=env)


# -- building the alert --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Options:
    event: Event
    mention: str | None = None
    webhook_url: str | None = field(default=None, repr=False)  # a secret: never in a repr
    conn_id: str | None = None
    extra_fields: FieldsOrFactory = None
    timeout: float = DEFAULT_TIMEOUT
    env: str | None = None


_FAILED = _Options("failed")
_RETRY = _Options("retry")
_SUCCESS = _Options("success")


def _build(context: Any, event: Event, mention: str | None, extra_fields: FieldsOrFactory, env: str | None) -> Alert:
    ctx = _mapping(context)
    ti = _read(ctx, "ti") or _read(ctx, "task_instance")
    dag_run = _read(ctx, "dag_run")
    reason = _read(ctx, "reason")
    dag_level = reason is not None  # only DAG-level contexts carry a reason ("task_failure", "success", …)

    dag_id = _first(_read(ti, "dag_id"), _read(_read(ctx, "dag"), "dag_id"), _read(dag_run, "dag_id"))
    run_id = _first(_read(ctx, "run_id"), _read(dag_run, "run_id"), _read(ti, "run_id"))
    fields: list[tuple[str, object]] = []
    if dag_level:
        # Airflow 3 passes the task that made the run fail; Airflow 2 passes the run's last task instance,
        # which may have succeeded: name it only when its state does not say otherwise.
        state = _state(_read(ti, "state"))
        related = ti if ti is not None and event != "success" and state not in _NOT_FAILED_STATES else None
        task_id = None
        try_number = None
        if related is not None:
            fields.append(("failed task", _read(related, "task_id")))
        log_url = _log_url(related, dag_id, run_id, None) if related is not None else None
        log_url = log_url or _built_url(dag_id, run_id, None, None, None, hint=_read(ti, "log_url"))
    else:
        related = ti
        task_id = _first(_read(ti, "task_id"), _read(_read(ctx, "task"), "task_id"))
        try_number = _read(ti, "try_number")
        log_url = _log_url(ti, dag_id, run_id, task_id)
    map_index = _map_index(_read(related, "map_index"))
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
        exception=_read(ctx, "exception"),
        log_url=log_url,
        reason=reason,
        extra_fields=fields,
        mention=mention,
        env=env,
    )


def _map_index(value: Any) -> int | None:
    """A mapped task's index; None for unmapped tasks (-1) and anything that is not an index."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _mapping(context: Any) -> Mapping[str, Any]:
    return context if isinstance(context, Mapping) else {}


def _read(obj: Any, name: str) -> Any:
    """``obj[name]`` or ``obj.name``; None when absent or when reading it fails (lazy Airflow properties)."""
    if obj is None:
        return None
    try:
        if isinstance(obj, Mapping):
            return obj.get(name)
        return getattr(obj, name, None)
    except Exception:
        return None


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None and not (isinstance(v, str) and not v.strip())), None)


def _safe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:
        return None


def _state(value: Any) -> str | None:
    """A TaskInstanceState enum, a str, or None, as a lowercase str."""
    if value is None:
        return None
    return to_text(getattr(value, "value", value)).lower()


def _when(ctx: Context, dag_run: Any) -> str | None:
    """The logical date; manual Airflow 3 runs have none, then the time the run was due (``run_after``)."""
    logical = _first(_read(ctx, "logical_date"), _read(ctx, "ts"), _read(dag_run, "logical_date"))
    if logical is None and "logical_date" not in ctx:  # Airflow 2 names it execution_date (read only then)
        logical = _read(ctx, "execution_date")
    if logical is not None:
        return _iso(logical)
    run_after = _read(dag_run, "run_after")
    return f"{_iso(run_after)} (run_after)" if run_after is not None else None


def _iso(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return _safe(lambda: value.isoformat(timespec="seconds")) or to_text(value)
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


def _log_url(ti: Any, dag_id: Any, run_id: Any, task_id: Any) -> str | None:
    """``ti.log_url`` (Airflow builds it from its own config), else one built from the base URL variables."""
    url = _read(ti, "log_url")
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        return url
    task = _first(task_id, _read(ti, "task_id"))
    return _built_url(dag_id, run_id, task, _read(ti, "try_number"), _read(ti, "map_index"))


def _built_url(
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
                if _map_index(map_index) is not None:
                    url += f"/mapped/{map_index}"
                if try_number is not None:
                    url += "?" + urlencode({"try_number": to_text(try_number)})
        return url
    query: dict[str, str] = {}
    if run_id is not None:
        query["dag_run_id"] = to_text(run_id)
    if task_id is not None:
        query.update(task_id=to_text(task_id), tab="logs")
        if _map_index(map_index) is not None:
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
            return web.rstrip("/"), _airflow_major() or 2
    return None, 0


def _airflow_major() -> int | None:
    """The running Airflow's major version, without importing Airflow when it is not already loaded."""
    module = sys.modules.get("airflow")
    version = to_text(getattr(module, "__version__", "")) if module is not None else ""
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else None


# -- the webhook ---------------------------------------------------------------------------------------------


def connection_webhook(connection: Any) -> str | None:
    """The webhook URL an Airflow Connection describes, as the Slack and HTTP providers read it.

    ``password`` is the full URL, or the token path (``T…/B…/…``) appended to ``host`` (a full base URL such
    as ``https://hooks.slack.com/services``, or a host name with ``schema`` http/https and ``port``).
    """
    password = to_text(_read(connection, "password") or "").strip()
    host = to_text(_read(connection, "host") or "").strip()
    schema = to_text(_read(connection, "schema") or "").strip()
    port = _read(connection, "port")
    if password.lower().startswith(("http://", "https://")):
        return password
    if host.lower().startswith(("http://", "https://")):
        base = host
    elif host:
        scheme = schema.lower() if schema.lower() in ("http", "https") else "https"
        base = f"{scheme}://{host}" + (f":{int(port)}" if isinstance(port, int) and port > 0 else "")
        if schema and schema.lower() not in ("http", "https"):
            base += "/" + schema.strip("/")
    elif password:
        base = SLACK_SERVICES_URL
    else:
        return None
    return f"{base.rstrip('/')}/{password.lstrip('/')}" if password else base


def slack_webhook(conn_id: str | None = None) -> str | None:
    """The webhook Airflow code should post to: pass it as ``send_slack_alert(..., webhook_url=...)``.

    ``conn_id`` given: that Connection's URL (falling back to ``SLACK_WEBHOOK_URL`` if it is unusable).
    Otherwise None, meaning ``SLACK_WEBHOOK_URL``, unless that is unset and a Connection ``slack_conn``
    (or the id in ``ALERTS_AIRFLOW_CONN_ID``) exists. The URL is registered with Airflow's secret masker. Never raises.
    """
    try:
        url = None
        if conn_id:
            url = _from_connection(conn_id)
            if url is None:
                logger.warning(
                    "alerts_lib: Airflow Connection %r has no usable webhook; using SLACK_WEBHOOK_URL",
                    conn_id,
                )
        elif get_settings().webhook is None and "airflow" in sys.modules:
            default = os.environ.get(CONN_ID_ENV, "").strip()
            url = _from_connection(default or DEFAULT_CONN_ID, missing_ok=not default)
        _mask_in_airflow(url or get_settings().webhook)
        return url
    except Exception as exc:
        logger.error("alerts_lib: could not resolve the Slack webhook (%s)", type(exc).__name__)
        return None


def _from_connection(conn_id: str, *, missing_ok: bool = False) -> str | None:
    try:
        connection = _base_hook().get_connection(conn_id)
    except Exception as exc:
        if not missing_ok:
            logger.warning("alerts_lib: cannot read Airflow Connection %r (%s)", conn_id, type(exc).__name__)
        return None
    return connection_webhook(connection)


def _base_hook() -> Any:
    try:
        return importlib.import_module("airflow.sdk").BaseHook  # Airflow 3
    except (ImportError, AttributeError):
        return importlib.import_module("airflow.hooks.base").BaseHook  # Airflow 2


def _mask_in_airflow(url: str | None) -> None:
    """Register the webhook URL (and its path, the secret part) with Airflow's log masker, once."""
    if not url or url in _masked or "airflow" not in sys.modules:
        return
    mask_secret = _airflow_mask_secret()
    if mask_secret is None:
        return
    for secret in secret_parts(url):
        try:
            mask_secret(secret)
        except Exception as exc:
            logger.debug("alerts_lib: Airflow's mask_secret failed (%s)", type(exc).__name__)
    _masked.add(url)


def _airflow_mask_secret() -> Callable[[str], None] | None:
    for module in ("airflow.sdk.log", "airflow.utils.log.secrets_masker"):  # Airflow 3, then 2
        try:
            return importlib.import_module(module).mask_secret  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            continue
    return None


# -- delivering ----------------------------------------------------------------------------------------------


def _bounded_timeout(value: Any) -> float:
    """A number in [0, MAX_TIMEOUT], else the default: a callback must never wait unbounded."""
    try:
        timeout = float(value)
    except (TypeError, ValueError):
        timeout = math.nan
    if not 0 <= timeout <= MAX_TIMEOUT:  # also rejects NaN
        logger.warning(
            "alerts_lib: callback timeout %r is not within [0, %g] s; using %g",
            value,
            MAX_TIMEOUT,
            DEFAULT_TIMEOUT,
        )
        timeout = DEFAULT_TIMEOUT
    return timeout


def _run(context: Any, options: _Options) -> None:
    """Queue the alert, then wait at most ``options.timeout`` for delivery. Never raises."""
    try:
        alert = context_alert(
            context,
            options.event,
            mention=options.mention,
            extra_fields=options.extra_fields,
            env=options.env,
        )
        if options.webhook_url:
            url: str | None = options.webhook_url
            _mask_in_airflow(url)
        else:
            url = slack_webhook(options.conn_id)
        failed_before = stats().failed
        if not send_slack_alert(alert, webhook_url=url):
            return  # no webhook (the alert was logged instead) or dropped: nothing to wait for
        if not flush(options.timeout):
            logger.warning(
                "alerts_lib: Slack alert not delivered within %g s (retried until this process exits): %s",
                options.timeout,
                alert.text,
            )
        elif stats().failed > failed_before:
            logger.warning("alerts_lib: Slack did not accept the alert (see the error above): %s", alert.text)
        else:
            logger.info("alerts_lib: Slack alert delivered: %s", alert.text)
    except Exception as exc:  # the callback must never become a second failure
        logger.error("alerts_lib: Airflow callback failed (%s)", type(exc).__name__)
