"""The app factory: settings in, a FastAPI app out. All state lives on `app.state`."""

from __future__ import annotations

import socket
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from impetus import __version__
from impetus.api.sse import SERVER_SEND
from impetus.config import Settings
from impetus.metrics import Metrics
from impetus.server import errors
from impetus.server.keys import KeyStore
from impetus.server.middleware import (
    AccessLogMiddleware,
    ApiKeyMiddleware,
    BodyLimitMiddleware,
    HostCheckMiddleware,
)
from impetus.server.runtime import Runtime
from impetus.server.static import StaticUIMiddleware

_WILDCARD = {"0.0.0.0", "::", ""}


def allowed_hosts(settings: Settings) -> tuple[set[str], bool]:
    """Host header values we answer to, and whether any IP literal is fine (wildcard bind)."""
    hosts = {"localhost", "127.0.0.1", "[::1]", *settings.allowed_hosts}
    host = settings.host
    hosts.add(f"[{host}]" if ":" in host else host)
    wildcard = host in _WILDCARD
    if wildcard:
        hosts.add(socket.gethostname().lower())
    return hosts, wildcard


def cors_origins(settings: Settings) -> list[str]:
    port = settings.port
    return [
        f"http://localhost:{port}",
        f"http://127.0.0.1:{port}",
        *settings.cors_origins,
    ]


class ImpetusApp(FastAPI):
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            # The server's own send, before any middleware wraps it: a token stream finds the
            # client's socket through it (api/sse.py, client_socket).
            scope[SERVER_SEND] = send
        await super().__call__(scope, receive, send)


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> FastAPI:
    from impetus.api import admin, rag  # their upload paths are exempt from the body limit

    runtime = runtime or Runtime(settings)
    metrics = Metrics(runtime)
    keys = KeyStore(settings.keys_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if runtime.state == "starting":
            runtime.start_loading()
        yield
        from impetus.api.embeddings import close_embedder
        from impetus.api.rag import close_rag

        close_rag(app)
        close_embedder(app)
        runtime.close()
        keys.close()

    hosts, any_ip = allowed_hosts(settings)
    middleware = [
        Middleware(AccessLogMiddleware, on_response=metrics.observe_response),
        Middleware(HostCheckMiddleware, allowed=hosts, allow_ip_literals=any_ip),
        Middleware(
            CORSMiddleware,
            allow_origins=cors_origins(settings),
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["retry-after"],
        ),
        # Model uploads stream to disk under their own limit (max_upload_bytes).
        Middleware(
            BodyLimitMiddleware,
            max_bytes=settings.max_body_bytes,
            exempt=(("POST", admin.UPLOAD_PATH), ("POST", rag.UPLOAD_PREFIX)),
        ),
        # The dashboard's files load without a key; the UI then asks for one.
        Middleware(StaticUIMiddleware),
        Middleware(ApiKeyMiddleware, keys=settings.api_key_values(), store=keys),
    ]
    app = ImpetusApp(
        title="Impetus",
        version=__version__,
        lifespan=lifespan,
        middleware=middleware,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.metrics = metrics
    app.state.keys = keys
    errors.install(app)

    from impetus.api import embeddings, health, openai

    app.include_router(health.router)
    app.include_router(openai.router)
    from impetus.api import anthropic

    app.include_router(anthropic.router)
    from impetus.api import ollama, ollama_create

    app.include_router(ollama.router)
    app.include_router(ollama_create.router)
    from impetus.api import dashboard

    app.include_router(dashboard.router)
    app.include_router(embeddings.router)
    app.include_router(rag.router)
    from impetus.api import admin_keys

    app.include_router(admin.router)
    app.include_router(admin_keys.router)
    return app
