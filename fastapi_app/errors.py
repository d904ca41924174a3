"""Clean JSON error answers that never echo request input (which may hold secrets) back to the client."""

from __future__ import annotations

import logging
import re
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

log = logging.getLogger(__name__)

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id(request: Request) -> str:
    """The caller's ``X-Request-ID`` when it is a plain token, else a fresh one (so logs and alerts match)."""
    given = request.headers.get("x-request-id", "")
    return given if _REQUEST_ID_RE.fullmatch(given) else uuid.uuid4().hex


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    if any(e.get("type") == "json_invalid" for e in errors):
        return JSONResponse({"detail": "malformed JSON body"}, status_code=400)
    # pydantic's errors carry the offending "input" and "ctx"; keep only where and what.
    cleaned = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]
    return JSONResponse({"detail": cleaned[:50]}, status_code=422)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    rid = request_id(request)
    log.error("unhandled %s on %s %s (request_id=%s)", type(exc).__name__, request.method, request.url.path, rid)
    return JSONResponse({"detail": "internal server error", "request_id": rid}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
