"""The web dashboard: the built UI in `impetus/static`, served at `/` with an SPA fallback.

Plain ASGI middleware placed inside the Host check and outside the API-key check, so the page
loads without a key (the UI then asks for one). It answers only GET/HEAD requests that no route
of the app matches and that are outside the API prefixes; everything else passes through, so
API 404s stay JSON errors.

Hashed files under `/assets/` are immutable for a year; `index.html` is revalidated every time.
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
API_PREFIXES = ("/v1/", "/api/", "/admin/")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

_NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Impetus</title>
<p>The dashboard is not built. Run <code>make web</code> (or <code>make serve</code>).</p>"""


def _is_api(path: str) -> bool:
    return path.startswith(API_PREFIXES) or path in ("/v1", "/api", "/admin")


def _matches_route(scope: Scope) -> bool:
    app = scope.get("app")
    for route in getattr(app, "routes", ()):
        match, _ = route.matches(scope)
        if match != Match.NONE:
            return True
    return False


class StaticUIMiddleware:
    def __init__(self, app: ASGIApp, directory: Path = STATIC_DIR) -> None:
        self.app = app
        self.directory = directory.resolve()

    def _file(self, path: str) -> Path | None:
        """The file for a URL path, never outside the directory."""
        rel = path.lstrip("/")
        if not rel:
            return None
        candidate = (self.directory / rel).resolve()
        if not candidate.is_relative_to(self.directory) or not candidate.is_file():
            return None
        return candidate

    def response(self, scope: Scope) -> Response | None:
        path = scope["path"]
        index = self.directory / "index.html"
        if not index.is_file():
            return HTMLResponse(_NOT_BUILT, status_code=503) if path == "/" else None
        found = self._file(path)
        if found is not None and found != index:
            cache = IMMUTABLE if path.startswith("/assets/") else REVALIDATE
            return FileResponse(found, headers={"cache-control": cache}, stat_result=found.stat())
        last = path.rsplit("/", 1)[-1]
        if "." in last and found is None:
            return None  # a missing file (say /assets/old-hash.js): a real 404, not the page
        # Client-side routes (/chat, /models/…) get the app shell.
        return FileResponse(index, headers={"cache-control": REVALIDATE}, stat_result=index.stat())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or _is_api(scope["path"])
            or _matches_route(scope)
        ):
            await self.app(scope, receive, send)
            return
        response = self.response(scope)
        if response is None:
            await self.app(scope, receive, send)
            return
        etag = response.headers.get("etag")
        for name, value in scope.get("headers", ()):
            if name == b"if-none-match" and etag and value.decode("latin-1") == etag:
                response = Response(
                    status_code=304,
                    headers={"etag": etag, "cache-control": response.headers["cache-control"]},
                )
                break
        await response(scope, receive, send)
