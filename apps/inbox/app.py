"""The inbox web app: Slack's webhook endpoint, a JSON listing of what arrived, and the page showing it.

``POST /services/...`` answers exactly like Slack (plain-text ``ok`` or an error code) so a sender's
retry and error handling can be exercised locally. The page (``/``) renders messages in the browser from
``GET /api/messages``; message data only ever becomes DOM text, never markup.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles

from . import teams_rules
from .forward import Forwarder
from .slack_rules import Rejected, hook_label, parse_body, validate
from .store import Message, MessageStore

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
SHUTDOWN_GRACE = 3.0  # seconds
MAX_BODY = 1024 * 1024  # far above any valid payload (50 blocks x 3000 chars + 40k text)
# Defence in depth: even if a rendering bug let markup through, no inline script or handler could run.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def create_app(max_messages: int = 500, forward_url: str | None = None) -> FastAPI:
    """A fresh inbox; ``forward_url`` (a real Slack webhook) also receives every accepted post."""
    store = MessageStore(max_messages)
    forwarder = Forwarder(forward_url) if forward_url else None
    pending: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if pending:  # give in-flight forwards a moment, but never hold up Ctrl-C for a hanging Slack
            _, unfinished = await asyncio.wait(pending, timeout=SHUTDOWN_GRACE)
            for task in unfinished:
                task.cancel()
        if forwarder is not None:
            await forwarder.aclose()

    app = FastAPI(title="alerts_lib inbox", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.store = store

    @app.post("/services/{hook:path}")
    async def receive(hook: str, request: Request) -> Response:
        if not hook.strip("/"):
            return PlainTextResponse("no_service", status_code=404)
        try:
            body = await _read_body(request, Rejected("request_too_large", 413))
            payload = validate(parse_body(body))
        except Rejected as rejected:
            return PlainTextResponse(rejected.error, status_code=rejected.status)
        message = store.add(hook_label(hook), payload)
        log.info("received message %d on %s", message.id, message.hook)
        if forwarder is not None:
            message.forwarded = "pending"
            task = asyncio.create_task(_forward(forwarder, message, json.dumps(payload).encode()))
            pending.add(task)
            task.add_done_callback(pending.discard)
        return PlainTextResponse("ok")

    @app.post("/workflows/{path:path}")
    @app.post("/powerautomate/{path:path}")
    async def receive_teams(path: str, request: Request) -> Response:
        """A Teams Workflows post (an Adaptive Card message): 202 like Power Automate, stored and shown; never
        forwarded to Slack, whose webhooks would refuse it."""
        try:
            body = await _read_body(request, teams_rules.CardRejected("MessageTooLarge", "the body is over 1 MB", 413))
            message_json = teams_rules.validate(body)
        except teams_rules.CardRejected as rejected:
            return JSONResponse(rejected.body(), status_code=rejected.status)
        prefix = request.url.path.strip("/").split("/", 1)[0]
        message = store.add(teams_rules.hook_label(f"{prefix}/{path}"), message_json, kind="teams")
        log.info("received Teams message %d on %s", message.id, message.hook)
        return Response(status_code=202)

    @app.get("/api/messages")
    async def messages(after: int = Query(0, ge=0), limit: int = Query(200, ge=1, le=1000)) -> dict[str, Any]:
        """Newest first; ``after`` returns only messages with a greater id (for polling)."""
        found = store.newest_first(after, limit)
        return {"messages": [m.as_json() for m in found], "latest_id": store.last_id, "count": len(store)}

    @app.delete("/api/messages")
    async def clear() -> dict[str, int]:
        return {"cleared": store.clear()}

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "messages": len(store), "forwarding": forwarder is not None}

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for name, value in PAGE_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return app


async def _read_body(request: Request, too_large: Exception) -> bytes:
    """The request body; ``too_large`` (the endpoint's own answer) is raised past :data:`MAX_BODY`, before
    the whole body is in memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _forward(forwarder: Forwarder, message: Message, body: bytes) -> None:
    message.forwarded = await forwarder.forward(body)
