"""What the inbox accepts as a Teams Workflows post: a message with Adaptive Card attachments (1.4 or lower)
under Teams' ~28 KB limit. Checked loosely (Workflows itself answers 202 before its flow even reads the card):
the shape a sender gets wrong, with Power Automate's kind of JSON error, not the whole card schema."""

from __future__ import annotations

import json
from typing import Any

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
MAX_MESSAGE = 28 * 1024  # bytes
MAX_VERSION = (1, 4)  # Teams shows newer cards as "this card couldn't be displayed"
MAX_ATTACHMENTS = 10


class CardRejected(ValueError):
    """A post the inbox refuses: answered as ``{"error": {"code", "message"}}`` with ``status``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


def _version(value: object) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in str(value).split("."))
    except ValueError:
        return None


def validate(body: bytes) -> dict[str, Any]:
    """The parsed message, or :class:`CardRejected` saying what Teams would make of it."""
    if len(body) > MAX_MESSAGE:
        raise CardRejected("MessageTooLarge", f"{len(body)} bytes: Teams takes about 28 KB at most", 413)
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise CardRejected("InvalidRequestContent", "the body is not JSON") from None
    if not isinstance(message, dict) or message.get("type") != "message":
        raise CardRejected("InvalidRequestContent", 'expected {"type": "message", "attachments": [...]}')
    attachments = message.get("attachments")
    if not isinstance(attachments, list) or not 1 <= len(attachments) <= MAX_ATTACHMENTS:
        raise CardRejected("InvalidRequestContent", f"attachments must be a list of 1 to {MAX_ATTACHMENTS} cards")
    for attachment in attachments:
        if not isinstance(attachment, dict) or attachment.get("contentType") != CARD_TYPE:
            raise CardRejected("InvalidRequestContent", f"each attachment's contentType must be {CARD_TYPE}")
        card = attachment.get("content")
        if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
            raise CardRejected("InvalidRequestContent", 'each attachment\'s content must be {"type": "AdaptiveCard"}')
        version = _version(card.get("version"))
        if version is None or version > MAX_VERSION:
            shown = str(card.get("version"))[:10]
            raise CardRejected("CardVersionUnsupported", f"card version {shown}: Teams shows only 1.4 or lower")
        if not isinstance(card.get("body", []), list) or not isinstance(card.get("actions", []), list):
            raise CardRejected("InvalidRequestContent", "a card's body and actions must be lists")
    return message


def hook_label(path: str) -> str:
    """``workflows/012345…/triggers/manual/paths/invoke``: which flow, without ids in full (the sig is a query
    parameter and never reaches here)."""
    parts = [p if len(p) <= 16 else p[:6] + "…" for p in path.split("/") if p]
    return "/".join(parts[-7:]) or "workflows"
