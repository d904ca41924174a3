"""FastAPI (and Starlette) integration: one call wires a service's alerts.

    from alerts_lib.integrations.fastapi import install

    app = FastAPI(lifespan=lifespan)
    ...  # routes, middleware, exception handlers
    install(app, service="billing-api")  # last, so its middleware is the outermost of yours

- An exception no handler took (the app answers 500) queues one ``UnhandledException`` alert: the route
  *template* (``/variant/{alias}/reload``, never the raw path, so no injection and no cardinality blow-up),
  method, request id and exception. Storm-controlled per route, method and exception type. The exception is
  re-raised unchanged, so the response is exactly the app's own 500 (its ``Exception`` handler, or Starlette's).
  ``HTTPException``s the app raises, 4xx or 5xx, are answers, not alerts.
- The app's lifespan is wrapped, not replaced: after the app's own startup, the startup alert; if that startup
  raises, a ``ServiceStartFailed`` alert; after the app's own shutdown, a flush bounded by
  ``ALERTS_SHUTDOWN_TIMEOUT``.
- Optionally ``GET stats_path`` (delivery counters as JSON) and ``GET metrics_path`` (Prometheus text).

The middleware is pure ASGI (no BaseHTTPMiddleware): it does not touch the request, the response, streaming
or background tasks, and costs a ``try`` on the way through. Importing this module imports Starlette;
``import alerts_lib`` never imports this module.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

try:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import BaseRoute, Host, Match, Mount
    from starlette.types import ASGIApp, Receive, Scope, Send
except ImportError as exc:  # pragma: no cover - exercised only without FastAPI installed
    raise ImportError(
        "alerts_lib.integrations.fastapi needs FastAPI (or Starlette): pip install 'alerts_lib[fastapi]'"
    ) from exc

import alerts_lib
from alerts_lib import Alert, formatters, metrics

__all__ = ["AlertOnError", "install", "request_id", "route_template", "unhandled_exception_alert"]

logger = logging.getLogger("alerts_lib.fastapi")

Details = Mapping[str, object] | Callable[[Any], Mapping[str, object]] | None
StartupAlert = bool | Callable[[Any], Alert]

UNMATCHED = "<unmatched>"  # the route of a request no route matched (an error in a middleware, say)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_ROUTE_KEY = "alerts_lib.route"  # where the route template is remembered in the ASGI scope
_INSTALLED = "alerts_lib_installed"  # marker on app.state: a second install() does nothing


@dataclass(frozen=True)
class _Options:
    app: Any  # the app install() wired: its routes give the templates (a mounted sub-app's scope names itself)
    service: str
    destination: str | None


def install(
    app: Starlette,
    *,
    service: str = "FastAPI",
    startup_alert: StartupAlert = True,
    startup_details: Details = None,
    version: str | None = None,
    shutdown_timeout: float | None = None,
    destination: str | None = None,
    stats_path: str | None = None,
    metrics_path: str | None = None,
) -> None:
    """Alert on unhandled exceptions, send the startup alert and flush at shutdown (see the module doc).

    ``startup_details``: fields for the startup alert, or a function of the app returning them, called after
    the app's own startup (so it can read what the startup built). ``startup_alert``: False for none, or a
    function of the app returning the whole startup :class:`~alerts_lib.Alert` (same timing). ``version``
    defaults to ``app.version``.
    ``shutdown_timeout``: seconds for the shutdown flush (default ``ALERTS_SHUTDOWN_TIMEOUT``).
    ``destination``: send these alerts to that destination only (a name from ``ALERTS_CONFIG``).
    ``stats_path`` / ``metrics_path``: add ``GET`` routes (left out of the OpenAPI schema) for the delivery
    counters as JSON / as Prometheus text (404 with the install hint without prometheus-client).
    Call it before the app starts (Starlette refuses middleware after that), after your own middleware.
    """
    if getattr(app.state, _INSTALLED, False):
        logger.warning("alerts_lib: install() already ran for this app; the second call does nothing")
        return
    setattr(app.state, _INSTALLED, True)
    options = _Options(app=app, service=service, destination=destination)
    app.add_middleware(AlertOnError, options=options)
    app.router.lifespan_context = _wrap_lifespan(
        app.router.lifespan_context,
        options,
        startup_alert=startup_alert,
        details=startup_details,
        version=version if version is not None else getattr(app, "version", None),
        shutdown_timeout=shutdown_timeout,
    )
    if stats_path:
        app.add_route(stats_path, _stats_endpoint, methods=["GET"], include_in_schema=False)
    if metrics_path:
        _check_metrics_available(metrics_path)
        app.add_route(metrics_path, _metrics_endpoint, methods=["GET"], include_in_schema=False)


# -- unhandled exceptions --------------------------------------------------------------------------------------
class AlertOnError:
    """Pure ASGI middleware: queue an alert for an exception escaping the app, then re-raise it unchanged.

    Starlette's ServerErrorMiddleware (outside every user middleware) then answers the app's normal 500 and
    logs the traceback, as without us. Nothing is computed unless an exception escapes.
    """

    def __init__(self, app: ASGIApp, *, options: _Options) -> None:
        self.app = app
        self.options = options

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        root_path = scope.get("root_path", "")  # routing rewrites it under a Mount; kept to find the template
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            self._alert(scope, root_path, exc)
            raise

    def _alert(self, scope: Scope, root_path: str, exc: Exception) -> None:
        try:
            route = _template(scope, root_path, self.options.app)
            method = str(scope.get("method") or "WEBSOCKET")
            alert = unhandled_exception_alert(
                exc, service=self.options.service, route=route, method=method, request_id=request_id(scope)
            )
            alerts_lib.send_slack_alert(alert, destination=self.options.destination)
        except Exception as error:  # the app's own error must come out unchanged, whatever happens here
            logger.error("alerts_lib: could not queue the unhandled-exception alert (%s)", type(error).__name__)


def unhandled_exception_alert(
    exc: BaseException, *, service: str, route: str, method: str, request_id: str | None
) -> Alert:
    """``❌ [svc] unhandled exception on POST /items/{item_id}: KeyError: 'x'``, raw values (escaped when
    rendered), one dedup key per service, method, route and exception type."""
    kind = type(exc).__name__
    headline, body = _describe(exc)
    return formatters.alert(
        f"unhandled exception on {method} {route}: {headline}",
        severity="error",
        source=service,
        fields={"route": route, "method": method, "request_id": request_id, "exception": kind, "where": _where(exc)},
        body=body,
        name="UnhandledException",
        labels={"service": service, "route": route, "method": method},
        dedup_key=f"unhandled:{service}:{method}:{route}:{kind}",
    )


def _describe(exc: BaseException) -> tuple[str, str | None]:
    """(``KeyError: 'x'`` on one line, the whole message when it says more than that line)."""
    try:
        message = str(exc).strip()
    except Exception:  # a broken __str__ must not lose the alert
        message = ""
    first = message.splitlines()[0] if message else ""
    headline = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return headline, message if "\n" in message or len(message) > 100 else None


def _where(exc: BaseException) -> str | None:
    """The innermost frame, ``api.py:42 in predict``: where to look, without a whole traceback (and without
    reading source files, as ``traceback.extract_tb`` would)."""
    tb = exc.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    return f"{code.co_filename.replace(chr(92), '/').rsplit('/', 1)[-1]}:{tb.tb_lineno} in {code.co_name}"


def request_id(request: Request | Scope) -> str:
    """The request's id, the same for the app's answer, its logs and the alert, whoever asks first.

    ``request.state.request_id`` when the app set one; else the ``X-Request-ID`` header when it is a plain
    token (``[A-Za-z0-9._-]{1,64}``, so a hostile header cannot inject text); else a new uuid4 hex. The
    answer is remembered on ``request.state``.
    """
    scope: Scope = request.scope if isinstance(request, Request) else request
    state = scope.setdefault("state", {})
    known = state.get("request_id")
    if isinstance(known, str) and known:
        return known
    given = ""
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id":
            given = value.decode("latin-1")
            break
    rid = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    state["request_id"] = rid
    return rid


def route_template(request: Request | Scope) -> str:
    """The template of the route that handled the request (``/items/{item_id}``), or ``<unmatched>``.

    Never the raw path. Mounted sub-applications are prefixed with their mount's template.
    """
    scope: Scope = request.scope if isinstance(request, Request) else request
    return _template(scope, scope.get("app_root_path", scope.get("root_path", "")), scope.get("app"))


def _template(scope: Scope, root_path: str, app: Any) -> str:
    known = scope.get(_ROUTE_KEY)
    if isinstance(known, str):
        return known
    path = getattr(scope.get("route"), "path", None)  # the matched route, recorded by Starlette >= 1.0
    found = path if isinstance(path, str) and "app_root_path" not in scope else None  # no Mount: it is whole
    routes = getattr(getattr(app, "router", None), "routes", None)
    if found is None and routes:
        found = _match(routes, {**scope, "root_path": root_path, "path_params": {}}, "")
    if found is None:
        found = path if isinstance(path, str) else UNMATCHED
    scope[_ROUTE_KEY] = found
    return found


def _match(routes: Sequence[BaseRoute], scope: Scope, prefix: str) -> str | None:
    """Starlette's own matching, replayed to recover the templates along the way (only after an error)."""
    for route in routes:
        match, child = route.matches(scope)
        if match is not Match.FULL:
            continue
        if isinstance(route, Mount):
            inner = _match(route.routes, {**scope, **child}, prefix + route.path)
            return inner or f"{prefix}{route.path}/{{path}}"
        if isinstance(route, Host):
            return _match(route.routes, {**scope, **child}, prefix) or prefix or UNMATCHED
        path = getattr(route, "path", None)
        return prefix + path if isinstance(path, str) else None
    return None


