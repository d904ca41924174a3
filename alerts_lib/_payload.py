"""Slack payloads as data: rendering any message, combining several into one post, adding notes.

Combining is what lets the worker keep to Slack's one-post-per-second pace without falling behind: the
alerts that queued up during the wait go out together, within Slack's limits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from ._alert import MAX_BLOCKS, MAX_SECTION_TEXT, MAX_TEXT, Alert, Payload
from ._text import clip, escape, to_text

logger = logging.getLogger("alerts_lib")

_NO_UNFURL = {"unfurl_links": False, "unfurl_media": False}
_DIVIDER = {"type": "divider"}
_NOTE_RESERVE = 2  # blocks kept free in a combined post for the notes the worker may add


def render(message: object, *, env: str | None, blocks: object = None) -> Payload | None:
    """The payload for ``message``; None when there is nothing to send."""
    if message is None and not blocks:
        return None
    if isinstance(message, Alert):
        return message.with_env(env).payload()
    # A plain string is the caller's own mrkdwn: sent as written, only cut to Slack's limit.
    text = clip(to_text("" if message is None else message), MAX_TEXT)
    payload: Payload = {"text": text, **_NO_UNFURL}
    clean = _clean_blocks(blocks)
    if clean:
        payload["blocks"] = clean
    return payload


def _clean_blocks(blocks: object) -> list[dict[str, Any]]:
    """Caller-given blocks, kept only if they are typed JSON objects; Slack would reject the rest outright."""
    if blocks is None:
        return []
    if not isinstance(blocks, list | tuple):
        logger.warning("alerts_lib: ignoring blocks=%s: expected a list of Block Kit objects", type(blocks).__name__)
        return []
    clean = [b for b in blocks if isinstance(b, dict) and isinstance(b.get("type"), str)]
    if len(clean) != len(blocks):
        logger.warning("alerts_lib: ignored %d blocks that are not Block Kit objects", len(blocks) - len(clean))
    try:
        clean = json.loads(json.dumps(clean, default=str))  # a copy the caller cannot mutate, JSON-safe
    except (TypeError, ValueError):
        logger.warning("alerts_lib: ignoring blocks that cannot be encoded as JSON")
        return []
    if len(clean) > MAX_BLOCKS:
        clean = [*clean[: MAX_BLOCKS - 1], _context("…(truncated: more than 50 blocks)")]
    return clean


def text_of(payload: Payload) -> str:
    return str(payload.get("text", ""))


def text_only(payload: Payload) -> Payload:
    """The same alert without blocks: what we send when Slack rejects its blocks (``_policy.blocks_rejected``)."""
    return {"text": text_of(payload) or "(alert)", **_NO_UNFURL}


def has_blocks(payload: Payload) -> bool:
    return bool(payload.get("blocks"))


def batch_size(payloads: Sequence[Payload]) -> int:
    """How many payloads from the head fit one post: same kind (text or blocks), within Slack's limits."""
    if not payloads:
        return 0
    kind = has_blocks(payloads[0])
    blocks = text = count = 0
    for payload in payloads:
        if has_blocks(payload) != kind:
            break
        more_blocks = len(payload.get("blocks", ())) + (1 if count else 0)
        more_text = len(text_of(payload)) + (1 if count else 0)
        if count and (blocks + more_blocks > MAX_BLOCKS - _NOTE_RESERVE or text + more_text > MAX_TEXT - 200):
            break
        blocks, text, count = blocks + more_blocks, text + more_text, count + 1
    return max(count, 1)


def combine(payloads: Sequence[Payload]) -> Payload:
    """One post carrying every payload (as sized by :func:`batch_size`), in order."""
    if len(payloads) == 1:
        return dict(payloads[0])
    text = clip("\n".join(text_of(p) for p in payloads), MAX_TEXT)
    combined: Payload = {"text": text, **_NO_UNFURL}
    if has_blocks(payloads[0]):
        blocks: list[dict[str, Any]] = []
        for payload in payloads:
            if blocks:
                blocks.append(_DIVIDER)
            blocks.extend(payload["blocks"])
        combined["blocks"] = blocks[:MAX_BLOCKS]
    return combined


def annotate(payload: Payload, note: str) -> Payload:
    """``payload`` with a note from alerts_lib itself (drops, repeats) visible in Slack."""
    out = dict(payload)
    safe = escape(note, 500)
    out["text"] = clip(f"{text_of(payload)}\n_{safe}_", MAX_TEXT)
    if has_blocks(payload):
        blocks = list(payload["blocks"])
        if len(blocks) >= MAX_BLOCKS:
            blocks = blocks[: MAX_BLOCKS - 1]
        blocks.append(_context(safe))
        out["blocks"] = blocks
    return out


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, MAX_SECTION_TEXT)}]}
