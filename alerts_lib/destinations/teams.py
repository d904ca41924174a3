"""Microsoft Teams through a Power Automate "Workflows" webhook: alerts as Adaptive Cards (version 1.4).

Teams shows cards above 1.4 as "this card couldn't be displayed" and refuses messages over about 28 KB, so
cards are 1.4 and cut to :data:`MAX_MESSAGE_BYTES`, visibly. In a card, ``TextBlock`` and ``Fact`` values are
markdown (links, and ``<at>`` mentions when an entity matches), so untrusted text only ever goes into
``TextRun``s of a ``RichTextBlock``, which are plain text; facts are therefore rows of two TextRun columns,
not a ``FactSet``. The one mention comes from configuration, with its ``msteams.entities`` entry. The
URL's ``sig=`` parameter is the secret: it is masked everywhere and scrubbed from HTTP libraries' logs.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, ClassVar

from .._alert import Alert, Severity, safe_url
from .._policy import Outcome, Verdict, classify_status, parse_retry_after
from .._redact import query_secrets
from .._settings import plain_http_problem
from .._text import clip, to_text
from ._http import header, split_http_url
from .base import Batch, Render, Webhook

CARD_VERSION = "1.4"
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
# Teams refuses messages over about 28 KB; this leaves room for alerts_lib's notes and the envelope.
MAX_MESSAGE_BYTES = 26_000
MAX_BATCH = 10  # alerts per card: more is hard to read and one bad card would hide them all
MAX_NOTE = 300
# Limits at full size; a card over MAX_MESSAGE_BYTES is rebuilt with all of them scaled down.
LIMITS = {"title": 300, "label": 100, "value": 1000, "facts": 20, "body": 8000, "link_label": 80}
SCALES = (1.0, 0.5, 0.25, 0.1, 0.04)

_STYLES = {  # container style, title colour
    Severity.CRITICAL: ("attention", "Attention"),
    Severity.ERROR: ("attention", "Attention"),
    Severity.WARNING: ("warning", "Warning"),
    Severity.INFO: ("accent", "Accent"),
    Severity.SUCCESS: ("good", "Good"),
}
_AT_TAG = re.compile(r"<(/?at)\b", re.IGNORECASE)
_MENTION = re.compile(r"^\s*(?:(?P<name>[^<>]+?)\s*<(?P<id>[^<>\s]+)>|(?P<bare>[^<>\s]+))\s*$")

# Power Automate's error codes, in words an operator can act on.
_CODES = {
    "WorkflowNotFound": "the workflow was deleted: create a new Workflows webhook",
    "WorkflowTriggerIsNotEnabled": "the workflow is turned off: turn it on in Power Automate",
    "DirectApiAuthorizationRequired": "the URL's sig= signature is missing: copy the whole URL",
    "DirectApiInvalidAuthorizationSignature": "the URL's sig= signature is wrong: copy the whole URL again",
    "TriggerInputSchemaMismatch": "the message does not match the workflow trigger's schema",
}
_STATUS_WORDS = {
    400: "Teams Workflows refused the message as malformed",
    401: "the Workflows URL was not authorised: its sig= signature is missing or wrong",
    403: "the Workflows URL's signature was refused, or the flow's owner may no longer post",
    404: "the workflow does not exist any more (deleted, or its URL changed): copy the new URL from its trigger",
    413: "the message is over Teams' size limit (about 28 KB)",
}


def teams_url_problem(url: object, *, allow_http: bool | None = None) -> str | None:
    """Why ``url`` cannot be a Teams Workflows URL, in words without the secret; None when usable. Its ``sig`` is a
    credential, so the https rule is Slack's (:func:`.._settings.plain_http_problem`)."""
    parts, problem = split_http_url(url, "the Teams URL")
    if parts is None:
        return problem
    problem = plain_http_problem(parts.scheme, parts.hostname or "", "the Teams URL", allow_http=allow_http)
    if problem:
        return problem
    if not query_secrets(parts.query):
        return "the Teams URL has no sig= parameter: copy the whole URL from the workflow's trigger"
    if (parts.hostname or "").endswith(".logic.azure.com"):
        return "the Teams URL is an old *.logic.azure.com one, retired since 2025-11-30: copy the new URL"
    return None


