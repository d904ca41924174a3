"""Slack's incoming-webhook rules: which payloads Slack accepts, and the error it answers otherwise.

The inbox is only useful if a payload it accepts would also be accepted by Slack, so the checks mirror
Slack's answers (``invalid_payload``, ``no_text``, ``invalid_blocks``, ``too_many_attachments``) and its
Block Kit limits. Pure functions: no I/O, easy to test.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTION_ELEMENTS = 25
MAX_MARKDOWN_TEXT = 12_000
MAX_BLOCK_ID = 255
MAX_ATTACHMENTS = 100
MAX_TEXT = 40_000  # Slack cuts the top-level text here rather than refusing it

TEXT_TYPES = {"plain_text", "mrkdwn"}
KNOWN_BLOCKS = {
    "section",
    "header",
    "divider",
    "context",
    "image",
    "actions",
    "rich_text",
    "markdown",
    "file",
    "video",
    "input",
}


class Rejected(ValueError):
    """A payload Slack would refuse: ``error`` is the plain-text body Slack answers, ``status`` its code."""

    def __init__(self, error: str, status: int = 400) -> None:
        super().__init__(error)
        self.error = error
        self.status = status


def parse_body(body: bytes) -> dict[str, Any]:
    """The JSON payload of a webhook POST, whatever its content type, as Slack reads it: a JSON body (curl's
    ``-d '{"text":…}'`` sends one labelled ``application/x-www-form-urlencoded``), or the form field
    ``payload=<json>``."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        payload = _form_payload(body)
    if not isinstance(payload, dict):
        raise Rejected("invalid_payload")
    return payload


def _form_payload(body: bytes) -> object:
    try:
        raw = (parse_qs(body.decode("utf-8")).get("payload") or [""])[0]
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Rejected("invalid_payload") from exc


def validate(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` as Slack would keep it (text cut at Slack's limit), or :class:`Rejected`."""
    text = payload.get("text")
    if text is not None and not isinstance(text, str):
        raise Rejected("invalid_payload")
    blocks = payload.get("blocks")
    if blocks is not None:
        _check_blocks(blocks)
    attachments = payload.get("attachments")
    if attachments is not None:
        if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
            raise Rejected("invalid_payload")
        if len(attachments) > MAX_ATTACHMENTS:
            raise Rejected("too_many_attachments")
    if not (text or "").strip() and not blocks and not attachments:
        raise Rejected("no_text")
    if text is not None and len(text) > MAX_TEXT:
        payload = {**payload, "text": text[:MAX_TEXT]}
    return payload


def _check_blocks(blocks: object) -> None:
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        raise Rejected("invalid_blocks")
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") not in KNOWN_BLOCKS:
            raise Rejected("invalid_blocks")
        block_id = block.get("block_id")
        if block_id is not None and (not isinstance(block_id, str) or len(block_id) > MAX_BLOCK_ID):
            raise Rejected("invalid_blocks")
        _CHECKS.get(block["type"], _no_check)(block)


def _text_object(obj: object, limit: int, types: set[str] = TEXT_TYPES) -> None:
    """A Block Kit text object: a known type and 1..``limit`` characters of text."""
    if not isinstance(obj, dict) or obj.get("type") not in types:
        raise Rejected("invalid_blocks")
    text = obj.get("text")
    if not isinstance(text, str) or not text or len(text) > limit:
        raise Rejected("invalid_blocks")


def _section(block: dict[str, Any]) -> None:
    text, fields = block.get("text"), block.get("fields")
    if text is None and not fields:
        raise Rejected("invalid_blocks")
    if text is not None:
        _text_object(text, MAX_SECTION_TEXT)
    if fields is not None:
        if not isinstance(fields, list) or not fields or len(fields) > MAX_FIELDS:
            raise Rejected("invalid_blocks")
        for field in fields:
            _text_object(field, MAX_FIELD_TEXT)


def _header(block: dict[str, Any]) -> None:
    _text_object(block.get("text"), MAX_HEADER_TEXT, {"plain_text"})


def _context(block: dict[str, Any]) -> None:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements or len(elements) > MAX_CONTEXT_ELEMENTS:
        raise Rejected("invalid_blocks")
    for element in elements:
        if isinstance(element, dict) and element.get("type") == "image":
            _image(element)
        else:
            _text_object(element, MAX_SECTION_TEXT)


def _image(block: dict[str, Any]) -> None:
    if not isinstance(block.get("alt_text"), str) or not (block.get("image_url") or block.get("slack_file")):
        raise Rejected("invalid_blocks")


def _elements(limit: int) -> Any:
    def check(block: dict[str, Any]) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements or len(elements) > limit:
            raise Rejected("invalid_blocks")

    return check


def _markdown(block: dict[str, Any]) -> None:
    text = block.get("text")
    if not isinstance(text, str) or not text or len(text) > MAX_MARKDOWN_TEXT:
        raise Rejected("invalid_blocks")


def _no_check(block: dict[str, Any]) -> None:
    return None


_CHECKS = {
    "section": _section,
    "header": _header,
    "context": _context,
    "image": _image,
    "actions": _elements(MAX_ACTION_ELEMENTS),
    "rich_text": _elements(MAX_BLOCKS),
    "markdown": _markdown,
}


def hook_label(path: str) -> str:
    """The webhook path without its secret: ``T0TEAM/B0HOOK/•••`` (the last segment is the token)."""
    parts = [p for p in path.split("/") if p]
    return "/".join([*parts[:-1], "•••"][-3:]) if parts else "•••"
