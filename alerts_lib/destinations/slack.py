"""Slack incoming webhooks: Block Kit rendering, combining renders into one post, and Slack's answers in words.

Rendering is the single place where an alert's untrusted values are escaped (``&``, ``<``, ``>``) and cut to
Block Kit's limits, so an alert built by hand is as safe as one built by a formatter.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from .._alert import MAX_TITLE, Alert, safe_url
from .._policy import Outcome, Verdict, classify_status, parse_retry_after
from .._redact import mask_url
from .._text import TRUNCATED, clip, code_block, escape, to_text
from ._http import header
from .base import Batch, Render, Webhook

logger = logging.getLogger("alerts_lib")

# Slack's limits (https://api.slack.com/reference/block-kit/blocks).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_TEXT = 40_000
MAX_ATTACHMENTS = 100
_NOTE_RESERVE = 2  # blocks kept free in a combined post for the notes the worker may add

_NO_UNFURL = {"unfurl_links": False, "unfurl_media": False}
_DIVIDER = {"type": "divider"}

# Slack's answers, in words an operator can act on (https://api.slack.com/messaging/webhooks#handling_errors).
SLACK_ERRORS: dict[str, str] = {
    "invalid_payload": "Slack could not read the message (malformed JSON or invalid blocks)",
    "invalid_blocks": "the message's blocks break Block Kit's rules",
    "invalid_blocks_format": "the message's blocks are not a valid Block Kit array",
    "no_text": "the message has no text",
    "user_not_found": "the user the message was addressed to does not exist",
    "action_prohibited": "a workspace admin restricted posting to this channel",
    "invalid_token": "the webhook's token is invalid: the app was uninstalled or the URL is wrong",
    "channel_not_found": "the webhook's channel was deleted or the app lost access to it",
    "no_service": "the webhook was revoked or disabled: create a new one",
    "no_service_id": "the webhook URL is incomplete (no service id)",
    "no_team": "the webhook URL is incomplete or its workspace was deleted",
    "team_disabled": "the Slack workspace is disabled",
    "channel_is_archived": "the webhook's channel is archived: unarchive it or point the webhook elsewhere",
    "posting_to_general_channel_denied": "only admins may post to this #general channel",
    "too_many_attachments": "the message has too many attachments",
    "rollup_error": "Slack had an internal error",
}

# Answers meaning "your blocks are wrong": the same alert as plain text will be accepted.
BLOCKS_REJECTED = frozenset({"invalid_payload", "invalid_blocks", "invalid_blocks_format"})


def render_alert(alert: Alert) -> Render:
    """The Slack webhook payload: fallback ``text`` plus Block Kit ``blocks``, within Slack's limits."""
    blocks: list[dict[str, Any]] = []
    headline = f"*{headline_of(alert)}*"
    blocks.append(_section(f"{alert.mention} {headline}" if alert.mention else headline))
    fields = [(to_text(k), to_text(v)) for k, v in alert.fields]
    if fields:
        shown = fields[:MAX_FIELDS]
        if len(fields) > MAX_FIELDS:
            shown = fields[: MAX_FIELDS - 1]
            shown.append(("more", f"{len(fields) - len(shown)} more fields {TRUNCATED}"))
        blocks.append(
            {"type": "section", "fields": [{"type": "mrkdwn", "text": _field(label, value)} for label, value in shown]}
        )
    if alert.body:
        blocks.append(_section(code_block(alert.body, MAX_SECTION_TEXT)))
    if alert.link and safe_url(alert.link[0]):
        url, label = alert.link
        blocks.append(_section(f"<{safe_url(url)}|{escape(label, 80) or 'link'}>"))
    context = " · ".join(
        part
        for part in (
            f"source: *{escape(alert.source, 40)}*" if alert.source else "",
            f"env: *{escape(alert.env, 40)}*" if alert.env else "",
            f"severity: {alert.severity.value}",
        )
        if part
    )
    blocks.append(_context(context))
    return {"text": text_of_alert(alert), "blocks": blocks, **_NO_UNFURL}


def headline_of(alert: Alert) -> str:
    """``🔁 [FastAPI] my_model@A hot-swapped to v9 · prod``, escaped for mrkdwn."""
    line = f"{alert.emoji or alert.severity.emoji} "
    if alert.source:
        line += f"[{escape(alert.source, 40)}] "
    line += escape(alert.title, MAX_TITLE)
    if alert.env:
        line += f" · {escape(alert.env, 40)}"
    return line


