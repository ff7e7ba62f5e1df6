"""The page people open first (``GET /``), its static files, and ``/docs`` and ``/redoc`` offline.

Everything a browser loads comes from the service itself: the page's own scripts and styles
(``app/static``, plain JavaScript and SVG, no build step) and the Swagger UI and ReDoc bundles that
the ``fastapi-offline`` package ships. The page's Content-Security-Policy says so to the browser too.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

from model_store import supported_formats

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
DOCS_ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
STATIC_URL = "/static"
DOCS_ASSETS_URL = "/docs-assets"

# Scripts, styles, fetches and images from this origin only (images also from data: and blob: URLs,
# which the page makes itself); no plugins, no framing by other sites.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# Swagger UI starts from an inline script and both inject styles; everything they fetch stays here. ReDoc
# shows a logo from its maker's CDN, which this policy keeps the browser from fetching.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "worker-src 'self' blob:; connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


class RevalidatedFiles(StaticFiles):
    """Static files that browsers check again on every load (a 304 when unchanged), so a new version of
    the service never runs with an old copy of its page's scripts."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        return response


@lru_cache(maxsize=1)
def page_html() -> str:
    """index.html with the station formats the readers accept."""
    options = "\n".join(f'<option value="{html.escape(name)}">{html.escape(name)}</option>'
                        for name in supported_formats())
    text = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return text.replace("<!--FORMAT_OPTIONS-->", options)


@router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
async def page() -> HTMLResponse:
    return HTMLResponse(page_html(), headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"})


def _docs_page(request: Request, render: Callable[..., HTMLResponse], ui: str, assets: dict[str, str],
               **options: Any) -> HTMLResponse:
    """A documentation UI whose assets (``assets``: parameter -> file) are served here, under DOCS_CSP."""
    root, app = request.scope.get("root_path", ""), request.app
    urls = {param: f"{root}{DOCS_ASSETS_URL}/{file}" for param, file in assets.items()}
    response = render(openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - {ui}", **urls, **options)
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    return _docs_page(
        request, get_swagger_ui_html, "Swagger UI",
        {"swagger_js_url": "swagger-ui-bundle.js", "swagger_css_url": "swagger-ui.css",
         "swagger_favicon_url": "favicon.png"},
        swagger_ui_parameters={"validatorUrl": None},  # no badge: it would send the document's URL elsewhere
    )


@router.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> HTMLResponse:
    return _docs_page(request, get_redoc_html, "ReDoc",
                      {"redoc_js_url": "redoc.standalone.js", "redoc_favicon_url": "favicon.png"},
                      with_google_fonts=False)


def install_page(app: FastAPI) -> None:
    """The page, its files and the offline documentation (create the app with docs_url=None, redoc_url=None)."""
    app.include_router(router)
    app.mount(STATIC_URL, RevalidatedFiles(directory=STATIC_DIR), name="static")
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS_DIR), name="docs-assets")
