"""A plain FastAPI app of its own (not the model service), for testing ``alerts_lib.integrations.fastapi``.

``build(...)`` makes one with or without ``install``, so a test can compare both. ``uvicorn
tests.support.plain_app:app`` serves an installed one; its own lifespan appends ``startup``/``shutdown`` to the
file named by ``PLAIN_APP_EVENTS``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import BackgroundTasks, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

import alerts_lib
from alerts_lib.integrations.fastapi import install

HOSTILE = "<!channel> <https://evil.example|click>"


class _FileEvents(list[str]):
    """Under uvicorn the test is another process: the events also go to a file."""

    def __init__(self, path: str | None) -> None:
        super().__init__()
        self.path = path

    def append(self, event: str) -> None:
        super().append(event)
        if self.path:
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(event + "\n")


def build(
    *,
    installed: bool = True,
    events: list[str] | None = None,
    own_500: bool = False,
    fail_startup: bool = False,
    **options: Any,
) -> FastAPI:
    """The app. ``events`` records its own lifespan; ``own_500`` adds its own ``Exception`` handler."""
    record = events if events is not None else _FileEvents(os.environ.get("PLAIN_APP_EVENTS"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
        record.append("startup")
        alerts_lib.send_slack_alert("the app's own startup alert")
        if fail_startup:
            raise ConnectionError("database unreachable")
        yield {"greeting": "hello from the lifespan state"}
        await asyncio.sleep(0)
        record.append("shutdown")

    app = FastAPI(title="plain", version="7.1", lifespan=lifespan)

    @app.get("/ok")
    async def ok(request: Request) -> dict[str, object]:
        return {"ok": True, "state": request.state.greeting}

    @app.get("/items/{item_id}")
    async def async_boom(item_id: str) -> None:
        raise RuntimeError(f"boom {HOSTILE}")

    @app.post("/sync/{item_id}/do")
    def sync_boom(item_id: str) -> None:  # a plain def: runs in the threadpool
        raise KeyError("missing")

    @app.get("/http/{code}")
    async def http_error(code: int) -> None:
        raise HTTPException(code, f"the app's own {code}", headers={"X-Why": "app"})

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"chunk{i}\n".encode()

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/background")
    async def background(tasks: BackgroundTasks) -> PlainTextResponse:
        def fail_later() -> None:
            raise LookupError("background task failed")

        tasks.add_task(fail_later)
        return PlainTextResponse("accepted", status_code=202)

    @app.get("/state-id")
    async def state_id(request: Request) -> None:
        request.state.request_id = "set-by-the-app"
        raise ValueError("with the app's own request id")

    sub = FastAPI()

    @sub.get("/things/{thing_id}")
    def sub_boom(thing_id: str) -> None:
        raise ArithmeticError("in a mounted app")

    app.mount("/tenants/{tenant}", sub)

    if own_500:

        async def on_error(request: Request, exc: Exception) -> JSONResponse:
            return JSONResponse({"detail": "ours", "kind": type(exc).__name__}, status_code=500, headers={"X-Own": "1"})

        app.add_exception_handler(Exception, on_error)

    if installed:
        install(app, service="plain", **options)
    return app


app = build(stats_path="/_alerts", metrics_path="/metrics")
