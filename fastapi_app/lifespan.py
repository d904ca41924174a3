"""Startup and shutdown: announce, load the variants, and on the way out flush pending alerts (bounded)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import alerts_lib
from alerts_lib import formatters

from . import __version__
from .alerting import send_alert
from .registry import FileRegistry
from .service import ModelService
from .settings import ServiceSettings

log = logging.getLogger(__name__)


def build_service(app: FastAPI) -> ModelService:
    """Settings and registry given to ``create_app`` win; otherwise they come from the environment now."""
    settings: ServiceSettings = app.state.settings or ServiceSettings()
    registry = app.state.registry or FileRegistry(settings.model_registry_dir)
    return ModelService(settings, registry, notify=app.state.notify or send_alert)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    service = build_service(app)
    app.state.service = service
    settings = service.settings
    if settings.reload_auth == "open":
        log.warning("ALLOW_UNAUTHENTICATED_RELOAD=true and no FASTAPI_TOKEN: reload is open to anyone (demo only)")
    elif settings.reload_auth == "disabled":
        log.warning("FASTAPI_TOKEN is not set: POST /variant/{alias}/reload answers 503")
    service.notify(
        formatters.service_started(
            "FastAPI",
            model=settings.model_name,
            aliases=settings.model_aliases,
            version=__version__,
            details={"mode": settings.alias_selection_mode, "default": f"@{settings.default_alias}"},
        )
    )
    await asyncio.to_thread(service.load_all)
    try:
        yield
    finally:
        # Bounded by ALERTS_SHUTDOWN_TIMEOUT, off the event loop; aflush never raises.
        timeout = alerts_lib.get_settings().shutdown_timeout
        if not await alerts_lib.aflush(timeout):
            log.warning("some alerts were still pending after %.1f s at shutdown", timeout)
