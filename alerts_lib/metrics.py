"""Delivery metrics per destination: Prometheus metrics over :func:`alerts_lib.stats`, and a short summary.

    from alerts_lib.metrics import register_metrics
    register_metrics()  # prometheus_client's default REGISTRY; pip install 'alerts_lib[prometheus]'

One collector reads ``stats()`` at scrape time, so the delivery worker does no metric work and nothing is
counted twice. ``prometheus_client`` is imported inside the functions that need it, never by
``import alerts_lib`` or ``import alerts_lib.metrics``: without the extra, only those functions fail, with the
install hint. Counters are per process and restart from zero with the worker (``configure()``), which
Prometheus's ``rate()`` handles as a counter reset.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._client import stats as current_stats
from ._worker import Stats

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import CollectorRegistry

__all__ = ["INSTALL_HINT", "AlertsCollector", "exposition", "per_destination", "register_metrics", "summary"]

INSTALL_HINT = "alerts_lib metrics need prometheus-client: pip install 'alerts_lib[prometheus]'"
DEFAULT_DESTINATION = "default"  # SLACK_WEBHOOK_URL's name, and the totals' when no destination is reported

# Outcomes of alerts, one series each of alerts_lib_alerts_total{destination, outcome}.
OUTCOMES = ("delivered", "dropped", "failed", "suppressed")
SUMMARY_FIELDS = ("delivered", "failed", "dropped", "queued", "last_error")
FULL_FIELDS = ("queued", "delivered", "posts", "retries", "dropped", "failed", "suppressed", "last_error")
LAST_ERROR_MAX = 300

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


def per_destination(stats: Stats | None = None) -> dict[str, Stats]:
    """Destination name → its counters; the totals as ``"default"`` when the core reports no destinations."""
    snapshot = current_stats() if stats is None else stats
    return dict(snapshot.destinations) if snapshot.destinations else {DEFAULT_DESTINATION: snapshot}


def summary(stats: Stats | None = None, *, full: bool = False) -> dict[str, dict[str, Any]]:
    """``{"default": {"delivered": 3, "failed": 1, "dropped": 0, "queued": 0, "last_error": "HTTP 403 …"}}``.

    For a health endpoint: an operator reads "Slack refuses: invalid_token" without the logs. ``full=True``
    adds posts, retries and suppressed. ``last_error`` is clipped and never holds a URL (a host at most).
    """
    fields = FULL_FIELDS if full else SUMMARY_FIELDS
    return {
        name: {f: clean_error(s.last_error) if f == "last_error" else getattr(s, f) for f in fields}
        for name, s in sorted(per_destination(stats).items())
    }


def clean_error(text: str | None) -> str | None:
    """``last_error`` for display: every URL replaced by its host, one line, at most LAST_ERROR_MAX chars."""
    if text is None:
        return None
    one_line = " ".join(_URL.sub(_host_only, str(text)).split())
    return one_line if len(one_line) <= LAST_ERROR_MAX else one_line[: LAST_ERROR_MAX - 1] + "…"


def _host_only(match: re.Match[str]) -> str:
    try:
        host = urlsplit(match.group(0)).hostname
    except ValueError:
        host = None
    return f"<{host or 'url'}>"


class AlertsCollector:
    """A prometheus_client collector over ``stats()`` (duck-typed: ``collect`` and ``describe``).

    - ``alerts_lib_alerts_total{destination, outcome}``: delivered, dropped, failed, suppressed
    - ``alerts_lib_posts_total{destination}``: HTTP posts the destination accepted
    - ``alerts_lib_retries_total{destination}``: failed attempts that were retried
    - ``alerts_lib_queue_depth{destination}``: alerts waiting (gauge)
    """

    def __init__(self, stats: Any = current_stats) -> None:
        self._stats = stats

    def describe(self) -> Iterator[Metric]:
        """The families without samples: registering the collector never reads stats()."""
        return self._families({})

    def collect(self) -> Iterator[Metric]:
        return self._families(per_destination(self._stats()))

    @staticmethod
    def _families(destinations: dict[str, Stats]) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        alerts = CounterMetricFamily(
            "alerts_lib_alerts", "Alerts by outcome, per destination.", labels=["destination", "outcome"]
        )
        by_destination = ["destination"]
        posts = CounterMetricFamily("alerts_lib_posts", "HTTP posts the destination accepted.", labels=by_destination)
        retries = CounterMetricFamily("alerts_lib_retries", "Failed attempts that were retried.", labels=by_destination)
        depth = GaugeMetricFamily("alerts_lib_queue_depth", "Alerts waiting for delivery.", labels=by_destination)
        for name, s in sorted(destinations.items()):
            for outcome in OUTCOMES:
                alerts.add_metric([name, outcome], getattr(s, outcome))
            posts.add_metric([name], s.posts)
            retries.add_metric([name], s.retries)
            depth.add_metric([name], s.queued)
        yield from (alerts, posts, retries, depth)


_lock = threading.Lock()
_registered: weakref.WeakKeyDictionary[Any, AlertsCollector] = weakref.WeakKeyDictionary()


def register_metrics(registry: CollectorRegistry | None = None) -> AlertsCollector:
    """Register the collector (once per registry; default: prometheus_client's ``REGISTRY``) and return it.

    Raises ImportError with the install hint when prometheus-client is missing.
    """
    try:
        from prometheus_client import REGISTRY
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    target = REGISTRY if registry is None else registry
    with _lock:
        collector = _registered.get(target)
        if collector is None:
            collector = _registered[target] = AlertsCollector()
            target.register(collector)  # duck-typed: prometheus_client checks for collect()
    return collector


def exposition(registry: CollectorRegistry | None = None) -> tuple[bytes, str]:
    """(body, content type) of a scrape of ``registry`` (default ``REGISTRY``), the collector registered."""
    register_metrics(registry)
    from prometheus_client import REGISTRY, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    return generate_latest(REGISTRY if registry is None else registry), CONTENT_TYPE_LATEST
