"""Operations: liveness/readiness and Prometheus metrics."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import JSONResponse, Response

from impetus import __version__

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """200 once a model is ready; 503 while it loads or after it failed (the body says why)."""
    runtime = request.app.state.runtime
    body = {
        "status": runtime.state,
        "version": __version__,
        "uptime_seconds": round(time.time() - runtime.started, 3),
        "model": None,
    }
    if runtime.engine is not None:
        info = runtime.engine.info
        body["model"] = {
            "id": info.name,
            "engine": runtime.engine.name,
            "context_length": info.context_length,
            "load_seconds": runtime.load_seconds,
        }
    if runtime.error:
        body["error"] = runtime.error
    return JSONResponse(body, status_code=200 if runtime.state == "ready" else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    body = request.app.state.metrics.render()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
