"""Clean JSON error answers that never echo request input (which may hold secrets) back to the client.

Unhandled exceptions are alerted by alerts_lib's FastAPI integration (installed in ``main``); the handler
here only shapes the 500 answer, with the same request id as the alert.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from alerts_lib.integrations.fastapi import request_id, route_template

log = logging.getLogger(__name__)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    if any(e.get("type") == "json_invalid" for e in errors):
        return JSONResponse({"detail": "malformed JSON body"}, status_code=400)
    # pydantic's errors carry the offending "input" and "ctx"; keep only where and what.
    cleaned = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]
    return JSONResponse({"detail": cleaned[:50]}, status_code=422)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    rid = request_id(request)
    log.error("unhandled %s on %s %s (request_id=%s)", type(exc).__name__, request.method, route_template(request), rid)
    return JSONResponse({"detail": "internal server error", "request_id": rid}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
