"""What the delivery core needs from a destination kind: render an alert, batch renders into one post, and
classify the answer. No I/O here and none in a destination module: the core's worker does the HTTP, the pacing,
the retries and the spool, identically for every kind (one decision core, never a retry loop per flavour).

A *render* is plain JSON data (a dict): the worker keeps it in memory and, with ``ALERTS_SPOOL_DIR``, on disk,
so it must never contain a secret (the URL is not part of it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, cast

from .._alert import Alert
from .._policy import Outcome
from .._text import to_text

Render = dict[str, Any]


@dataclass(frozen=True)
class Batch:
    """One post: how many renders from the head of a lane it carries, and the JSON body to send."""

    count: int
    body: Any  # JSON-encodable: a dict (Slack, Teams) or a list (Alertmanager)


class Destination(Protocol):
    """One configured destination (``[destinations.<name>]``). Each URL in ``urls`` gets its own lane."""

    kind: ClassVar[str]  # "slack", "teams", "alertmanager"
    name: str  # the configuration's name; "default" for SLACK_WEBHOOK_URL
    urls: tuple[str, ...]  # secrets for Slack and Teams: never logged, never stored (see fingerprint)
    min_interval: float  # seconds between posts on one lane

    def render(self, alert: Alert, *, now: float) -> Render:
        """``alert`` (already labelled with its env) as this destination shows it; ``now`` is wall-clock time."""
        ...

    def render_text(self, text: str, *, now: float) -> Render:
        """A plain string message (the caller's own text; for Slack, its own mrkdwn)."""
        ...

    def annotate(self, render: Render, note: str) -> Render:
        """``render`` with a note from alerts_lib itself (drops, repeats, delay) visible to the reader."""
        ...

    def batch(self, renders: Sequence[Render]) -> Batch:
        """As many renders from the head as fit one post (at least one), and that post's body."""
        ...

    def classify(self, status: int, body: str, headers: Mapping[str, str]) -> Outcome:
        """The verdict on one HTTP answer: delivered, retry (when) or permanent (why, in words)."""
        ...

    def post_url(self, url: str) -> str:
        """Where the worker POSTs a batch for the lane of ``url`` (one of ``urls``): the URL itself for webhooks,
        ``{url}/api/v2/alerts`` for Alertmanager, whose ``urls`` are base URLs."""
        ...

    def mask(self, url: str) -> str:
        """How ``url`` is shown in logs and ``check``: enough to tell URLs apart, nothing to post with."""
        ...

    def resends(self, now: float) -> list[Render]:
        """Renders to post again now (Alertmanager re-sends firing alerts); empty for most kinds."""
        ...

    def text_of(self, render: Render) -> str:
        """A render's headline as text, for the log line of an alert that could not be delivered."""
        ...

    # Optional: ``fallback(render, outcome) -> Render | None``, a simpler form to resend once when the rich one was
    # refused for good (Slack's invalid_blocks → plain text); ``storm_summaries = False`` when the destination
    # merges repeats itself (Alertmanager).


def render_message(dest: Destination, message: object, blocks: object, *, env: str | None, now: float) -> Render | None:
    """What one queued message becomes at ``dest``: an :class:`Alert` rendered its way, a ready Slack payload, or
    the caller's text (with its own Block Kit where the destination takes it). The one dispatch, for the worker
    and for ``alerts_lib.testing``, so a captured alert is what would have been posted. None: nothing to show."""
    if isinstance(message, Alert):
        return dest.render(message.with_env(env), now=now)
    if isinstance(message, Mapping):
        raw_payload = getattr(dest, "render_payload", None)
        if raw_payload is not None:
            return cast("Render | None", raw_payload(message))
        text = message.get("text")
        return dest.render_text(to_text(text), now=now) if text else None
    text = "" if message is None else to_text(message)  # blocks only: no "None" as the notification's text
    with_blocks = getattr(dest, "render_blocks", None)  # Slack: the caller's own Block Kit
    if blocks is not None and with_blocks is not None:
        return cast("Render", with_blocks(text, blocks))
    return dest.render_text(text, now=now)


class Webhook:
    """What every one-URL webhook destination (Slack, Teams) shares: its URL is a credential, registered with the
    log scrubber here, once, when it is configured; it posts to that URL as is, shows it masked (``mask_url`` knows
    each kind's secret part) and has nothing to re-send."""

    def __init__(self, name: str, url: str, *, min_interval: float) -> None:
        from .._redact import protect

        self.name = name
        self.urls: tuple[str, ...] = (url,)
        self.min_interval = min_interval
        protect(url)  # httpx logs request URLs: the token or sig is scrubbed wherever it appears

    def mask(self, url: str) -> str:
        from .._redact import mask_url

        return mask_url(url)

    def post_url(self, url: str) -> str:
        return url

    def resends(self, now: float) -> list[Render]:
        return []
