"""Startup: build the service and load the variants. The startup alert and the bounded flush at shutdown
come from alerts_lib's FastAPI integration, which wraps this lifespan (see ``main``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

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


def startup_details(app: FastAPI) -> dict[str, object]:
    """The fields of the startup alert, read once the variants are loaded."""
    service: ModelService = app.state.service
    settings = service.settings
    return {
        "model": settings.model_name,
        "aliases": ", ".join(settings.model_aliases),
        "mode": settings.alias_selection_mode,
        "health": service.health.report().status,
    }


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    service = build_service(app)
    app.state.service = service
    settings = service.settings
    if settings.reload_auth == "open":
        log.warning("ALLOW_UNAUTHENTICATED_RELOAD=true and no FASTAPI_TOKEN: reload is open to anyone (demo only)")
    elif settings.reload_auth == "disabled":
        log.warning("FASTAPI_TOKEN is not set: POST /variant/{alias}/reload answers 503")
    await asyncio.to_thread(service.load_all)
    yield