def text_of_alert(alert: Alert) -> str:
    """The notification line; the mention (from configuration, never from an error) pings."""
    return f"{alert.mention} {headline_of(alert)}" if alert.mention else headline_of(alert)


def render_text(text: str, blocks: object = None) -> Render:
    """A plain string is the caller's own mrkdwn: sent as written, only cut to Slack's limit."""
    payload: Render = {"text": clip(text, MAX_TEXT), **_NO_UNFURL}
    clean = clean_blocks(blocks)
    if clean:
        payload["blocks"] = clean
    return payload


def render_payload(raw: Mapping[str, Any]) -> Render | None:
    """A ready Slack payload dict (the slack_sdk habit): kept as the caller wrote it, within Slack's limits.

    Only ``text``, ``blocks``, ``attachments``, ``unfurl_*``, ``mrkdwn``, ``username`` and ``icon_*`` are kept;
    the rest is dropped with a warning. None (with a warning) when nothing in it can be shown.
    """
    known = {"text", "blocks", "attachments", "unfurl_links", "unfurl_media", "mrkdwn", "username", "icon_emoji"}
    extra = sorted(str(k) for k in raw if k not in known)
    if extra:
        logger.warning("alerts_lib: ignoring unknown Slack payload keys %s", extra[:10])
    text = raw.get("text")
    payload: Render = {**_NO_UNFURL}
    if text is not None:
        payload["text"] = clip(to_text(text), MAX_TEXT)
    blocks = clean_blocks(raw.get("blocks"))
    if blocks:
        payload["blocks"] = blocks
    attachments = raw.get("attachments")
    if isinstance(attachments, list | tuple):
        kept = [a for a in attachments if isinstance(a, dict)][:MAX_ATTACHMENTS]
        if kept:
            payload["attachments"] = _json_copy(kept) or []
    for key in ("unfurl_links", "unfurl_media", "mrkdwn"):
        if isinstance(raw.get(key), bool):
            payload[key] = raw[key]
    for key in ("username", "icon_emoji"):
        if isinstance(raw.get(key), str):
            payload[key] = clip(raw[key], 80)
    if not (payload.get("text", "").strip() or payload.get("blocks") or payload.get("attachments")):
        logger.warning("alerts_lib: the Slack payload has no text, blocks or attachments; nothing sent")
        return None
    if not payload.get("text"):
        payload["text"] = "(alert)"  # the notification line; Slack answers no_text without it
    return payload


def clean_blocks(blocks: object) -> list[dict[str, Any]]:
    """Caller-given blocks, kept only if they are typed JSON objects; Slack would reject the rest outright."""
    if blocks is None:
        return []
    if not isinstance(blocks, list | tuple):
        logger.warning("alerts_lib: ignoring blocks=%s: expected a list of Block Kit objects", type(blocks).__name__)
        return []
    clean = [b for b in blocks if isinstance(b, dict) and isinstance(b.get("type"), str)]
    if len(clean) != len(blocks):
        logger.warning("alerts_lib: ignored %d blocks that are not Block Kit objects", len(blocks) - len(clean))
    copied = _json_copy(clean)
    if copied is None:
        logger.warning("alerts_lib: ignoring blocks that cannot be encoded as JSON")
        return []
    if len(copied) > MAX_BLOCKS:
        copied = [*copied[: MAX_BLOCKS - 1], _context("…(truncated: more than 50 blocks)")]
    return copied


