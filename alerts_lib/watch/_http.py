"""One HTTP client for every poll: a hard total deadline per request, a capped body, and no exceptions.

httpx timeouts are per operation, so a server that trickles a byte every half second would hold a request
forever; each request therefore runs under ``asyncio.wait_for`` (as the delivery core's transport does). The
body is read by streaming and abandoned past ``max_body`` bytes, so a 10 MB answer costs 1 MB at most. Every
failure becomes a :class:`Reply` whose ``error`` says what happened in words, without the URL or a secret.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger("alerts_lib.watch")

MAX_BODY = 1_000_000
# identity: bodies are tiny, and the size cap then counts what the server sent.
_HEADERS = {"User-Agent": "alerts_lib-watch", "Accept": "application/json", "Accept-Encoding": "identity"}


class _TooLarge(Exception):
    pass


@dataclass(frozen=True)
class Reply:
    """What one request got: an HTTP status and body, or ``error`` (then ``status`` may be None)."""

    status: int | None
    body: bytes = b""
    error: str | None = None

    @property
    def answered(self) -> bool:
        """An HTTP answer arrived in full, whatever its status."""
        return self.status is not None and self.error is None

    @property
    def ok(self) -> bool:
        return self.answered and self.status is not None and 200 <= self.status < 300

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON (an HTML error page, a proxy's text)."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None

    def describe(self) -> str:
        """``HTTP 503``, ``connection refused``, ``no answer within 8 s``."""
        if self.error:
            return self.error
        return f"HTTP {self.status}"


class Http:
    """``async with Http(timeout) as http: reply = await http.get(url)``; one connection pool per watch."""

    def __init__(self, timeout: float, max_body: int = MAX_BODY) -> None:
        self.timeout = timeout
        self.max_body = max_body
        per_operation = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        self._client = httpx.AsyncClient(timeout=per_operation, follow_redirects=False, headers=_HEADERS)

    async def __aenter__(self) -> Http:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        try:
            await asyncio.wait_for(self._client.aclose(), 1.0)
        except Exception as exc:  # closing must not fail a shutdown
            log.debug("watch: closing the HTTP client failed (%s)", type(exc).__name__)

    def timed_out(self) -> Reply:
        """What a request that ran out of its deadline got (also for a poll cut off before its request could say)."""
        return Reply(None, error=f"no answer within {self.timeout:g} s")

    async def get(self, url: str, **kwargs: Any) -> Reply:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> Reply:
        return await self.request("POST", url, **kwargs)

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
        auth: tuple[str, str] | None = None,
        params: dict[str, str | int] | None = None,
    ) -> Reply:
        """Never raises (except cancellation); at most ``timeout`` seconds, whatever the server does."""
        try:
            return await asyncio.wait_for(self._request(method, url, headers, json_body, auth, params), self.timeout)
        except asyncio.TimeoutError:
            return self.timed_out()
        except _TooLarge:
            return Reply(None, error=f"answer larger than {self.max_body // 1000} kB")
        except httpx.HTTPError as exc:
            return Reply(None, error=_describe(exc))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an invalid URL, a bug in a dependency: a failed poll, never a crash
            return Reply(None, error=f"request failed ({type(exc).__name__})")

    async def _request(
        self,
        method: str,
        url: str,
        headers: dict[str, str] | None,
        json_body: Any,
        auth: tuple[str, str] | None,
        params: dict[str, str | int] | None,
    ) -> Reply:
        request = self._client.build_request(method, url, headers=headers, json=json_body, params=params)
        response = await self._client.send(request, stream=True, auth=auth)
        try:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.max_body:
                raise _TooLarge
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self.max_body:
                    raise _TooLarge
            return Reply(response.status_code, bytes(body))
        finally:
            await response.aclose()


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect timed out"
    if isinstance(exc, httpx.ConnectError):
        causes = _causes(exc)
        if any(isinstance(c, ConnectionRefusedError) for c in causes) or "refused" in str(exc).lower():
            return "connection refused"
        if any(isinstance(c, socket.gaierror) for c in causes):
            return "host name not found"
        return "cannot connect"
    if isinstance(exc, httpx.ReadTimeout):
        return "read timed out"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection closed without a complete answer"
    if isinstance(exc, httpx.ReadError):
        return "connection reset"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return "unsupported URL scheme"
    return f"request failed ({type(exc).__name__})"


def _causes(exc: BaseException) -> list[BaseException]:
    """The chain of causes (anyio wraps a refused connect in "All connection attempts failed")."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    for item in list(seen):
        seen += [e for e in getattr(item, "exceptions", ()) if isinstance(e, BaseException)]
    return seen
