"""The HTTP endpoints: thin wrappers around :class:`~fastapi_app.service.ModelService`."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse

from alerts_lib import metrics
from alerts_lib.integrations.fastapi import request_id

from .auth import require_admin
from .model import MissingFeaturesError
from .routing import VariantUnavailableError
from .schemas import HealthResponse, PredictRequest, PredictResponse, ReloadRequest, ReloadResponse
from .service import ModelService, PredictionFailedError, ReloadError

log = logging.getLogger(__name__)
router = APIRouter()


def get_service(request: Request) -> ModelService:
    return request.app.state.service  # type: ignore[no-any-return]


Service = Annotated[ModelService, Depends(get_service)]


@router.get("/livez")
async def livez() -> dict[str, str]:
    """Liveness: the process answers. No registry, no lock, no alert."""
    return {"status": "alive"}


@router.get("/health", response_model=HealthResponse)
async def health(service: Service, response: Response) -> HealthResponse:
    """Readiness: ok, or degraded while still serving what loaded (503 only when nothing is loaded).

    ``alerts`` summarises alert delivery per destination (never part of the status: alerts failing to
    reach Slack do not make the model unready)."""
    report = service.health.evaluate()
    if not report.loaded:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    variants = service.store.snapshot()
    return HealthResponse(
        status=report.status,
        model=service.model_name,
        loaded=report.loaded,
        missing=report.missing,
        versions={alias: v.version for alias, v in sorted(variants.items())},
        errors=report.errors,
        mode=service.settings.alias_selection_mode,
        default_alias=service.settings.default_alias,
        alerts=metrics.summary(),
    )


@router.get("/variants")
async def variants(service: Service) -> dict[str, object]:
    snapshot = service.store.snapshot()
    settings = service.settings
    return {
        "model": service.model_name,
        "mode": settings.alias_selection_mode,
        "default_alias": settings.default_alias,
        "canary_alias": settings.canary_target if settings.alias_selection_mode == "canary" else None,
        "canary_percent": settings.canary_percent if settings.alias_selection_mode == "canary" else 0.0,
        "variants": [snapshot[alias].describe() for alias in sorted(snapshot)],
    }


@router.post("/predict", response_model=PredictResponse)
async def predict(
    body: PredictRequest,
    request: Request,
    response: Response,
    service: Service,
    x_variant: Annotated[str | None, Header(max_length=64)] = None,
) -> PredictResponse | JSONResponse:
    rid = request_id(request)
    response.headers["X-Request-ID"] = rid
    forced = body.variant if body.variant is not None else x_variant
    try:
        result = service.predict(body.features, forced, rid)
    except VariantUnavailableError as exc:
        configured = forced is None or forced in service.settings.model_aliases
        code = status.HTTP_503_SERVICE_UNAVAILABLE if configured else status.HTTP_404_NOT_FOUND
        raise HTTPException(code, str(exc) if configured else "unknown variant") from None
    except MissingFeaturesError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except PredictionFailedError:
        return JSONResponse(
            {"detail": "internal error while predicting", "request_id": rid},
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
            headers={"X-Request-ID": rid},
        )
    route = result.route
    return PredictResponse(
        prediction=result.value,
        model=service.model_name,
        variant=route.variant.alias,
        version=route.variant.version,
        run_id=route.variant.run_id,
        routed_by=route.reason,
        request_id=rid,
    )


@router.post("/variant/{alias}/reload", response_model=ReloadResponse, dependencies=[Depends(require_admin)])
def reload_variant(
    alias: str,
    service: Service,
    version: Annotated[int | None, Query(ge=1)] = None,
    body: ReloadRequest | None = None,
) -> ReloadResponse:
    """Hot-swap ``alias`` to ``version`` (query or body) or to where the registry alias points.

    A plain ``def``: registry file I/O runs in the threadpool, not on the event loop.
    """
    if body is not None and body.version is not None:
        if version is not None and version != body.version:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "version given twice with different values")
        version = body.version
    if not service.is_known_alias(alias):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown alias")
    try:
        new, previous = service.reload(alias, version)
    except ReloadError as exc:
        code = status.HTTP_404_NOT_FOUND if exc.not_found else status.HTTP_409_CONFLICT
        raise HTTPException(code, f"reload failed: {exc}") from None
    return ReloadResponse(
        model=service.model_name,
        alias=alias,
        version=new.version,
        previous_version=previous.version if previous else None,
        run_id=new.run_id,
    )
