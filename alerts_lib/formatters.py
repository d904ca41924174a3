"""Pure functions that build the team's alerts.

No I/O, no settings, no clock: each takes plain values and returns an :class:`~alerts_lib.Alert`, so they
are trivially testable and safe to call from anywhere. Values may be anything (an exception, None, bytes);
they are escaped and truncated when the alert is rendered. Pass ``env=`` to label the environment; when
omitted, :func:`~alerts_lib.send_slack_alert` labels it with ``ALERTS_ENV``.

Every title names things one way, so a channel shared by several models stays readable and searchable: a
variant is ``my_model@A`` (``@A`` when the model is unknown), a version is ``v9``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from ._alert import Alert, Severity, fields_from
from ._text import to_text

__all__ = [
    "airflow_event",
    "alert",
    "health_degraded",
    "health_recovered",
    "hotswap_failed",
    "hotswap_succeeded",
    "model_registered",
    "prediction_error",
    "readiness_check_failed",
    "service_started",
]

FieldsLike = Mapping[str, object] | Sequence[tuple[str, object]] | None


def alert(
    title: object,
    *,
    severity: Severity | str = Severity.INFO,
    source: str | None = None,
    fields: FieldsLike = None,
    body: object = None,
    link: tuple[str, str] | None = None,
    env: str | None = None,
    dedup_key: str | None = None,
    mention: str | None = None,
    dedupe: bool = True,
    name: str | None = None,
    labels: Mapping[str, object] | None = None,
    state: str | None = None,
) -> Alert:
    """A generic alert: a title, a severity and key/value fields. ``dedupe=False`` exempts a state change
    from storm control; ``name``/``labels`` identify it (routing, Alertmanager); ``state`` is "firing" or
    "resolved" for alerts that open and close."""
    return Alert(
        title=to_text(title),
        source=source,
        severity=Severity.parse(severity),
        env=env,
        fields=fields_from(fields),
        body=None if body is None else to_text(body),
        link=link,
        dedup_key=dedup_key,
        mention=mention,
        dedupe=dedupe,
        name=name,
        labels=_labels(labels),
        state=state,
    )


def service_started(
    service: str = "FastAPI",
    *,
    model: object = None,
    aliases: Sequence[object] = (),
    version: object = None,
    details: FieldsLike = None,
    env: str | None = None,
) -> Alert:
    """``🚀 [FastAPI] started: my_model@A, my_model@B``: the service came up (sent from the lifespan, so a
    restart loop is visible in Slack). ``version`` is the service's own, shown as ``v0.1.0``."""
    fields = [("version", _version_ref(version) if version is not None else None), *fields_from(details)]
    serving = _variants(model, aliases) if _names(aliases) else to_text(model) if model is not None else ""
    return Alert(
        title=f"started: {serving}" if serving else "started",
        source=service,
        severity=Severity.INFO,
        env=env,
        fields=fields_from(fields),
        emoji="🚀",
        dedupe=False,
        name="ServiceStarted",
        labels=_labels({"service": service}),
    )


def _model_ref(alias: object) -> str:
    return f"@{to_text(alias).lstrip('@')}"


def _variant_ref(model: object, alias: object) -> str:
    """``my_model@A``: which model and which of its variants, in every title that names one."""
    return f"{to_text(model) if model is not None else ''}{_model_ref(alias)}"


def _version_ref(version: object) -> str:
    text = to_text(version)
    return text if text[:1] in ("v", "V") else f"v{text}"


def hotswap_succeeded(
    model: object,
    alias: object,
    version: object,
    *,
    run_id: object = None,
    previous_version: object = None,
    source: str = "FastAPI",
    env: str | None = None,
) -> Alert:
    """``🔁 [FastAPI] my_model@A hot-swapped to v9 (run_id=…)``."""
    title = f"{_variant_ref(model, alias)} hot-swapped to {_version_ref(version)}"
    if run_id:
        title += f" (run_id={to_text(run_id)})"
    return Alert(
        title=title,
        source=source,
        severity=Severity.SUCCESS,
        env=env,
        emoji="🔁",
        fields=fields_from(
            [
                ("model", model),
                ("alias", _model_ref(alias)),
                ("version", _version_ref(version)),
                ("previous", _version_ref(previous_version) if previous_version is not None else None),
                ("run_id", run_id),
            ]
        ),
        dedupe=False,
        name="ModelHotswapped",
        labels=_labels({"model": model, "alias": _model_ref(alias)}),
    )


