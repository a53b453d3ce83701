"""Liveness, readiness and the model list."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

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


def model_card(engine) -> dict:
    info = engine.info
    return {
        "id": info.name,
        "object": "model",
        "created": info.created,
        "owned_by": "impetus",
        "context_length": info.context_length,
        "architecture": info.architecture,
        "size_bytes": info.size_bytes,
        "aliases": sorted(engine.aliases - {info.name}),
    }


@router.get("/v1/models")
async def list_models(request: Request) -> dict:
    runtime = request.app.state.runtime
    data = [model_card(runtime.engine)] if runtime.engine is not None else []
    return {"object": "list", "data": data}
