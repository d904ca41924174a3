"""Alerts as Slack shows them, read back from posted payloads (the fake Slack's requests, the inbox's messages).

alerts_lib combines alerts queued together into one post, separated by dividers; this splits them again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass
class Posted:
    headline: str
    fields: dict[str, str]
    link: str | None
    body: str

    @property
    def dag(self) -> str:
        return self.fields.get("dag", "")


def split_alerts(payloads: Iterable[Mapping[str, Any]]) -> list[Posted]:
    """Every alert in ``payloads``, in order, one per divider-separated group of blocks."""
    out: list[Posted] = []
    for payload in payloads:
        groups: list[list[dict[str, Any]]] = [[]]
        for block in payload.get("blocks", []):
            if block["type"] == "divider":
                groups.append([])
            else:
                groups[-1].append(block)
        out.extend(_parse(blocks) for blocks in groups if blocks)
    return out


def _parse(blocks: list[dict[str, Any]]) -> Posted:
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    fields: dict[str, str] = {}
    for block in blocks:
        for item in block.get("fields", ()):
            label, _, value = item["text"].partition("\n")
            fields[label.strip("*")] = value
    link = next((t[1 : t.index("|")].replace("&amp;", "&") for t in texts if t.startswith("<http")), None)
    body = next((t for t in texts if t.startswith("```")), "")
    mention, _, title = texts[0].rpartition("> *") if texts[0].startswith("<") else ("", "", texts[0])
    headline = f"{mention}> {title.strip('*')}" if mention else title.strip("*")  # "<!subteam^S1> *🔥 …*"
    return Posted(headline, fields, link, body)


def find(alerts: list[Posted], needle: str) -> list[Posted]:
    return [a for a in alerts if needle in a.headline]