def hotswap_failed(
    model: object,
    alias: object,
    error: object,
    *,
    version: object = None,
    source: str = "FastAPI",
    env: str | None = None,
) -> Alert:
    """``❌ [FastAPI] hot-swap of my_model@A to v9 failed: …``; the variant keeps serving its previous model."""
    target = f" to {_version_ref(version)}" if version is not None else ""
    return Alert(
        title=f"hot-swap of {_variant_ref(model, alias)}{target} failed: {_error_summary(error)}",
        source=source,
        severity=Severity.ERROR,
        env=env,
        fields=fields_from(
            [
                ("model", model),
                ("alias", _model_ref(alias)),
                ("version", _version_ref(version) if version is not None else None),
            ]
        ),
        body=_error_detail(error),
        name="ModelHotswapFailed",
        labels=_labels({"model": model, "alias": _model_ref(alias)}),
    )


def health_degraded(
    loaded: Sequence[object],
    missing: Sequence[object],
    *,
    model: object = None,
    details: FieldsLike = None,
    source: str = "FastAPI",
    env: str | None = None,
) -> Alert:
    """``⚠️ [FastAPI] degraded: my_model@B missing (loaded: my_model@A)``: sent on transitions only."""
    return Alert(
        title=f"degraded: {_variants(model, missing)} missing (loaded: {_variants(model, loaded)})",
        source=source,
        severity=Severity.WARNING,
        env=env,
        fields=fields_from(details),
        dedupe=False,  # sent on transitions only, and each one is news
        name="ServiceHealth",
        labels=_labels({"service": source}),
        state="firing",
    )


def health_recovered(
    loaded: Sequence[object],
    *,
    model: object = None,
    source: str = "FastAPI",
    env: str | None = None,
) -> Alert:
    """``✅ [FastAPI] recovered: my_model@A, my_model@B loaded``: the degraded → ok transition."""
    return Alert(
        title=f"recovered: {_variants(model, loaded)} loaded",
        source=source,
        severity=Severity.SUCCESS,
        env=env,
        dedupe=False,
        name="ServiceHealth",
        labels=_labels({"service": source}),
        state="resolved",
    )


def prediction_error(
    error: object,
    *,
    model: object = None,
    alias: object = None,
    version: object = None,
    request_id: object = None,
    source: str = "FastAPI",
    env: str | None = None,
) -> Alert:
    """An unexpected exception while predicting. Same error type and variant share a dedup key, so a burst
    of them becomes one message plus a count.

    Called on the request path of a failing service, where the same error on the same variant repeats
    thousands of times a minute: the alert is built once and kept (a few recent ones, keyed by the error's
    text, so an exception whose text changes is never shown stale); only the request id is added per call.
    """
    text = to_text(error)
    key = (error.__class__, text, model, alias, version, source, env)
    plain = (
        len(text) <= 1000
        and model.__class__ in _PLAIN
        and alias.__class__ in _PLAIN
        and version.__class__ in _PLAIN
        and source.__class__ in _PLAIN
        and env.__class__ in _PLAIN
    )
    alert = _recent_errors.get(key) if plain else None
    if alert is None:
        alert = _prediction_error(error, text.strip(), model, alias, version, source, env)
        if plain:
            if len(_recent_errors) >= _RECENT_ERRORS:
                _recent_errors.clear()
            _recent_errors[key] = alert
    if request_id is None or request_id == "":
        return alert
    return Alert.fast(**{**vars(alert), "fields": (*alert.fields, ("request_id", to_text(request_id)))})


_PLAIN = frozenset({str, int, type(None)})  # values whose text cannot change under the same key
_RECENT_ERRORS = 64  # distinct errors kept; a burst of distinct errors simply rebuilds
_recent_errors: dict[object, Alert] = {}


def _prediction_error(
    error: object, text: str, model: object, alias: object, version: object, source: str, env: str | None
) -> Alert:
    kind = type(error).__name__ if isinstance(error, BaseException) else None
    first = text.splitlines()[0] if text else ""
    summary = (f"{kind}: {first}" if first else kind) if kind else (first or "unknown error")
    fields: list[tuple[str, str]] = []
    labels: list[tuple[str, str]] = []
    model_text = where = ""
    if model is not None:
        model_text = to_text(model)
        where = f" on {model_text}"
        if model_text:
            fields.append(("model", model_text))
    if alias is not None:
        alias_ref = _model_ref(alias)
        where = f" on {model_text}{alias_ref}"
        fields.append(("alias", alias_ref))
        labels.append(("alias", alias_ref))
    if version is not None:
        fields.append(("version", _version_ref(version)))
    if model_text:
        labels.append(("model", model_text))
    return Alert.fast(
        title=f"prediction error{where}: {summary}",
        source=source,
        severity=Severity.ERROR,
        env=env,
        fields=tuple(fields),
        body=text if "\n" in text or len(text) > 100 else None,
        dedup_key=f"prediction-error:{to_text(alias)}:{kind or 'error'}",
        name="PredictionError",
        labels=tuple(labels),
    )


