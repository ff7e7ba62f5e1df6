"""One place that turns errors into ``{"error": "..."}`` bodies with the right status (and documents them)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope, Send

from model_store import (
    CheckpointError,
    ImageTooLargeError,
    InvalidImageError,
    ModelNotFoundError,
    ModelStoreError,
    NotPngError,
    ReadError,
    UnknownFormatError,
    UnsupportedSamplingError,
)
from model_store.baselines import BaselineError
from model_store.network_pipeline import NetworkInputError
from model_store.pipeline import RecordTooShortError, TooManyWindowsError

from .asgi import HttpMiddleware
from .request_id import HEADER, current_request_id
from .runtime.decoding import DecodeUnavailable
from .runtime.errors import Busy, ImageNotFound, ImagesGone, ModelNotServed, Refusal

logger = logging.getLogger(__name__)

# Most specific first.
STATUS_BY_ERROR: tuple[tuple[type[Exception], int], ...] = (
    (UnknownFormatError, 415),
    (ReadError, 422),
    (UnsupportedSamplingError, 422),
    (RecordTooShortError, 422),
    (BaselineError, 422),
    (NetworkInputError, 422),
    (TooManyWindowsError, 422),
    (NotPngError, 415),
    (ImageTooLargeError, 413),
    (InvalidImageError, 422),
    (ModelNotFoundError, 404),
    (CheckpointError, 409),  # the model is stored but cannot be read
)

# The serving runtime's refusals (app.runtime.errors); Busy is a 503 with Retry-After.
STATUS_BY_REFUSAL: tuple[tuple[type[Refusal], int], ...] = (
    (ModelNotServed, 404),
    (ImageNotFound, 404),
    (ImagesGone, 410),
    (Refusal, 400),
)

# What each status means, for the OpenAPI document (docs/api.md's table says the same).
STATUS_MEANINGS: dict[int, str] = {
    400: "Invalid request: a missing or malformed field or parameter (the message names it and says why)",
    401: "Missing or wrong API key (only when the service has one configured)",
    403: "Cross-site browser request from an origin the service does not allow",
    404: "No such model or version",
    408: "The request body did not arrive within the body timeout",
    409: "The model is stored but its manifest cannot be read",
    410: "The analysis's images are no longer kept (evicted from the bounded cache): run /analyze again",
    413: "Upload over the size limit, or an image over the pixel limits",
    415: "Not a PNG, or station data in no supported format",
    422: "A damaged file, or data the model cannot use (too short, sampled too slowly, unsupported image mode)",
    503: "No model is ready yet (loading, or loading failed), or the service is busy: the inference queue is full "
         "or the request's deadline passed (with Retry-After)",
}


class ErrorBody(BaseModel):
    error: str


class ServiceError(Exception):
    """An error a route raises on purpose, with its status (and headers such as WWW-Authenticate)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route's error statuses, all with the ``{"error"}`` body."""
    return {status: {"model": ErrorBody, "description": STATUS_MEANINGS[status]} for status in statuses}


def public_message(message: str, store: Path) -> str:
    """``message`` without the model store's location (clients need not know the server's paths)."""
    forms = {str(store), str(store.absolute()), str(store.resolve())}
    for form in sorted(forms, key=len, reverse=True):
        message = message.replace(form, "<model store>")
    return message


