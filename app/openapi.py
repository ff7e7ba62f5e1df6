"""The OpenAPI document as the service really answers, under its settings.

- Validation errors are 400 ``{"error": "..."}`` (see :mod:`app.errors`), so FastAPI's generated 422
  ``HTTPValidationError`` responses are dropped; each route lists its real statuses with
  ``error_responses``.
- The API key (security schemes and the 401 response) is declared exactly on the routes that require
  it under these settings.
- Every response carries ``X-Request-ID``.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .errors import STATUS_MEANINGS
from .request_id import HEADER as REQUEST_ID_HEADER
from .security import OPENAPI_MARK, key_required
from .settings import Settings

_GENERATED = ("HTTPValidationError", "ValidationError")
SECURITY_SCHEMES = {
    "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "BearerKey": {"type": "http", "scheme": "bearer", "description": "The API key as a bearer token"},
}
_REQUEST_ID = {
    "description": "The request's id: the client's X-Request-ID when it sent a sane one, else a new one",
    "schema": {"type": "string"},
}


def _drop_generated_validation_errors(schema: dict[str, Any]) -> None:
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            if "HTTPValidationError" in json.dumps(responses.get("422", {})):
                del responses["422"]
    components = schema.get("components", {}).get("schemas", {})
    if not any(name in json.dumps(schema["paths"]) for name in _GENERATED):
        for name in _GENERATED:
            components.pop(name, None)


def _declare_api_key(schema: dict[str, Any], settings: Settings) -> None:
    unauthorized = {
        "description": STATUS_MEANINGS[401],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            scope = operation.pop(OPENAPI_MARK, None)
            if scope is not None and key_required(scope, settings):
                schema["components"]["securitySchemes"] = SECURITY_SCHEMES
                operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
                operation["responses"]["401"] = unauthorized


def _declare_request_id(schema: dict[str, Any]) -> None:
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            for response in operation.get("responses", {}).values():
                response.setdefault("headers", {})[REQUEST_ID_HEADER] = _REQUEST_ID


def install_openapi(app: FastAPI, settings: Settings) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            _drop_generated_validation_errors(schema)
            _declare_api_key(schema, settings)
            _declare_request_id(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
