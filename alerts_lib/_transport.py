"""One HTTP attempt, bounded by a hard total deadline.

httpx timeouts are per operation: a server that trickles one byte every half second resets the read
timeout forever. The attempt therefore runs on the async client under ``asyncio.wait_for``, which cancels
it (and closes its connection) when the deadline passes, whatever the server is doing. The event loop is
private to the worker thread, so no caller's loop is ever touched.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx

from ._policy import Outcome, Verdict, classify_error, classify_response
from ._settings import Settings

logger = logging.getLogger("alerts_lib")

_HEADERS = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "alerts_lib"}


def encode(payload: dict[str, Any]) -> bytes:
    """JSON as Slack wants it: UTF-8, emoji kept as is, anything unencodable replaced rather than raising."""
    return json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8", "replace")


class Transport:
    """Posts payloads; owned and used by a single thread."""

    def __init__(self, settings: Settings) -> None:
        self._deadline = settings.deadline
        self._timeout = httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.read_timeout,
            pool=settings.connect_timeout,
        )
        self._loop = asyncio.new_event_loop()
        self._client: httpx.AsyncClient | None = None

    def post(self, url: str, payload: dict[str, Any]) -> Outcome:
        """Post once; never raises, returns within the deadline (plus scheduling noise)."""
        try:
            return self._loop.run_until_complete(self._post(url, encode(payload)))
        except Exception as exc:  # a bug or an exotic failure must cost one alert, never the worker
            return Outcome(Verdict.RETRY, f"unexpected error ({type(exc).__name__})")

    async def _post(self, url: str, body: bytes) -> Outcome:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False, headers=_HEADERS)
        try:
            response = await asyncio.wait_for(self._client.post(url, content=body), self._deadline)
        except (asyncio.TimeoutError, TimeoutError) as exc:
            return classify_error(TimeoutError(str(exc)), self._deadline)
        except httpx.HTTPError as exc:
            return classify_error(exc, self._deadline)
        except OSError as exc:
            return classify_error(exc, self._deadline)
        return classify_response(response.status_code, response.text, response.headers.get("retry-after"))

    def close(self) -> None:
        try:
            if self._client is not None:
                self._loop.run_until_complete(asyncio.wait_for(self._client.aclose(), 1.0))
        except Exception:
            logger.debug("alerts_lib: error closing the HTTP client", exc_info=False)
        finally:
            self._loop.close()
