"""Request and response bodies of the HTTP API (validated by pydantic)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

FiniteNumber = Annotated[float, Field(strict=True, allow_inf_nan=False)]
FeatureName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
AliasField = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class PredictRequest(BaseModel):
    """``{"features": {"x1": 1.0, "x2": 2.5}}``; ``variant`` (or the ``X-Variant`` header) forces an alias."""

    model_config = ConfigDict(extra="forbid")

    features: Annotated[dict[FeatureName, FiniteNumber], Field(min_length=1, max_length=10_000)]
    variant: AliasField | None = None


class PredictResponse(BaseModel):
    prediction: float
    model: str
    variant: str
    version: int
    run_id: str | None
    routed_by: str
    request_id: str


class ReloadRequest(BaseModel):
    """Optional body of a reload: a specific version instead of where the registry alias points."""

    model_config = ConfigDict(extra="forbid")

    version: Annotated[int, Field(strict=True, ge=1)] | None = None


class ReloadResponse(BaseModel):
    model: str
    alias: str
    version: int
    previous_version: int | None
    run_id: str | None


class DeliverySummary(BaseModel):
    """alerts_lib's counters for one destination: an operator sees "Slack refuses" without the logs."""

    delivered: int
    failed: int
    dropped: int
    queued: int
    last_error: str | None


class HealthResponse(BaseModel):
    status: str
    model: str
    loaded: list[str]
    missing: list[str]
    versions: dict[str, int]
    errors: dict[str, str]
    mode: str
    default_alias: str
    alerts: dict[str, DeliverySummary]
