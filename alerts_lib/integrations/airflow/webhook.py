"""The webhook an Airflow deployment configured: ``SLACK_WEBHOOK_URL``, or an Airflow Connection.

Connections are read the way their providers read them: the Slack provider's ``slackwebhook`` type (ids
``slack_default`` / ``slack_webhook_default``; password = token path or full URL; older setups keep the token
in the extra's ``webhook_token``), and the HTTP type (``slack_conn``: host = base URL, password = token path).
Airflow is imported lazily, only in a process that already runs it. The URL is registered with Airflow's
secret masker and never logged.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..._client import get_settings
from ..._redact import secret_parts
from ..._text import to_text
from .context import read

logger = logging.getLogger("alerts_lib.airflow")

DEFAULT_CONN_ID = "slack_conn"  # an HTTP Connection, read when SLACK_WEBHOOK_URL is unset
# The Slack provider's defaults (SlackWebhookHook.default_conn_name, and the id many setups use), read next.
SLACK_PROVIDER_CONN_IDS = ("slack_default", "slack_webhook_default")
DEFAULT_CONN_IDS = (DEFAULT_CONN_ID, *SLACK_PROVIDER_CONN_IDS)
CONN_ID_ENV = "ALERTS_AIRFLOW_CONN_ID"  # another default Connection id, without a factory
SLACK_SERVICES_URL = "https://hooks.slack.com/services"
WEBHOOK_CONN_TYPES = {"", "http", "https", "slackwebhook"}  # "slack" is the Web API (a bot token), not a webhook
DEFAULT_TTL = 300.0  # seconds a looked-up default Connection is reused (long-lived scheduler, API server)

_masked: set[str] = set()
_lock = threading.Lock()
_default_cache: tuple[float, str | None] | None = None


def connection_webhook(connection: Any) -> str | None:
    """The webhook URL an Airflow Connection describes, as the Slack and HTTP providers read it.

    ``password`` (or the extra's legacy ``webhook_token``) is the full URL, or the token path (``T…/B…/…``)
    appended to ``host``: a full base URL such as ``https://hooks.slack.com/services``, or a host name with
    ``schema`` as the scheme (``slackwebhook``: default ``https://hooks.slack.com/services``; ``http``: with
    ``port``, and a ``schema`` other than http/https is the path, as a URI ``http://:token@host/services`` gives).
    """
    conn_type = to_text(read(connection, "conn_type") or "").strip().lower()
    if conn_type not in WEBHOOK_CONN_TYPES:
        return None
    token = to_text(read(connection, "password") or "").strip() or _extra_token(connection)
    host = to_text(read(connection, "host") or "").strip()
    schema = to_text(read(connection, "schema") or "").strip()
    if "://" in token:
        return token
    if conn_type == "slackwebhook":
        if not token:
            return None
        base = host if "://" in host else f"{schema or 'https'}://{host or SLACK_SERVICES_URL.split('://', 1)[1]}"
        return f"{base.rstrip('/')}/{token.lstrip('/')}".rstrip("/")
    port = read(connection, "port")
    if host.lower().startswith(("http://", "https://")):
        base = host
    elif host:
        scheme = schema.lower() if schema.lower() in ("http", "https") else "https"
        base = f"{scheme}://{host}" + (f":{int(port)}" if isinstance(port, int) and port > 0 else "")
        if schema and schema.lower() not in ("http", "https"):
            base += "/" + schema.strip("/")
    elif token:
        base = SLACK_SERVICES_URL
    else:
        return None
    return f"{base.rstrip('/')}/{token.lstrip('/')}" if token else base


def _extra_token(connection: Any) -> str:
    """The extra's ``webhook_token`` (the Slack provider before 6.0 and many HTTP-connection setups)."""
    extra = read(connection, "extra_dejson")
    if not isinstance(extra, Mapping):
        raw = read(connection, "extra")
        try:
            extra = json.loads(raw) if isinstance(raw, str) and raw.strip() else raw
        except ValueError:
            extra = None
    if not isinstance(extra, Mapping):
        return ""
    value = extra.get("webhook_token") or extra.get("extra__slackwebhook__webhook_token")
    return to_text(value).strip() if value else ""


def slack_webhook(conn_id: str | None = None) -> str | None:
    """The webhook Airflow code should post to: pass it as ``send_slack_alert(..., webhook_url=...)``.

    ``conn_id`` given: that Connection's URL (falling back to ``SLACK_WEBHOOK_URL`` if it is unusable).
    Otherwise None, meaning ``SLACK_WEBHOOK_URL``, unless that is unset and a Connection exists: the id in
    ``ALERTS_AIRFLOW_CONN_ID``, else the first of ``slack_conn``, ``slack_default``, ``slack_webhook_default``.
    The URL is registered with Airflow's secret masker. Never raises.
    """
    try:
        url = None
        if conn_id:
            url = _from_connection(conn_id)
            if url is None:
                logger.warning(
                    "alerts_lib: Airflow Connection %r has no usable webhook; using SLACK_WEBHOOK_URL", conn_id
                )
        elif get_settings().webhook is None and "airflow" in sys.modules:
            url = _default_connection_webhook()
        mask_in_airflow(url or get_settings().webhook)
        return url
    except Exception as exc:
        logger.error("alerts_lib: could not resolve the Slack webhook (%s)", type(exc).__name__)
        return None


def _default_connection_webhook() -> str | None:
    """The default Connection's webhook, looked up at most once per :data:`DEFAULT_TTL` per process."""
    global _default_cache
    with _lock:
        cached = _default_cache
    if cached is not None and time.monotonic() - cached[0] < DEFAULT_TTL:
        return cached[1]
    named = os.environ.get(CONN_ID_ENV, "").strip()
    url = None
    for conn_id in (named,) if named else DEFAULT_CONN_IDS:
        url = _from_connection(conn_id, missing_ok=not named)
        if url is not None:
            break
    with _lock:
        _default_cache = (time.monotonic(), url)
    return url


def forget_default() -> None:
    """Drop the cached default Connection (tests; a process that changed its Connections)."""
    global _default_cache
    with _lock:
        _default_cache = None


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


def mask_in_airflow(url: str | None) -> None:
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