# -- lifespan --------------------------------------------------------------------------------------------------
Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


def _wrap_lifespan(
    original: Lifespan,
    options: _Options,
    *,
    startup_alert: StartupAlert,
    details: Details,
    version: str | None,
    shutdown_timeout: float | None,
) -> Lifespan:
    """The app's lifespan inside ours: its startup, then the startup alert; its shutdown, then the flush."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        started = False
        try:
            async with original(app) as state:
                started = True
                if callable(startup_alert):
                    _send(_custom_started_alert(app, startup_alert, options.service, details, version), options)
                elif startup_alert:
                    _send(_started_alert(app, options.service, details, version), options)
                yield state
        except Exception as exc:
            if not started:
                _send(_start_failed_alert(exc, options.service), options)
            raise
        finally:
            await _bounded_flush(shutdown_timeout)

    return lifespan


def _custom_started_alert(
    app: Any, build: Callable[[Any], Alert], service: str, details: Details, version: str | None
) -> Alert:
    try:
        return build(app)
    except Exception as exc:  # a bug in the builder must not cost the startup alert
        logger.error("alerts_lib: startup_alert failed (%s); the default startup alert is sent", type(exc).__name__)
        return _started_alert(app, service, details, version)


def _started_alert(app: Any, service: str, details: Details, version: str | None) -> Alert:
    fields: Mapping[str, object] | None
    try:
        fields = details(app) if callable(details) else details
    except Exception as exc:  # the details are decoration: the alert goes out without them
        logger.error("alerts_lib: startup_details failed (%s); startup alert sent without them", type(exc).__name__)
        fields = None
    return formatters.service_started(service, version=version, details=fields)


def _start_failed_alert(exc: BaseException, service: str) -> Alert:
    headline, body = _describe(exc)
    return formatters.alert(
        f"{service} failed to start: {headline}",
        severity="critical",
        source=service,
        fields={"exception": type(exc).__name__, "where": _where(exc)},
        body=body,
        name="ServiceStartFailed",
        labels={"service": service},
    )


def _send(alert: Alert, options: _Options) -> None:
    alerts_lib.send_slack_alert(alert, destination=options.destination)


async def _bounded_flush(timeout: float | None) -> None:
    """Deliver what is pending, off the event loop, for at most ``timeout`` s (``ALERTS_SHUTDOWN_TIMEOUT``)."""
    try:
        seconds = float(alerts_lib.get_settings().shutdown_timeout if timeout is None else timeout)
        done = await asyncio.wait_for(alerts_lib.aflush(seconds), seconds + 1.0)
    except Exception as exc:  # TimeoutError included: shutdown goes on regardless
        logger.warning("alerts_lib: shutdown flush did not finish (%s)", type(exc).__name__)
        return
    if not done:
        logger.warning("alerts_lib: some alerts were still pending after %.1f s at shutdown", seconds)


# -- optional routes -------------------------------------------------------------------------------------------
async def _stats_endpoint(request: Request) -> Response:
    return JSONResponse({"destinations": metrics.summary(full=True)})


async def _metrics_endpoint(request: Request) -> Response:
    try:
        body, content_type = metrics.exposition()
    except ImportError:
        return JSONResponse({"detail": metrics.INSTALL_HINT}, status_code=404)
    return Response(body, headers={"Content-Type": content_type})


def _check_metrics_available(path: str) -> None:
    try:
        metrics.register_metrics()
    except ImportError:
        logger.warning("alerts_lib: GET %s answers 404: %s", path, metrics.INSTALL_HINT)
