"""Startup: build the service and load the variants. The startup alert and the bounded flush at shutdown
come from alerts_lib's FastAPI integration, which wraps this lifespan (see ``main``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from alerts_lib import Alert, formatters

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


def started_alert(app: FastAPI) -> Alert:
    """``🚀 [FastAPI] started: my_model@A, my_model@B``, built once the variants are loaded (health is known)."""
    service: ModelService = app.state.service
    settings = service.settings
    return formatters.service_started(
        "FastAPI",
        model=settings.model_name,
        aliases=settings.model_aliases,
        version=__version__,
        details={
            "mode": settings.alias_selection_mode,
            "default": f"@{settings.default_alias}",
            "health": service.health.report().status,
        },
    )


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
