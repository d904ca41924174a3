"""What every destination kind reads the same way: headers, error bodies and a URL's problems. Pure functions;
each kind's module adds only its own rules and words (the verdict itself is :func:`.._policy.classify_status`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import SplitResult, urlsplit


def header(headers: Mapping[str, str], name: str) -> str | None:
    """``headers[name]`` whatever the case of its key (httpx's headers are case-insensitive, a dict is not)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def error_text(body: str, limit: int = 300) -> str:
    """A JSON error's message (``{"error": {"code", "message"}}``, ``{"message"}``) or the body, on one line."""
    text = body.strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, str):  # go-openapi answers a JSON string
        text = data
    elif isinstance(data, dict):
        inner = data.get("error")
        if isinstance(inner, dict):
            data = inner
        message = data.get("message") or data.get("error")
        if isinstance(message, str):
            text = message
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def split_http_url(url: object, subject: str) -> tuple[SplitResult | None, str | None]:
    """``url`` split, or why it is no http(s) URL with a host (in words naming ``subject``, never the URL)."""
    if not isinstance(url, str) or not url.strip():
        return None, f"{subject} is empty"
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018  (raises ValueError for a non-numeric port)
    except ValueError:
        return None, f"{subject} is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return None, f"{subject} must start with http:// or https://"
    if not parts.hostname:
        return None, f"{subject} has no host name"
    return parts, None