def _inert(value: object, limit: int) -> str:
    """Untrusted text for a TextRun: cut visibly, and no ``<at>`` that could ever match a mention entity."""
    return _AT_TAG.sub("<\u2060\\1", clip(to_text(value), limit))


def _run(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextRun", "text": text, **style}


def _rich(*runs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": list(runs), **extra}


def _message(body: list[dict[str, Any]], entities: list[dict[str, Any]]) -> Render:
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full", **({"entities": entities} if entities else {})},
    }
    return {"type": "message", "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": card}]}


def _card(render: Render) -> dict[str, Any]:
    content: dict[str, Any] = render["attachments"][0]["content"]
    return content


def _size(value: object) -> int:
    """Bytes on the wire at worst (ASCII-escaped JSON is never shorter than UTF-8 JSON)."""
    return len(json.dumps(value, separators=(",", ":")))


def _when(now: float) -> str:
    return datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


class TeamsDestination(Webhook):
    """A Teams channel or chat reached through one Workflows webhook URL (a secret, never shown)."""

    kind: ClassVar[str] = "teams"

    def __init__(self, name: str, url: str, *, mention: str | None = None, min_interval: float = 0.3) -> None:
        """``mention``: ``"Jane Doe <jane@contoso.com>"`` or ``"jane@contoso.com"`` (a UPN or Entra object id),
        pinged on every alert; ``min_interval``: Workflows throttles above about 4 posts per second."""
        super().__init__(name, url, min_interval=min_interval)
        self._mention = self._parse_mention(mention)

    def __repr__(self) -> str:
        return f"TeamsDestination(name={self.name!r}, url={self.mask(self.urls[0])!r})"

    @staticmethod
    def _parse_mention(mention: str | None) -> tuple[str, str] | None:
        match = _MENTION.match(mention or "")
        if not match:
            return None
        mentioned = match["id"] or match["bare"]
        return (match["name"] or mentioned).strip(), mentioned

    # -- rendering -------------------------------------------------------------------------------------
    def render(self, alert: Alert, *, now: float) -> Render:
        for scale in SCALES:
            message = self._alert_message(alert, now, scale)
            if _size(message) <= MAX_MESSAGE_BYTES:
                return message
        return self._alert_message(alert, now, 0.01, facts=False)

    def _alert_message(self, alert: Alert, now: float, scale: float, facts: bool = True) -> Render:
        limit = {key: max(12, int(value * scale)) for key, value in LIMITS.items()}
        style, colour = _STYLES.get(alert.severity, ("default", "Default"))
        items: list[dict[str, Any]] = []
        entities: list[dict[str, Any]] = []
        if self._mention is not None:
            name, mentioned = self._mention
            tag = f"<at>{name}</at>"
            items.append({"type": "TextBlock", "text": tag, "wrap": True})
            entities.append({"type": "mention", "text": tag, "mentioned": {"id": mentioned, "name": name}})
        headline = ""
        if alert.source:
            headline += f"[{_inert(alert.source, 40)}] "
        headline += _inert(alert.title, limit["title"])
        if alert.env:
            headline += f" · {_inert(alert.env, 40)}"
        emoji = alert.emoji or alert.severity.emoji
        items.append(_rich(_run(f"{emoji} {headline}", weight="Bolder", size="Medium", color=colour)))
        if facts:
            items += self._fact_rows(alert.fields, limit)
        if alert.body:
            code = _rich(_run(_inert(alert.body, limit["body"]), fontType="Monospace", size="Small"))
            items.append({"type": "Container", "style": "emphasis", "items": [code]})
        url = safe_url(alert.link[0]) if alert.link else None
        if alert.link and url:
            label = _inert(alert.link[1], limit["link_label"]) or "link"
            # safe_url escaped "&" for Slack; a card's URL is plain JSON.
            action = {"type": "Action.OpenUrl", "title": label, "url": url.replace("&amp;", "&")}
            items.append({"type": "ActionSet", "actions": [action]})
        context = [f"source: {_inert(alert.source, 40)}" if alert.source else ""]
        context += [f"env: {_inert(alert.env, 40)}" if alert.env else "", f"severity: {alert.severity.value}"]
        context.append(_when(now))
        items.append(_rich(_run(" · ".join(c for c in context if c), isSubtle=True, size="Small")))
        return _message([{"type": "Container", "style": style, "items": items}], entities)

    @staticmethod
    def _fact_rows(fields: Sequence[tuple[str, str]], limit: Mapping[str, int]) -> list[dict[str, Any]]:
        """Facts as label/value rows of TextRuns (a FactSet's values would be markdown)."""
        shown = list(fields[: limit["facts"]])
        if len(fields) > len(shown):
            shown[-1] = ("more", f"{len(fields) - len(shown) + 1} more fields …(truncated)")
        rows = []
        for label, value in shown:
            name = _rich(_run(_inert(label, limit["label"]), weight="Bolder"))
            left = {"type": "Column", "width": 2, "items": [name]}
            right = {"type": "Column", "width": 5, "items": [_rich(_run(_inert(value, limit["value"])))]}
            rows.append({"type": "ColumnSet", "spacing": "None", "columns": [left, right]})
        return rows

    def render_text(self, text: str, *, now: float) -> Render:
        limit = LIMITS["body"]
        while True:
            body = [{"type": "Container", "items": [_rich(_run(_inert(text, limit)))]}]
            message = _message(body, [])
            if _size(message) <= MAX_MESSAGE_BYTES or limit <= 12:
                return message
            limit //= 2

    def annotate(self, render: Render, note: str) -> Render:
        out = copy.deepcopy(render)
        body = _card(out)["body"]
        body[-1]["items"].append(_rich(_run(_inert(note, MAX_NOTE), italic=True, isSubtle=True)))
        return out

    def text_of(self, render: Render) -> str:
        """The first line of the card (its title), for the log."""
        try:
            first = _card(render)["body"][0]["items"][0]
        except (KeyError, IndexError, TypeError):
            return ""
        return "".join(str(run.get("text", "")) for run in first.get("inlines", [])) or str(first.get("text", ""))

    def batch(self, renders: Sequence[Render]) -> Batch:
        """One card holding as many alerts (one Container each, separated) as fit Teams' size limit."""
        first = renders[0]
        body = list(_card(first)["body"])
        entities = list(_card(first)["msteams"].get("entities", []))
        size = _size(first)
        count = 1
        for render in renders[1:MAX_BATCH]:
            card = _card(render)
            tags = {e["text"] for e in entities}  # a mention the card has already pings once is enough
            containers = [
                {
                    **c,
                    "separator": True,
                    "spacing": "Large",
                    "items": [i for i in c["items"] if i.get("text") not in tags],
                }
                for c in card["body"]
            ]
            extra = [e for e in card["msteams"].get("entities", []) if e not in entities]
            size += sum(_size(c) + 1 for c in containers) + sum(_size(e) + 1 for e in extra)
            if size > MAX_MESSAGE_BYTES:
                break
            body += containers
            entities += extra
            count += 1
        return Batch(1, first) if count == 1 else Batch(count, _message(body, entities))

    # -- answers ---------------------------------------------------------------------------------------
    def classify(self, status: int, body: str, headers: Mapping[str, str]) -> Outcome:
        """Workflows answers 202 before the flow runs; 429/408/5xx are transient; other 4xx never change."""
        if 200 <= status < 300:
            return Outcome(Verdict.DELIVERED, "accepted" if status == 202 else "ok", status=status)
        code = self._error_code(body)
        words = _CODES.get(code or "") or _STATUS_WORDS.get(status) or "Teams Workflows refused the post"
        reason = f"HTTP {status}" + (f" {code}" if code else "") + f": {words}"
        if status == 429:
            reason += " (throttled: Workflows allows about 4 posts per second)"
        return classify_status(status, reason, parse_retry_after(header(headers, "retry-after")), code=code)

    @staticmethod
    def _error_code(body: str) -> str | None:
        """Power Automate's ``{"error": {"code": ...}}``, only if it looks like a code (it is echoed in logs)."""
        try:
            error = json.loads(body).get("error")
            code = error.get("code")
        except (ValueError, AttributeError):
            return None
        return code if isinstance(code, str) and re.fullmatch(r"[A-Za-z0-9_.]{1,60}", code) else None
