"""The alert object formatters return: data only.

An :class:`Alert` keeps raw, untrusted values. Each destination (``destinations/``) renders and escapes it its
own way, so an alert built by hand is as safe as one built by a formatter.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Hashable, Mapping, Sequence
from enum import Enum
from typing import Any

from ._text import clip, to_text

logger = logging.getLogger("alerts_lib")

# A title is one line of a notification, whatever the destination.
MAX_TITLE = 150


class Severity(str, Enum):
    """How bad it is; each severity has the emoji that starts the message."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    SUCCESS = "success"

    @property
    def emoji(self) -> str:
        return _EMOJI[self]

    @classmethod
    def parse(cls, value: object) -> Severity:
        """Lenient: an unknown severity is INFO rather than an exception on the alerting path, and it is
        logged once per distinct value, so a typo (``"critcal"``) does not silently downgrade every alert."""
        if isinstance(value, Severity):
            return value
        text = to_text(value).strip().lower()
        try:
            return cls(text)
        except ValueError:
            _warn_unknown_severity(text)
            return cls.INFO


_unknown_severities: set[str] = set()
_unknown_lock = threading.Lock()
_MAX_REMEMBERED = 100  # distinct unknown values warned about; past it, one last line and silence


def _warn_unknown_severity(text: str) -> None:
    with _unknown_lock:
        if text in _unknown_severities or len(_unknown_severities) > _MAX_REMEMBERED:
            return
        _unknown_severities.add(text)
        full = len(_unknown_severities) > _MAX_REMEMBERED
    known = ", ".join(s.value for s in Severity)
    # repr() of the clipped value: quotes, and escapes for newlines/control characters (one log line, always).
    logger.warning("alerts_lib: unknown severity %r, sent as info (known: %s)", clip(text, 40), known)
    if full:
        logger.warning("alerts_lib: more unknown severities are not logged")


_EMOJI = {
    Severity.CRITICAL: "🔥",
    Severity.ERROR: "❌",
    Severity.WARNING: "⚠️",
    Severity.INFO: "ℹ️",
    Severity.SUCCESS: "✅",
}


@dataclasses.dataclass(frozen=True)
class Alert:
    """One alert: what happened, where, how bad. Immutable data; each destination renders it.

    All values are untrusted and escaped at render time, except ``mention``, which is meant to ping
    (``<!here>``, ``<@U123>``, ``<!subteam^S1>``) and must come from configuration, never from an error.
    """

    title: str
    source: str | None = None
    severity: Severity = Severity.INFO
    env: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    link: tuple[str, str] | None = None  # (url, label)
    emoji: str | None = None
    mention: str | None = None
    dedup_key: str | None = None
    # False for state changes (hot-swapped, degraded, recovered): each is news, and merging them would
    # leave Slack showing a stale state until the storm window ends. Errors keep storm control.
    dedupe: bool = True
    # What routing and Alertmanager need: a stable name per kind of alert (``ServiceHealth``,
    # ``AirflowTaskFailed``), identity labels (model, alias, dag_id …) and, for alerts that open and close,
    # a state: "firing" then "resolved" (degraded → recovered is one ServiceHealth alert). None: an event.
    name: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    state: str | None = None

    def with_env(self, env: str | None) -> Alert:
        """The same alert labelled with ``env`` unless it already has one."""
        return self if self.env or not env else dataclasses.replace(self, env=env)

    def with_mention(self, mention: str | None) -> Alert:
        return dataclasses.replace(self, mention=mention)

    @property
    def text(self) -> str:
        """The one-line headline as plain text, e.g. ``🔁 [FastAPI] my_model@A hot-swapped to v9 · prod``.

        For logs and tests; each destination renders (and escapes) the alert its own way.
        """
        line = f"{self.emoji or self.severity.emoji} "
        if self.source:
            line += f"[{clip(self.source, 40)}] "
        line += clip(" ".join(self.title.split()), MAX_TITLE)
        if self.env:
            line += f" · {clip(self.env, 40)}"
        return f"{self.mention} {line}" if self.mention else line

    @classmethod
    def fast(cls, **values: Any) -> Alert:
        """The same as ``Alert(**values)`` for callers on a hot path (a failing request): it skips the frozen
        dataclass's field-by-field ``__init__``, which costs more than everything else a formatter does."""
        alert = object.__new__(cls)
        attrs = alert.__dict__
        attrs.update(_DEFAULTS)
        attrs.update(values)
        return alert

    @property
    def storm_key(self) -> Hashable:
        """What makes two alerts "the same" for storm control, computed without rendering anything."""
        if self.dedup_key:
            return self.dedup_key
        return (self.title, self.source, self.severity, self.name, self.labels, self.env)


def safe_url(url: object) -> str | None:
    """An http(s) URL usable inside ``<url|label>``, or None: nothing that could close the link or forge one."""
    text = to_text(url).strip()
    if not text.lower().startswith(("http://", "https://")) or any(c in text for c in "<>| \n\r\t"):
        return None
    return text.replace("&", "&amp;")


def fields_from(
    values: Mapping[str, object] | Sequence[tuple[str, object]] | None,
) -> tuple[tuple[str, str], ...]:
    """Key/value pairs as an Alert's ``fields``, dropping empty values; never raises on odd input."""
    if not values:
        return ()
    try:
        items = list(values.items()) if isinstance(values, Mapping) else list(values)
    except Exception:
        return (("fields", to_text(values)),)
    out: list[tuple[str, str]] = []
    for item in items:
        try:
            key, value = item
        except (TypeError, ValueError):
            key, value = "value", item
        if value is None or value == "":
            continue
        out.append((to_text(key), to_text(value)))
    return tuple(out)


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Alert) if f.default is not dataclasses.MISSING}
