"""Keeping destination URLs secret: masking for display, and scrubbing third-party log records.

The path of a Slack webhook URL *is* the credential; for a Teams Workflows URL it is the ``sig=`` query
parameter; any URL may carry a basic-auth password. We never log them ourselves, but httpx logs every request
URL at INFO and httpcore its traces at DEBUG, so their records are scrubbed of every secret we were given.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import SplitResult, unquote, urlsplit

# Loggers that may render a request URL. Filters attached to a logger only see records logged on that exact
# logger (not its children), hence the full list.
THIRD_PARTY_LOGGERS = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "hpack",
)


# Query parameters that are credentials: Teams Workflows signs its trigger URLs with ``sig``.
SECRET_QUERY_KEYS = frozenset({"sig"})
MASK = "****"


def mask_url(url: str | None) -> str:
    """``https://hooks.slack.com/services/T…/B…/****``: enough to tell webhooks apart, nothing to post with.

    A URL signed by a query parameter (Teams) keeps its path's shape and shows ``sig=****`` instead."""
    if not url:
        return "(none)"
    try:
        parts = urlsplit(url)
        host = _host(parts)
        segments = [s for s in parts.path.split("/") if s]
    except ValueError:
        return "(invalid URL)"
    if query_secrets(parts.query):
        return _mask_signed(parts, host, segments)
    masked = []
    for i, segment in enumerate(segments):
        if i == len(segments) - 1:
            masked.append(MASK)
        elif i == 0 and segment.isalpha() and segment.islower():
            masked.append(segment)  # a route word such as "services"
        else:
            masked.append(segment[:1] + "…")
    return f"{parts.scheme or '?'}://{host}/" + "/".join(masked)


def _host(parts: SplitResult) -> str:
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host


def _mask_signed(parts: SplitResult, host: str, segments: list[str]) -> str:
    """``https://host/powerautomate/automations/direct/workflows/0a1b2c…/triggers/…?api-version=1&sp=…&sig=****``."""
    path = "/".join(s if len(s) <= 16 else s[:6] + "…" for s in segments)
    query = []
    for pair in parts.query.split("&"):
        key, _, value = pair.partition("=")
        if unquote(key).lower() in SECRET_QUERY_KEYS:
            value = MASK
        elif len(value) > 8:
            value = "…"
        query.append(f"{key}={value}" if value else key)
    return f"{parts.scheme or '?'}://{host}/{path}?{'&'.join(query)}"


def mask_credentials(url: str) -> str:
    """``url`` as is, but with a basic-auth password shown as ``****`` (for URLs that are not secrets)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = f"{parts.username or ''}:{MASK}@{_host(parts)}"
    except ValueError:
        return "(invalid URL)"
    return parts._replace(netloc=netloc).geturl()


def query_secrets(query: str) -> list[str]:
    """The values of credential query parameters (``sig``), as written in the URL and decoded."""
    found: list[str] = []
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if unquote(key).lower() in SECRET_QUERY_KEYS and value:
            found += [value] if unquote(value) == value else [value, unquote(value)]
    return found


def secret_parts(url: str, *, path_is_secret: bool = True) -> dict[str, str]:
    """Each string of ``url`` that lets someone post (the URL, its path, its token, its ``sig``, a password)
    and how to show it. ``path_is_secret=False`` for URLs whose only secret is a password (Alertmanager)."""
    masked = mask_url(url) if path_is_secret else mask_credentials(url)
    try:
        split = urlsplit(url)
        path, query, password = split.path, split.query, split.password
    except ValueError:
        path, query, password = "", "", None
    parts = {url: masked}
    signed = query_secrets(query)
    for value in signed:
        parts[value] = MASK
    if path_is_secret and not signed and len(path) > 8:  # a real webhook path, not "/" or "/hook"
        parts[path] = "/" + masked.split("/", 3)[-1]
        parts[path.rsplit("/", 1)[-1]] = MASK
    if password:
        # With its delimiters, so even a short password is only replaced where it is a password.
        parts[f":{password}@"] = f":{MASK}@"
        if unquote(password) != password:
            parts[f":{unquote(password)}@"] = f":{MASK}@"
    return {secret: shown for secret, shown in parts.items() if secret}


class _Secrets:
    """The secret strings seen so far (full URL and its path), longest first so the full URL wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: tuple[tuple[str, str], ...] = ()

    def add(self, url: str, path_is_secret: bool = True) -> None:
        new = secret_parts(url, path_is_secret=path_is_secret)
        with self._lock:
            merged = dict(self.items) | new
            self.items = tuple(sorted(merged.items(), key=lambda kv: -len(kv[0])))

    def scrub(self, text: str) -> str:
        for secret, replacement in self.items:
            if secret in text:
                text = text.replace(secret, replacement)
        return text


SECRETS = _Secrets()


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with every known secret masked; never drops the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if SECRETS.items:
            try:
                message = record.getMessage()
            except Exception:
                return True
            scrubbed = SECRETS.scrub(message)
            if scrubbed != message:
                record.msg, record.args = scrubbed, None
        return True


_FILTER = RedactingFilter()


def protect(url: str, *, path_is_secret: bool = True) -> None:
    """Register ``url``'s secret parts (see :func:`secret_parts`) and make sure HTTP libraries' loggers scrub them."""
    SECRETS.add(url, path_is_secret)
    for name in THIRD_PARTY_LOGGERS:
        log = logging.getLogger(name)
        if _FILTER not in log.filters:
            log.addFilter(_FILTER)


def scrub(text: str) -> str:
    """``text`` with every known secret masked (for exception messages we log)."""
    return SECRETS.scrub(text)
