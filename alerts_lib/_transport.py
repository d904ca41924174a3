"""One HTTP attempt, bounded by a hard total deadline, for any destination.

httpx timeouts are per operation: a server that trickles one byte every half second resets the read
timeout forever. Each attempt therefore runs on the async client under ``asyncio.wait_for``, which cancels
it (and closes its connection) when the deadline passes, whatever the server is doing. The event loop is
the worker's own, so no caller's loop is ever touched, and lanes post concurrently: a hanging destination
holds only its own lane.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from ._policy import Outcome, Verdict, classify_error
from ._settings import Settings

logger = logging.getLogger("alerts_lib")

_HEADERS = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "alerts_lib"}
_MAX_ANSWER = 4096  # bytes of an answer read for classification: error codes are short

Classify = Callable[[int, str, Mapping[str, str]], Outcome]


def encode(body: Any) -> bytes:
    """JSON as the destinations want it: UTF-8, emoji kept as is, anything unencodable replaced rather than raising."""
    return json.dumps(body, ensure_ascii=False, default=str).encode("utf-8", "replace")


class Transport:
    """Posts bodies; owned by the worker's event loop, shared by every lane (one connection pool)."""

    def __init__(self, settings: Settings) -> None:
        self._deadline = settings.deadline
        self._timeout = httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.read_timeout,
            pool=settings.connect_timeout,
        )
        self._client: httpx.AsyncClient | None = None

    async def post(self, url: str, body: Any, classify: Classify) -> Outcome:
        """Post once; never raises, returns within the deadline (plus scheduling noise)."""
        try:
            return await self._post(url, encode(body), classify)
        except Exception as exc:  # a bug or an exotic failure must cost one attempt, never the worker
            return Outcome(Verdict.RETRY, f"unexpected error ({type(exc).__name__})")

    async def _post(self, url: str, content: bytes, classify: Classify) -> Outcome:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False, headers=_HEADERS)
        try:
            status, answer, headers = await asyncio.wait_for(self._send(self._client, url, content), self._deadline)
        except (asyncio.TimeoutError, TimeoutError) as exc:
            return classify_error(TimeoutError(str(exc)), self._deadline)
        except (httpx.HTTPError, OSError) as exc:
            return classify_error(exc, self._deadline)
        return classify(status, answer, headers)

    @staticmethod
    async def _send(client: httpx.AsyncClient, url: str, content: bytes) -> tuple[int, str, httpx.Headers]:
        """The answer's status, first ``_MAX_ANSWER`` bytes and headers: a server (or a proxy) that answers a
        gigabyte costs that much, not the whole body."""
        async with client.stream("POST", url, content=content) as response:
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= _MAX_ANSWER:
                    break
            return response.status_code, body[:_MAX_ANSWER].decode("utf-8", "replace"), response.headers

    async def aclose(self) -> None:
        try:
            if self._client is not None:
                await asyncio.wait_for(self._client.aclose(), 1.0)
        except Exception:
            logger.debug("alerts_lib: error closing the HTTP client", exc_info=False)
