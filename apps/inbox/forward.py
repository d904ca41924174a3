"""Optional forwarding of accepted posts to a real Slack webhook (``SLACK_FORWARD_URL``).

The forward URL is a secret: it is never logged, shown or put in an error. Requests go straight through an
httpx transport (the client would log the full URL at INFO) under a total deadline, in the background, so
a slow Slack never delays the inbox's own answer.
"""

from __future__ import annotations

import asyncio
import logging

import httpx

log = logging.getLogger(__name__)


class Forwarder:
    """Posts payload bytes to one webhook URL; returns ``"ok"`` or ``"failed: <reason without the URL>"``."""

    def __init__(self, url: str, deadline: float = 10.0) -> None:
        self._url = url
        self._deadline = deadline
        self._transport: httpx.AsyncHTTPTransport | None = None

    def __repr__(self) -> str:
        return "Forwarder(url=<secret>)"

    async def forward(self, body: bytes) -> str:
        if self._transport is None:
            self._transport = httpx.AsyncHTTPTransport(retries=0)
        request = httpx.Request(
            "POST", self._url, content=body, headers={"Content-Type": "application/json; charset=utf-8"}
        )
        try:
            response = await asyncio.wait_for(self._send(request), self._deadline)
        except asyncio.TimeoutError:
            outcome = f"failed: no answer within {self._deadline:g} s"
        except Exception as exc:  # any network error; its text may contain the URL, so only the type
            outcome = f"failed: {type(exc).__name__}"
        else:
            outcome = "ok" if response[0] == 200 else f"failed: HTTP {response[0]} {response[1][:100]}"
        if outcome != "ok":
            log.warning("forwarding to Slack %s", outcome)
        return outcome

    async def _send(self, request: httpx.Request) -> tuple[int, str]:
        assert self._transport is not None
        response = await self._transport.handle_async_request(request)
        try:
            body = await response.aread()
        finally:
            await response.aclose()
        return response.status_code, body.decode("utf-8", "replace").strip()

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()
