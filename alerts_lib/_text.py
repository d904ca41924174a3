"""Turning untrusted values into safe Slack mrkdwn.

Slack only treats ``&``, ``<`` and ``>`` as control characters; escaping them is what stops an exception
message from pinging ``<!channel>`` or disguising a link. Truncation happens *before* escaping so an
entity such as ``&amp;`` is never cut in half.
"""

from __future__ import annotations

TRUNCATED = "…(truncated)"

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def to_text(value: object) -> str:
    """Any value as valid UTF-8 text: bytes are decoded, lone surrogates replaced, ``repr`` never raises."""
    if isinstance(value, str):
        if value.isascii():
            return value  # the common case, on the caller's thread: keep it cheap
        text = value
    elif isinstance(value, BaseException):  # before bytes: a failing request's error, on the caller's thread
        text = _safe_str(value) or type(value).__name__
    elif isinstance(value, (bytes, bytearray, memoryview)):
        text = bytes(value).decode("utf-8", "replace")
    else:
        text = _safe_str(value)
    if text.isascii():
        return text
    # Lone surrogates cannot be encoded as UTF-8 and would fail at JSON-encoding time, on the worker.
    return text.encode("utf-8", "replace").decode("utf-8")


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:  # a broken __str__ must not break alerting
        return f"<unprintable {type(value).__name__}>"


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, visibly marked when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(TRUNCATED))] + TRUNCATED


def escape(value: object, limit: int | None = None) -> str:
    """Escaped mrkdwn for an untrusted value, at most ``limit`` characters once escaped."""
    raw = to_text(value)
    if limit is None:
        return raw.translate(_ESCAPES)
    # Escaping grows text by at most 5x (``<`` -> ``&lt;`` is 4x, ``&`` -> ``&amp;`` 5x); cut the raw text until
    # the escaped form fits, so the marker is always visible and no entity is split.
    budget = limit
    while True:
        out = clip(raw, budget).translate(_ESCAPES)
        if len(out) <= limit:
            return out
        budget -= max(1, len(out) - limit)


def code_block(value: object, limit: int) -> str:
    """An untrusted multi-line value as a mrkdwn code block of at most ``limit`` characters."""
    fence = "```"
    body = escape(value, max(1, limit - 2 * len(fence) - 2)).replace(fence, "ˋˋˋ")
    return f"{fence}\n{body}\n{fence}" if body else ""


def duration_text(seconds: float) -> str:
    """``4 min 12 s``, ``2 h 5 min``, ``12 s``, ``800 ms``: how long something lasted, as people say it."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))} ms"
    total = round(seconds)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"
