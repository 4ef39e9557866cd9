"""The same answers as kserve's exception handlers ({"error": ...} with the same status codes), without
a traceback at error level for every client mistake or not-ready probe: those are debug lines."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse
from kserve.errors import InvalidInput, ModelNotFound, ModelNotReady, ServerNotLive, ServerNotReady

log = logging.getLogger("odpipe.serve.errors")

STATUS: dict[type[BaseException], HTTPStatus] = {
    InvalidInput: HTTPStatus.BAD_REQUEST,
    ModelNotFound: HTTPStatus.NOT_FOUND,
    ModelNotReady: HTTPStatus.SERVICE_UNAVAILABLE,
    ServerNotReady: HTTPStatus.SERVICE_UNAVAILABLE,
    ServerNotLive: HTTPStatus.SERVICE_UNAVAILABLE,
    NotImplementedError: HTTPStatus.NOT_IMPLEMENTED,
}


def install(app: Any) -> None:
    for kind, status in STATUS.items():

        async def handler(request: Any, exc: Exception, status: HTTPStatus = status) -> JSONResponse:
            log.debug("%s %s -> %d: %s", request.method, request.url.path, status, exc)
            return JSONResponse(status_code=status, content={"error": str(exc)})

        app.add_exception_handler(kind, handler)
