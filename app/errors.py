"""One place that turns errors into ``{"error": "..."}`` bodies with the right status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from model_store import (
    CheckpointError,
    InvalidImageError,
    ModelNotFoundError,
    ModelStoreError,
    ReadError,
    UnknownFormatError,
    UnsupportedSamplingError,
)
from model_store import ImageTooLargeError, NotPngError

logger = logging.getLogger(__name__)

# Most specific first.
STATUS_BY_ERROR: tuple[tuple[type[Exception], int], ...] = (
    (UnknownFormatError, 415),
    (ReadError, 422),
    (UnsupportedSamplingError, 422),
    (NotPngError, 415),
    (ImageTooLargeError, 413),
    (InvalidImageError, 400),
    (ModelNotFoundError, 404),
    (CheckpointError, 500),
)


class ServiceError(Exception):
    """An error a route raises on purpose, with its status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{loc or 'request'}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc.status, exc.message)

    @app.exception_handler(ModelStoreError)
    async def _model_store(_: Request, exc: ModelStoreError) -> JSONResponse:
        status = next((code for cls, code in STATUS_BY_ERROR if isinstance(exc, cls)), 400)
        if status >= 500:
            logger.error("model store failure: %s", exc)
        return error_response(status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return error_response(500, "internal error; the server log has details")
