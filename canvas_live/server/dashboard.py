"""The web dashboard: `GET /` (the page), `GET /web/*` (its modules, styles and icon), `GET /favicon.ico`.

The files are the package `canvas_live.web` (found through `importlib.resources`, in a checkout
and in an installed wheel alike; pyproject ships them as package data). They are public: the page carries no data, and
it hands its own `?token=` to the WebSocket, which is where the token is checked.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

WEB_DIR = Path(str(resources.files("canvas_live.web")))

# The page runs only its own modules and talks only to its own server; no other site may frame it
# (its buttons cancel tasks and start agents).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

# Browsers revalidate (a cheap 304 by ETag) on every load, so an upgraded server never runs
# yesterday's modules beside today's.
REVALIDATE = {"Cache-Control": "no-cache"}


class Assets(StaticFiles):
    """`StaticFiles` whose responses always revalidate."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        """The file, marked `no-cache`."""
        response = super().file_response(*args, **kwargs)
        response.headers.update(REVALIDATE)
        return response


async def index(request: Request) -> Response:
    """`GET /`: the dashboard page."""
    headers = {**REVALIDATE, "Content-Security-Policy": CONTENT_SECURITY_POLICY}
    return FileResponse(WEB_DIR / "index.html", headers=headers, media_type="text/html")


async def favicon(request: Request) -> Response:
    """`GET /favicon.ico`: browsers ask for it on pages that name no icon (a JSON or script URL opened directly)."""
    return FileResponse(WEB_DIR / "favicon.svg", headers=REVALIDATE, media_type="image/svg+xml")


def dashboard_routes() -> list[BaseRoute]:
    """The page, its icon and its assets."""
    return [
        Route("/", index, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
        Mount("/web", app=Assets(directory=WEB_DIR), name="web"),
    ]
