"""The ASGI app (``uvicorn fastapi_app.main:app``); ``create_app`` builds one with injected parts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from alerts_lib.integrations.fastapi import install

from . import __version__
from .api import router
from .errors import install_error_handlers
from .lifespan import lifespan, started_alert
from .limits import BodySizeLimit
from .registry import ModelRegistry
from .settings import ServiceSettings


def create_app(
    settings: ServiceSettings | None = None,
    registry: ModelRegistry | None = None,
    *,
    notify: Callable[[Any], object] | None = None,
) -> FastAPI:
    """Settings not given are read from the environment at startup (not import), so importing never fails.

    ``FastAPIOffline`` is FastAPI serving the Swagger UI assets itself, so ``/docs`` works offline. No
    ``/redoc``: ReDoc's bundle still fetches its logo from a CDN.
    """
    app = FastAPIOffline(title="fastapi_app model service", version=__version__, lifespan=lifespan, redoc_url=None)
    app.state.settings = settings
    app.state.registry = registry
    app.state.notify = notify
    app.add_middleware(BodySizeLimit)
    install_error_handlers(app)
    app.include_router(router)
    # Last: unhandled exceptions alerted with their route template, the startup alert after our startup,
    # a bounded flush after our shutdown, and GET /metrics.
    install(app, service="FastAPI", startup_alert=started_alert, metrics_path="/metrics")
    return app


app = create_app()
