"""Who may call: an optional API key, and no POSTs that a browser sends on behalf of another site.

A multipart POST is a CORS "simple" request: any web page can make a visitor's browser send one to a
service on their network without asking first. Browsers say where such a request comes from
(``Sec-Fetch-Site``, ``Origin``); a POST from another site is refused unless its origin is listed in
``PRECURSOR_CORS_ORIGINS``. Pages served by the service itself (same origin) and clients that are not
browsers (curl, scripts: no such headers) are unaffected.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, Request

from .deps import SettingsDep
from .errors import ServiceError
from .settings import Settings

_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _host(netloc: str, scheme: str) -> str:
    """``host[:port]`` in lower case, without the scheme's default port."""
    netloc = netloc.lower()
    host, sep, port = netloc.rpartition(":")
    if sep and port.isdigit() and port == _DEFAULT_PORTS.get(scheme):
        return host
    return netloc


def _same_origin(origin: str, request: Request) -> bool:
    """Origin and Host name the same host and port (the scheme may differ behind a TLS proxy)."""
    parts = urlsplit(origin)
    if not parts.scheme or not parts.netloc:
        return False  # "null" (sandboxed pages, files) or garbage
    host = request.headers.get("host", "")
    return _host(parts.netloc, parts.scheme) == _host(host, parts.scheme)


async def refuse_cross_site(request: Request, settings: SettingsDep) -> None:
    origin = request.headers.get("origin")
    if origin is not None and (origin in settings.cors_origins or "*" in settings.cors_origins):
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        allowed = site in ("same-origin", "none")  # "none": the user made the request (typed, bookmarked)
    else:
        allowed = origin is None or _same_origin(origin, request)
    if not allowed:
        raise ServiceError(
            403,
            "cross-site request refused: a browser page from another origin may not call this service; "
            "list that origin in PRECURSOR_CORS_ORIGINS to allow it",
        )


def _given_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return (credentials.strip() or None) if scheme.lower() == "bearer" else None


def api_key_guard(applies: Callable[[Settings], bool]) -> Callable:
    """A dependency that requires the API key (when one is configured) where ``applies(settings)``."""

    async def guard(request: Request, settings: SettingsDep) -> None:
        if settings.api_key is None or not applies(settings):
            return
        given = _given_key(request)
        expected = settings.api_key.get_secret_value().encode()
        if given is None or not hmac.compare_digest(given.encode(), expected):
            raise ServiceError(
                401,
                ("wrong API key" if given else "an API key is required")
                + ": send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                headers={"WWW-Authenticate": 'Bearer realm="precursor-service"'},
            )

    return guard


# Where the API key is required: POST routes and the images of their results always, health and metrics
# as the settings say.
KEY_SCOPES: dict[str, Callable[[Settings], bool]] = {
    "post": lambda s: True,
    "results": lambda s: True,
    "health": lambda s: s.api_key_on_health,
    "metrics": lambda s: s.api_key_on_metrics,
}
# Marks an operation in the OpenAPI document with its scope; app.openapi turns it into the security
# requirement and the 401 response where the settings require the key.
OPENAPI_MARK = "x-api-key-scope"


def guarded(scope: str, *, cross_site: bool = False) -> dict[str, Any]:
    """Route options: the API key guard for ``scope`` (and the cross-site refusal), marked for OpenAPI."""
    dependencies = [Depends(refuse_cross_site)] if cross_site else []
    dependencies.append(Depends(api_key_guard(KEY_SCOPES[scope])))
    return {"dependencies": dependencies, "openapi_extra": {OPENAPI_MARK: scope}}


def key_required(scope: str, settings: Settings) -> bool:
    return settings.api_key is not None and KEY_SCOPES[scope](settings)