def model_registered(
    model: object,
    version: object,
    alias: object = None,
    *,
    run_id: object = None,
    source: str = "Airflow",
    env: str | None = None,
) -> Alert:
    """``✅ [Airflow] model registered: my_model v12 → my_model@A`` (the variant it is meant for)."""
    title = f"model registered: {to_text(model)} {_version_ref(version)}"
    if alias is not None:
        title += f" → {_variant_ref(model, alias)}"
    return Alert(
        title=title,
        source=source,
        severity=Severity.SUCCESS,
        env=env,
        fields=fields_from([("run_id", run_id)]),
        dedupe=False,
        name="ModelRegistered",
        labels=_labels({"model": model, "alias": _model_ref(alias) if alias is not None else None}),
    )


def readiness_check_failed(
    model: object,
    version: object,
    *,
    reason: object = None,
    check: str = "READY",
    source: str = "Airflow",
    env: str | None = None,
) -> Alert:
    """``❌ [Airflow] READY check failed: my_model v12`` (a sensor gave up, or the model never became ready)."""
    return Alert(
        title=f"{to_text(check)} check failed: {to_text(model)} {_version_ref(version)}",
        source=source,
        severity=Severity.ERROR,
        env=env,
        body=None if reason is None else to_text(reason),
        name="ModelReadinessFailed",
        labels=_labels({"model": model}),
    )


AirflowEvent = Literal["failed", "retry", "success"]

_AIRFLOW_EVENTS: dict[str, tuple[Severity, str, str]] = {
    "failed": (Severity.CRITICAL, "failed", "Failed"),
    "retry": (Severity.WARNING, "up for retry", "Retry"),
    "success": (Severity.SUCCESS, "succeeded", "Succeeded"),
}


def airflow_event(
    dag_id: object,
    *,
    task_id: object = None,
    event: AirflowEvent = "failed",
    run_id: object = None,
    try_number: object = None,
    when: object = None,
    exception: object = None,
    log_url: object = None,
    reason: object = None,
    extra_fields: FieldsLike = None,
    mention: str | None = None,
    env: str | None = None,
) -> Alert:
    """``🔥 [Airflow] task failed: my_dag.train`` (or ``DAG failed``, ``up for retry``, ``succeeded``)."""
    severity, verb, suffix = _AIRFLOW_EVENTS.get(event, _AIRFLOW_EVENTS["failed"])
    dag = to_text(dag_id) if dag_id is not None else "unknown_dag"
    if task_id is not None:
        title = f"task {verb}: {dag}.{to_text(task_id)}"
    else:
        title = f"DAG {verb}: {dag}"
    if exception is not None and event != "success":
        title += f": {_error_summary(exception)}"
    url = to_text(log_url) if log_url else None
    return Alert(
        title=title,
        source="Airflow",
        severity=severity,
        env=env,
        fields=fields_from(
            [
                ("dag", dag),
                ("task", task_id),
                ("run_id", run_id),
                ("try", try_number),
                ("when", when),
                ("reason", reason),
                ("exception", _error_type(exception) if isinstance(exception, BaseException) else None),
                *fields_from(extra_fields),
            ]
        ),
        body=_error_detail(exception) if exception is not None and event != "success" else None,
        link=(url, "View log") if url else None,
        mention=mention,
        # Per run: the same failure in two runs is two alerts, each with its own run id and log link.
        dedup_key=f"airflow:{event}:{dag}:{to_text(task_id)}:{to_text(run_id)}:{_error_type(exception)}",
        name=f"Airflow{'Task' if task_id is not None else 'Dag'}{suffix}",
        labels=_labels({"dag_id": dag, "task_id": task_id}),
    )


def _labels(values: Mapping[str, object] | None) -> tuple[tuple[str, str], ...]:
    """Identity labels as an Alert keeps them: text, empty values dropped, sorted so equal sets compare equal."""
    if not values:
        return ()
    return tuple(sorted((to_text(k), to_text(v)) for k, v in values.items() if v is not None and v != ""))


def _variants(model: object, aliases: Sequence[object]) -> str:
    """``my_model@A, my_model@B``, or ``none``."""
    return ", ".join(_variant_ref(model, a) for a in _names(aliases)) or "none"


def _names(values: Sequence[object]) -> list[str]:
    if isinstance(values, (str, bytes)):
        return [to_text(values)] if values else []
    try:
        return [to_text(v) for v in values]
    except TypeError:
        return [to_text(values)]


def _error_type(error: object) -> str:
    if isinstance(error, BaseException):
        return type(error).__name__
    return "error"


def _error_summary(error: object) -> str:
    """``ValueError: bad weights`` on one line; the title is cut to its limit when rendered."""
    message = to_text(error).strip().splitlines()
    first = message[0] if message else ""
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {first}" if first else type(error).__name__
    return first or "unknown error"


def _error_detail(error: object) -> str | None:
    """The full message when it says more than the one-line summary."""
    text = to_text(error).strip()
    return text if "\n" in text or len(text) > 100 else None
