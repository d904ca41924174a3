"""Prometheus Alertmanager (API v2): alerts as label sets, so that the same alert from every process and
replica merges into one notification, silences apply and Alertmanager's routes decide who hears of it.

``urls`` are **base URLs** (``http://alertmanager-0:9093``), one per replica: replicas share silences and
the notification log but not alerts, so each one gets every post (the worker gives each URL its own lane and
posts to :meth:`AlertmanagerDestination.post_url`). The label set is the alert's identity: ``alertname``,
``severity``, ``source``, ``env`` and the alert's identity labels, names sanitised to Prometheus' rules.

- Events (``state=None``) end by themselves: ``endsAt`` = now + ``resolve_period``.
- Stateful alerts fire with ``endsAt`` a few ``resend_interval``s ahead and are re-sent while firing
  (:meth:`~AlertmanagerDestination.resends`): Alertmanager resolves an alert nobody re-sends. The resolve
  carries exactly the firing label set (its severity, not "success") with ``endsAt`` = now.

Alertmanager does not escape annotations and its usual receiver is Slack, so ours arrive as Slack mrkdwn,
already escaped (see ``deploy/alertmanager/slack.tmpl``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import ClassVar

from .._alert import Alert, Severity, safe_url
from .._policy import Outcome, Verdict, classify_status, parse_retry_after
from .._redact import mask_credentials, protect
from .._text import clip, code_block, escape, to_text
from ._http import error_text, header, split_http_url
from .base import Batch, Render

API_PATH = "/api/v2/alerts"
HOLD_INTERVALS = 4  # a firing alert's endsAt is this many resend intervals ahead, as Prometheus does
MAX_BATCH_ALERTS = 100
MAX_BATCH_BYTES = 512 * 1024
MAX_FIRING = 1000  # stateful alerts remembered for re-sends and resolves
MAX_LABELS = 30
MAX_LABEL_VALUE = 200
MAX_SUMMARY = 300
MAX_DESCRIPTION = 3000
MAX_FIELDS = 20
CORE_LABELS = ("alertname", "severity", "source", "env")
_NOT_LABEL = re.compile(r"[^a-zA-Z0-9_]")
_URI = re.compile(r"https?://[^\s<>\"{}|\\^`]+", re.IGNORECASE)
_BAD_ESCAPE = re.compile(r"%(?![0-9a-fA-F]{2})")

_STATUS_WORDS = {
    400: "Alertmanager refused alerts of the post (bad labels or times); it kept the valid ones",
    401: "Alertmanager, or a proxy in front of it, wants credentials (user:password@ in the URL)",
    403: "Alertmanager, or a proxy in front of it, refused the credentials",
    404: "no Alertmanager API v2 at this URL: give the base URL, e.g. http://alertmanager:9093",
    422: "Alertmanager refused the post's format (e.g. a generatorURL that is not a URI)",
}


def alertmanager_url_problem(url: object) -> str | None:
    """Why ``url`` cannot be an Alertmanager base URL, in words; None when usable."""
    parts, problem = split_http_url(url, "the Alertmanager URL")
    if parts is None:
        return problem
    if parts.query or parts.fragment:
        return "the Alertmanager URL is a base URL (http://host:9093): it has no ?query or #fragment"
    if "/api/v1" in parts.path:
        return "the Alertmanager URL points at API v1, removed in Alertmanager 0.27: give the base URL"
    return None


def label_name(raw: object) -> str | None:
    """``raw`` as a valid label name (``[a-zA-Z_][a-zA-Z0-9_]*``): other characters become ``_``."""
    name = _NOT_LABEL.sub("_", to_text(raw).strip())[:100]
    if not name.strip("_"):
        return None
    return f"_{name}" if name[0].isdigit() else name


def generator_uri(url: object) -> str | None:
    """``url`` if Alertmanager will take it as ``generatorURL`` (an absolute http(s) URI), else None."""
    text = to_text(url).strip() if url else ""
    return text if _URI.fullmatch(text) and not _BAD_ESCAPE.search(text) else None


def rfc3339(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _am(labels: Mapping[str, str], notes: Mapping[str, str], starts: float, ends: float, gen: str | None) -> Render:
    alert: Render = {"labels": dict(labels), "annotations": dict(notes), "startsAt": rfc3339(starts)}
    alert["endsAt"] = rfc3339(ends)
    if gen:
        alert["generatorURL"] = gen
    return alert


@dataclass
class _Firing:
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    generator: str | None
    sent_at: float


class AlertmanagerDestination:
    """Every replica of one Alertmanager cluster; base URLs are not secret (a basic-auth password is)."""

    kind: ClassVar[str] = "alertmanager"
    storm_summaries: ClassVar[bool] = False  # Alertmanager merges repeats by label set itself

    def __init__(
        self,
        name: str,
        urls: Sequence[str],
        *,
        resolve_period: float = 300,
        resend_interval: float = 60,
        generator_url: str | None = None,
        min_interval: float = 0.0,
    ) -> None:
        """``urls``: base URLs, one per replica (a URL already ending in ``/api/v2/alerts`` is kept as is);
        ``generator_url``: shown as each alert's source link when the alert has no link of its own."""
        self.name = name
        self.urls = tuple(u.strip().rstrip("/") for u in urls)
        self.resolve_period = resolve_period
        self.resend_interval = resend_interval
        self.generator_url = generator_uri(generator_url)
        self.min_interval = min_interval
        self._firing: dict[tuple[str, ...], _Firing] = {}
        self._lock = threading.Lock()
        for url in self.urls:
            if mask_credentials(url) != url:
                protect(url, path_is_secret=False)  # the password, wherever httpx logs the URL

    def __repr__(self) -> str:
        return f"AlertmanagerDestination(name={self.name!r}, urls={[self.mask(u) for u in self.urls]!r})"

    # -- rendering -------------------------------------------------------------------------------------
    def render(self, alert: Alert, *, now: float) -> Render:
        labels = self._labels(alert)
        notes = self._annotations(alert)
        gen = generator_uri(alert.link[0]) if alert.link else None
        gen = gen or self.generator_url
        key = (labels["alertname"], *(f"{k}={v}" for k, v in sorted(labels.items()) if k not in CORE_LABELS))
        if alert.state == "firing":
            return {"alerts": self._fire(key, labels, notes, gen, now)}
        if alert.state == "resolved":
            return {"alerts": self._resolve(key, labels, notes, gen, now)}
        return {"alerts": [_am(labels, notes, now, now + self.resolve_period, gen)]}

    def _labels(self, alert: Alert) -> dict[str, str]:
        labels = {"alertname": clip(to_text(alert.name or "Alert"), MAX_LABEL_VALUE), "severity": alert.severity.value}
        for key, value in (("source", alert.source), ("env", alert.env)):
            if value:
                labels[key] = clip(to_text(value), MAX_LABEL_VALUE)
        for raw, value in alert.labels[:MAX_LABELS]:
            name = label_name(raw)
            text = clip(to_text(value), MAX_LABEL_VALUE)
            if name and text:
                # An identity label never overrides ours; Prometheus' convention for the clash.
                labels["exported_" + name if name in CORE_LABELS else name] = text
        return labels

    @staticmethod
    def _annotations(alert: Alert) -> dict[str, str]:
        """summary, description and the link, as escaped Slack mrkdwn (Alertmanager passes them on as they are)."""
        summary = f"{alert.emoji or alert.severity.emoji} "
        if alert.source:
            summary += f"[{escape(alert.source, 40)}] "
        summary += escape(alert.title, 200)
        if alert.env:
            summary += f" · {escape(alert.env, 40)}"
        lines = [f"*{escape(k, 100)}:* {escape(v, 500)}" for k, v in alert.fields[:MAX_FIELDS]]
        if len(alert.fields) > MAX_FIELDS:
            lines.append(f"… {len(alert.fields) - MAX_FIELDS} more fields")
        head = "\n".join(lines)
        if alert.body:
            head += "\n" + code_block(alert.body, max(100, MAX_DESCRIPTION - len(head) - 1))
        notes = {"summary": clip(summary, MAX_SUMMARY), "description": clip(head.strip("\n"), MAX_DESCRIPTION)}
        url = safe_url(alert.link[0]) if alert.link else None
        if alert.link and url:
            notes["link"] = f"<{url}|{escape(alert.link[1], 80) or 'link'}>"
            notes["link_url"] = url.replace("&amp;", "&")
        return {k: v for k, v in notes.items() if v}

    def _fire(
        self, key: tuple[str, ...], labels: dict[str, str], notes: dict[str, str], gen: str | None, now: float
    ) -> list[Render]:
        out = []
        with self._lock:
            old = self._firing.pop(key, None)
            if old is not None and old.labels != labels:
                # Its severity changed: that is another alert for Alertmanager, so the old one ends now.
                out.append(_am(old.labels, notes, old.starts_at, now, old.generator))
                old = None
            starts = old.starts_at if old else now
            self._firing[key] = _Firing(labels, notes, starts, gen, now)
            while len(self._firing) > MAX_FIRING:
                del self._firing[next(iter(self._firing))]
        out.append(_am(labels, notes, starts, now + HOLD_INTERVALS * self.resend_interval, gen))
        return out

    def _resolve(
        self, key: tuple[str, ...], labels: dict[str, str], notes: dict[str, str], gen: str | None, now: float
    ) -> list[Render]:
        with self._lock:
            old = self._firing.pop(key, None)
        if old is not None:
            return [_am(old.labels, notes, old.starts_at, now, old.generator or gen)]
        # Not fired from this process (it restarted, or another process fired it): resolve every severity it
        # could have fired with. Alertmanager notifies nothing for a label set it never saw firing.
        severities = [s.value for s in Severity if s is not Severity.SUCCESS]
        return [_am({**labels, "severity": s}, notes, now, now, gen) for s in severities]

    def render_text(self, text: str, *, now: float) -> Render:
        """A plain message: its own alert (identified by its text's hash), ending like an event."""
        raw = to_text(text).strip()
        digest = hashlib.sha256(raw.encode()).hexdigest()[:12]
        labels = {"alertname": "Message", "severity": Severity.INFO.value, "message_id": digest}
        first, _, rest = raw.partition("\n")
        notes = {"summary": clip(first, MAX_SUMMARY), "description": clip(rest.strip(), MAX_DESCRIPTION)}
        notes = {k: v for k, v in notes.items() if v}
        return {"alerts": [_am(labels, notes, now, now + self.resolve_period, self.generator_url)]}

    def annotate(self, render: Render, note: str) -> Render:
        out = copy.deepcopy(render)
        notes = out["alerts"][0]["annotations"]
        text = f"{notes.get('description', '')}\n_{escape(note, 300)}_".strip("\n")
        notes["description"] = clip(text, MAX_DESCRIPTION + 320)
        return out

    def batch(self, renders: Sequence[Render]) -> Batch:
        """One JSON array with the alerts of as many renders as fit (bounded count and size)."""
        alerts: list[Render] = list(renders[0]["alerts"])
        size = len(json.dumps(alerts))
        count = 1
        for render in renders[1:]:
            more = render["alerts"]
            size += len(json.dumps(more))
            if len(alerts) + len(more) > MAX_BATCH_ALERTS or size > MAX_BATCH_BYTES:
                break
            alerts += more
            count += 1
        return Batch(count, alerts)

    def text_of(self, render: Render) -> str:
        return " | ".join(
            str(a.get("annotations", {}).get("summary") or a.get("labels", {}).get("alertname", "alert"))
            for a in render.get("alerts", ())
        )

    def resends(self, now: float) -> list[Render]:
        """The firing alerts due for their re-send, with a fresh ``endsAt``."""
        with self._lock:
            due = [f for f in self._firing.values() if now - f.sent_at >= self.resend_interval]
            for firing in due:
                firing.sent_at = now
        ends = now + HOLD_INTERVALS * self.resend_interval
        return [{"alerts": [_am(f.labels, f.annotations, f.starts_at, ends, f.generator)]} for f in due]

    # -- answers ---------------------------------------------------------------------------------------
    def classify(self, status: int, body: str, headers: Mapping[str, str]) -> Outcome:
        if 200 <= status < 300:
            return Outcome(Verdict.DELIVERED, "ok", status=status)
        words = _STATUS_WORDS.get(status, "Alertmanager refused the post")
        detail = error_text(body)
        reason = f"HTTP {status}: {words}" + (f": {detail}" if detail else "")
        return classify_status(status, reason, parse_retry_after(header(headers, "retry-after")))

    def mask(self, url: str) -> str:
        return mask_credentials(url)

    def post_url(self, url: str) -> str:
        return url if url.endswith(API_PATH) else url.rstrip("/") + API_PATH
