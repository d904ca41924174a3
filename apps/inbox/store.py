"""The inbox's memory: the last N accepted webhook posts, each with an increasing id.

Bounded so a runaway sender cannot exhaust memory; ids keep increasing across evictions and clears so a
page polling ``after=<last id>`` never misses or repeats a message.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


@dataclass
class Message:
    id: int
    received_at: str
    hook: str  # the webhook path without its token
    payload: dict[str, Any]
    forwarded: str | None = None  # None: not forwarded; "ok" or "failed: ..." otherwise
    kind: str = "slack"  # or "teams": a Workflows post, an Adaptive Card message

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "received_at": self.received_at,
            "hook": self.hook,
            "text": self.payload.get("text", ""),
            "payload": self.payload,
            "forwarded": self.forwarded,
            "kind": self.kind,
        }


@dataclass
class MessageStore:
    """Thread-safe, bounded, newest-first listing of received messages."""

    max_messages: int = 500
    _messages: deque[Message] = field(init=False)
    _last_id: int = 0

    def __post_init__(self) -> None:
        self._messages = deque(maxlen=max(1, self.max_messages))
        self._lock = threading.Lock()

    def add(self, hook: str, payload: dict[str, Any], kind: str = "slack") -> Message:
        with self._lock:
            self._last_id += 1
            received = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
            message = Message(self._last_id, received, hook, payload, kind=kind)
            self._messages.append(message)
            return message

    def newest_first(self, after: int = 0, limit: int | None = None) -> list[Message]:
        with self._lock:
            found = [m for m in reversed(self._messages) if m.id > after]
        return found[:limit] if limit is not None else found

    def clear(self) -> int:
        with self._lock:
            count = len(self._messages)
            self._messages.clear()
            return count

    @property
    def last_id(self) -> int:
        return self._last_id

    def __len__(self) -> int:
        return len(self._messages)
