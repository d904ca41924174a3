"""Keeping the webhook URL secret: masking for display, and scrubbing third-party log records.

The path of a Slack webhook URL *is* the credential. We never log it ourselves, but httpx logs every request
URL at INFO and httpcore its traces at DEBUG, so their records are scrubbed of every URL we were given.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlsplit

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


def mask_url(url: str | None) -> str:
    """``https://hooks.slack.com/services/T…/B…/****``: enough to tell webhooks apart, nothing to post with."""
    if not url:
        return "(none)"
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        if parts.port:
            host = f"{host}:{parts.port}"
        segments = [s for s in parts.path.split("/") if s]
    except ValueError:
        return "(invalid URL)"
    masked = []
    for i, segment in enumerate(segments):
        if i == len(segments) - 1:
            masked.append("****")
        elif i == 0 and segment.isalpha() and segment.islower():
            masked.append(segment)  # a route word such as "services"
        else:
            masked.append(segment[:1] + "…")
    return f"{parts.scheme or '?'}://{host}/" + "/".join(masked)


def secret_parts(url: str) -> dict[str, str]:
    """Each string of ``url`` that lets someone post (the URL, its path, its token) and how to show it."""
    masked = mask_url(url)
    try:
        path = urlsplit(url).path
    except ValueError:
        path = ""
    parts = {url: masked}
    if len(path) > 8:  # a real webhook path, not "/" or "/hook"
        parts[path] = "/" + masked.split("/", 3)[-1]
        parts[path.rsplit("/", 1)[-1]] = "****"
    return {secret: shown for secret, shown in parts.items() if secret}


class _Secrets:
    """The secret strings seen so far (full URL and its path), longest first so the full URL wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: tuple[tuple[str, str], ...] = ()

    def add(self, url: str) -> None:
        new = secret_parts(url)
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


def protect(url: str) -> None:
    """Register ``url`` as a secret and make sure HTTP libraries' loggers scrub it."""
    SECRETS.add(url)
    for name in THIRD_PARTY_LOGGERS:
        log = logging.getLogger(name)
        if _FILTER not in log.filters:
            log.addFilter(_FILTER)


def scrub(text: str) -> str:
    """``text`` with every known secret masked (for exception messages we log)."""
    return SECRETS.scrub(text)
