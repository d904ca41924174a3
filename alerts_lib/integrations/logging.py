"""``alerts_lib.AlertHandler``: log records at ERROR (or a level you choose) become alerts.

Modelled on sentry-python's logging integration: records are grouped by their message *template*
(``record.msg``, before ``%`` formatting), so ``log.error("charge %s failed", id)`` a thousand times is one
alert plus a storm summary, not a thousand. It never alerts on alerts_lib's own records, those of its HTTP
stack (httpx logs every request at INFO) nor anything logged on alerts_lib's delivery threads (their
asyncio loop logs too): that would loop. Stdlib only; ``emit`` only builds an
:class:`~alerts_lib.Alert` and queues it, so logging never waits for Slack.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Iterable

from .._alert import Alert, Severity
from .._client import send_slack_alert
from .._text import to_text
from ..formatters import alert

__all__ = ["IGNORED_LOGGERS", "IGNORED_THREAD_PREFIX", "AlertHandler"]

# Loggers (and their children) never turned into alerts: ours, and the HTTP libraries delivery runs on.
IGNORED_LOGGERS = ("alerts_lib", "httpx", "httpcore", "h11", "h2", "hpack")
# Whatever is logged on a thread named so (the delivery worker) is about delivering: never an alert.
IGNORED_THREAD_PREFIX = "alerts_lib"

MAX_MESSAGE = 1000  # raw characters kept of the message; rendering cuts the title further
MAX_TRACEBACK = 2000  # the traceback's tail: the frames nearest the error say the most
TRACEBACK_FRAMES = 8

_SEVERITIES = (
    (logging.CRITICAL, Severity.CRITICAL),
    (logging.ERROR, Severity.ERROR),
    (logging.WARNING, Severity.WARNING),
)


class AlertHandler(logging.Handler):
    """A ``logging.Handler`` that sends each record it handles as an alert (through ``send_slack_alert``).

    ``level``: the lowest level alerted (ERROR). ``source``: the ``[label]`` of the alert (default: the
    logger's name). ``destination`` / ``webhook_url``: where to, as in ``send_slack_alert``. ``ignore``:
    more logger names to skip, besides :data:`IGNORED_LOGGERS`. The handler's formatter is not used: the
    alert has its own layout (message as title; logger, level and place as fields; traceback as body).
    """

    def __init__(
        self,
        level: int | str = logging.ERROR,
        *,
        source: str | None = None,
        destination: str | None = None,
        webhook_url: str | None = None,
        ignore: Iterable[str] = (),
    ) -> None:
        super().__init__(level)
        self.source = source
        self.destination = destination
        self.webhook_url = webhook_url
        self.ignored = (*IGNORED_LOGGERS, *ignore)
        self._inside = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if (
            _ignored(record.name, self.ignored)
            or (record.threadName or "").startswith(IGNORED_THREAD_PREFIX)
            or getattr(self._inside, "active", False)
        ):
            return  # ours, the HTTP stack's, the worker's, or a record logged while we were building an alert
        self._inside.active = True
        try:
            send_slack_alert(self.alert_for(record), webhook_url=self.webhook_url, destination=self.destination)
        except Exception:
            self.handleError(record)  # logging's own policy: a line on stderr, never an exception
        finally:
            self._inside.active = False

    def alert_for(self, record: logging.LogRecord) -> Alert:
        """The alert for ``record``: raw text, escaped by the destination that renders it."""
        message = _message(record)
        title, _, rest = message.partition("\n")
        body = "\n".join(part for part in (rest.strip(), _traceback(record)) if part)
        template = to_text(record.msg)[:MAX_MESSAGE]
        return alert(
            title.strip() or record.levelname,
            severity=_severity(record.levelno),
            source=self.source or record.name,
            fields={
                "logger": record.name,
                "level": record.levelname,
                "where": f"{record.filename}:{record.lineno} in {record.funcName}",
            },
            body=body or None,
            dedup_key=f"log:{record.name}:{template}",
            name="LogRecord",
            labels={"logger": record.name, "level": record.levelname},
        )


def _ignored(name: str, ignored: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in ignored)


def _severity(levelno: int) -> Severity:
    return next((severity for level, severity in _SEVERITIES if levelno >= level), Severity.INFO)


def _message(record: logging.LogRecord) -> str:
    """``record.getMessage()``; when ``msg % args`` fails, the template and the arguments' types."""
    try:
        text = record.getMessage()
    except Exception:
        types = ", ".join(type(a).__name__ for a in (record.args or ()))
        text = f"{to_text(record.msg)} (arguments not formatted: {types})"
    text = to_text(text)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _traceback(record: logging.LogRecord) -> str:
    """The exception and its last frames, cut from the front so the error line always shows."""
    info = record.exc_info
    if not info or info[1] is None:
        return ""
    try:
        lines = traceback.format_exception(info[0], info[1], info[2], limit=-TRACEBACK_FRAMES)
        text = "".join(lines).strip()
    except Exception:
        text = f"{type(info[1]).__name__}: {to_text(info[1])}"
    return text if len(text) <= MAX_TRACEBACK else "…" + text[-(MAX_TRACEBACK - 1) :]