def _json_copy(value: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """A copy the caller cannot mutate, JSON-safe."""
    try:
        copied: list[dict[str, Any]] = json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return None
    return copied


def text_of(render: Render) -> str:
    return str(render.get("text", ""))


def has_blocks(render: Render) -> bool:
    return bool(render.get("blocks") or render.get("attachments"))


def text_only(render: Render) -> Render:
    """The same alert without blocks: what we send when Slack rejects its blocks."""
    return {"text": text_of(render) or "(alert)", **_NO_UNFURL}


def batch_size(renders: Sequence[Render]) -> int:
    """How many renders from the head fit one post: same kind (text or blocks), within Slack's limits."""
    if not renders:
        return 0
    kind = has_blocks(renders[0])
    blocks = text = count = 0
    for render in renders:
        if has_blocks(render) != kind or (count and render.get("attachments")):
            break
        more_blocks = len(render.get("blocks", ())) + (1 if count else 0)
        more_text = len(text_of(render)) + (1 if count else 0)
        if count and (blocks + more_blocks > MAX_BLOCKS - _NOTE_RESERVE or text + more_text > MAX_TEXT - 200):
            break
        blocks, text, count = blocks + more_blocks, text + more_text, count + 1
        if render.get("attachments"):
            break  # attachments do not combine: one post each
    return max(count, 1)


def combine(renders: Sequence[Render]) -> Render:
    """One post carrying every render (as sized by :func:`batch_size`), in order."""
    if len(renders) == 1:
        return dict(renders[0])
    text = clip("\n".join(text_of(p) for p in renders), MAX_TEXT)
    combined: Render = {"text": text, **_NO_UNFURL}
    if renders[0].get("blocks"):
        blocks: list[dict[str, Any]] = []
        for render in renders:
            if blocks:
                blocks.append(_DIVIDER)
            blocks.extend(render.get("blocks", ()))
        combined["blocks"] = blocks[:MAX_BLOCKS]
    return combined


def annotate(render: Render, note: str) -> Render:
    """``render`` with a note from alerts_lib itself (drops, repeats, delay) visible in Slack."""
    out = dict(render)
    safe = escape(note, 500)
    out["text"] = clip(f"{text_of(render)}\n_{safe}_", MAX_TEXT)
    if render.get("blocks"):
        blocks = list(render["blocks"])
        if len(blocks) >= MAX_BLOCKS:
            blocks = blocks[: MAX_BLOCKS - 1]
        blocks.append(_context(safe))
        out["blocks"] = blocks
    return out


def classify_response(status: int, body: str, retry_after_header: str | None = None) -> Outcome:
    """Slack answers 200 ``ok``; 429 and 5xx are worth another try; every other 4xx never will be."""
    code = body.strip()[:60] or None
    if status == 200:
        return Outcome(Verdict.DELIVERED, "ok", status=status, code=code)
    words = SLACK_ERRORS.get(code or "", "")
    reason = f"HTTP {status} {code or ''}".rstrip() + (f": {words}" if words else "")
    if status == 429:
        reason += ": rate limited by Slack"
    return classify_status(status, reason, parse_retry_after(retry_after_header), code=code)


def blocks_rejected(outcome: Outcome) -> bool:
    return outcome.verdict is Verdict.PERMANENT and outcome.code in BLOCKS_REJECTED


class SlackDestination(Webhook):
    """One Slack incoming webhook. Its URL is the credential: it is never logged nor stored."""

    kind: ClassVar[str] = "slack"

    def __init__(self, name: str, url: str, *, min_interval: float = 1.0, mention: str | None = None) -> None:
        super().__init__(name, url, min_interval=min_interval)
        self.mention = mention  # from configuration: pings on every alert of this destination

    def __repr__(self) -> str:
        return f"SlackDestination({self.name!r}, {mask_url(self.urls[0])!r})"

    def render(self, alert: Alert, *, now: float) -> Render:
        if self.mention and not alert.mention:
            alert = alert.with_mention(self.mention)
        return render_alert(alert)

    def render_text(self, text: str, *, now: float) -> Render:
        return render_text(text)

    def render_blocks(self, text: str, blocks: object) -> Render:
        return render_text(text, blocks)

    def render_payload(self, raw: Mapping[str, Any]) -> Render | None:
        return render_payload(raw)

    def annotate(self, render: Render, note: str) -> Render:
        return annotate(render, note)

    def batch(self, renders: Sequence[Render]) -> Batch:
        count = batch_size(renders)
        return Batch(count, combine(renders[:count]))

    def classify(self, status: int, body: str, headers: Mapping[str, str]) -> Outcome:
        return classify_response(status, body, header(headers, "retry-after"))

    def fallback(self, render: Render, outcome: Outcome) -> Render | None:
        """When Slack rejects the blocks, the same alert as plain text still arrives."""
        return text_only(render) if blocks_rejected(outcome) and has_blocks(render) else None

    def text_of(self, render: Render) -> str:
        return text_of(render)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION_TEXT)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, MAX_SECTION_TEXT)}]}


def _field(label: str, value: str) -> str:
    head = f"*{escape(label, 100)}*\n"
    return head + escape(value, MAX_FIELD_TEXT - len(head))
