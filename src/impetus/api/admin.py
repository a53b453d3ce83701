"""Model management over HTTP: `/admin/models` (JSON; pull progress as server-sent events).

Every route is a thin shell over `ModelManager` (src/impetus/models/manager.py); the Ollama
routes (/api/tags, ps, pull, delete in api/ollama.py) call the same methods.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from impetus.api.sse import EventStreamResponse, event

router = APIRouter(prefix="/admin/models", tags=["admin"])
UPLOAD_PATH = "/admin/models"


class LoadBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keep_alive: str | float | None = None
    pin: bool = False


class UnloadBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    force: bool = False


class PullBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    stream: bool = True


def _manager(request: Request):
    return request.app.state.runtime.manager


@router.get("")
async def list_models(request: Request) -> dict:
    import asyncio

    # The folder scan runs after the default model loads; answer once it is done.
    await asyncio.to_thread(request.app.state.runtime.wait_loaded, 30)
    m = _manager(request)
    return {
        "models": m.list_models(),
        "loaded": m.running(),
        "memory": {"budget_bytes": m.budget, "used_bytes": m.memory_used()},
    }


@router.post("", status_code=201)
async def upload(request: Request) -> dict:
    """multipart/form-data with one file part (or a raw body with ?filename=x.gguf)."""
    m = _manager(request)
    rec = await m.upload(request)
    return m.describe(rec)


@router.post("/pull")
async def pull(body: PullBody, request: Request):
    m = _manager(request)
    if not body.stream:
        return m.describe(await m.pull(body.model))
    # A client that goes away leaves the pull; the download stops once no client is left.
    sub = m.pull_subscribe(body.model)

    async def chunks() -> AsyncIterator[str]:
        async for e in sub.events():
            yield event(json.dumps(e))

    return EventStreamResponse(chunks(), on_disconnect=sub.leave)


@router.post("/rescan")
async def rescan(request: Request) -> dict:
    import asyncio

    m = _manager(request)
    _, bad = await asyncio.to_thread(m.registry.scan)
    return {"models": m.list_models(), "rejected": bad}


@router.get("/{name:path}")
async def show(name: str, request: Request) -> dict:
    import asyncio

    m = _manager(request)
    return await asyncio.to_thread(m.show, name)


@router.post("/{name:path}/load")
async def load(name: str, request: Request, body: LoadBody | None = None) -> dict:
    body = body or LoadBody()
    m = _manager(request)
    entry = await m.load(name, keep_alive=body.keep_alive, pin=body.pin)
    return entry.to_dict()


@router.post("/{name:path}/unload")
async def unload(name: str, request: Request, body: UnloadBody | None = None) -> dict:
    body = body or UnloadBody()
    unloaded = await _manager(request).unload(name, force=body.force)
    return {"name": name, "unloaded": unloaded}


@router.delete("/{name:path}")
async def delete(name: str, request: Request) -> dict:
    return await _manager(request).delete(name)