_OBJECT_REPR = re.compile(r"<[^<>]* (object )?at 0x[0-9a-fA-F]+>")


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The ``{"error"}`` body; a Python object's repr (a memory address) never reaches a client."""
    return JSONResponse({"error": _OBJECT_REPR.sub("<object>", message)}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    kinds = {"body": "form field", "query": "query parameter", "path": "path parameter", "header": "header"}
    parts = []
    for err in exc.errors():
        loc = err.get("loc", ())
        kind = kinds.get(str(loc[0]), "field") if loc else "field"
        name = ".".join(str(p) for p in loc[1:]) or "request"
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")  # our own validators' words, as they are
        if err.get("type") == "missing":
            parts.append(f"{kind} {name!r} is required")
        elif "Expected UploadFile" in msg:
            parts.append(f"{kind} {name!r} must be an uploaded file (a multipart part with a filename, "
                         f"as curl -F {name}=@path sends)")
        else:
            parts.append(f"invalid {kind} {name!r}: {msg}")
    return "; ".join(parts) or "invalid request"


def _multipart_message(exc: BaseException) -> str:
    """What the multipart parser found wrong (Starlette reports only "Invalid multipart data.")."""
    cause: BaseException | None = exc
    while cause is not None and type(cause).__module__.split(".")[0] not in ("python_multipart", "multipart"):
        cause = cause.__cause__ or cause.__context__
    reason = str(cause).strip() if cause is not None else ""
    message = "the multipart/form-data body could not be parsed"
    if "header size" in reason.lower():
        return (f"{message}: a part's header is too long ({reason}); a part's headers, its file name included, "
                "may take at most 4 KB: send the file under a shorter name")
    return f"{message}: {reason}" if reason else f"{message}; send it as curl -F file=@path does"


def _allowed_methods(request: Request) -> str:
    """The methods the OpenAPI document lists for the request's path (every route of it: Starlette's own
    ``Allow`` names only the first matching route's), as an ``Allow`` header value."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), request.url.path):
            methods |= {m.upper() for m in operations}
    return ", ".join(sorted(methods))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(ModelStoreError)
    async def _model_store(request: Request, exc: ModelStoreError) -> JSONResponse:
        status = next((code for cls, code in STATUS_BY_ERROR if isinstance(exc, cls)), 400)
        message = public_message(str(exc), request.app.state.settings.model_store)
        if status == 409:
            logger.error("stored model cannot be read: %s", exc)
        return error_response(status, message)

    @app.exception_handler(Refusal)
    async def _refusal(_: Request, exc: Refusal) -> JSONResponse:
        if isinstance(exc, Busy):
            return error_response(503, exc.message, {"Retry-After": str(exc.retry_after)})
        status = next(code for cls, code in STATUS_BY_REFUSAL if isinstance(exc, cls))
        return error_response(status, exc.message)

    @app.exception_handler(DecodeUnavailable)
    async def _decode_unavailable(_: Request, exc: DecodeUnavailable) -> JSONResponse:
        logger.error("uploads cannot be read: %s", exc)
        return error_response(503, f"uploads cannot be read right now: {exc}", {"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = "no such path; the service's routes are listed at /docs"
        elif exc.status_code == 400 and message == "Invalid multipart data.":
            message = _multipart_message(exc)
        elif exc.status_code == 405 and exc.headers and "Allow" in exc.headers:
            allowed = _allowed_methods(request) or exc.headers["Allow"]
            exc.headers["Allow"] = allowed  # every route of the path (Starlette names the first one's only)
            message = f"{request.method} is not allowed here; use {allowed}"
        return error_response(exc.status_code, message, exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Only an error inside a middleware gets here (UnhandledErrorMiddleware answers the routes'): this runs
        # outside the other middleware, and Starlette raises the error again for the server to log and close
        # the connection, so it is not logged here too.
        headers = {"Connection": "close"}
        rid = current_request_id()
        if rid:
            headers[HEADER] = rid
        return error_response(500, INTERNAL_ERROR, headers)


INTERNAL_ERROR = "internal error; the server log has details"


class UnhandledErrorMiddleware(HttpMiddleware):
    """The innermost middleware: an error no handler took is logged once, with the request's id, and answered
    500 ``{"error"}`` (the connection closed after it); it does not go on to the server, which would log it a
    second time."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception:
            if started:  # too late for a 500: the server ends the connection and logs it
                raise
            logger.exception("unhandled error")
            await error_response(500, INTERNAL_ERROR, {"Connection": "close"})(scope, receive, send)
