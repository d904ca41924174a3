"""Bearer-token protection of the admin endpoints (``/variant/{alias}/reload``)."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status

from .settings import ServiceSettings

DISABLED_MESSAGE = (
    "reload is disabled: FASTAPI_TOKEN is not set (set ALLOW_UNAUTHENTICATED_RELOAD=true only for a local demo)"
)


def check_bearer(settings: ServiceSettings, authorization: str | None) -> None:
    """Raise 401/503 unless the request may reload. Never echoes what was sent."""
    mode = settings.reload_auth
    if mode == "open":
        return
    if mode == "disabled" or settings.fastapi_token is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, DISABLED_MESSAGE)
    scheme, _, token = (authorization or "").partition(" ")
    expected = settings.fastapi_token.get_secret_value().encode()
    # compare_digest on bytes: constant time whatever the input, and no TypeError on non-ASCII.
    given = token.strip().encode("utf-8", "replace")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given, expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or invalid bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


def require_admin(request: Request) -> None:
    """FastAPI dependency, run before the handler: an anonymous caller learns nothing (not even 404s)."""
    check_bearer(request.app.state.service.settings, request.headers.get("authorization"))
