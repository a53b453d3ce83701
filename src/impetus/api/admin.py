"""Model management over HTTP: `/admin/models` (JSON; pull progress as server-sent events).

Every route is a thin shell over `ModelManager` (src/impetus/models/manager.py); the Ollama
routes call the same methods.
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
    events = m.pull_events(body.model)

    async def chunks() -> AsyncIterator[str]:
        async for e in events:
            yield event(json.dumps(e))

    return EventStreamResponse(chunks(), on_disconnect=lambda: None)


@router.post("/rescan")
async def rescan(request: Request) -> dict:
    import asyncio

    m = _manager(request)
    _, bad = await asyncio.to_thread(m.registry.scan)
    return {"models": m.list_models(), "rejected": bad}


@router.get("/{name}")
async def show(name: str, request: Request) -> dict:
    import asyncio

    m = _manager(request)
    return await asyncio.to_thread(m.show, name)


@router.post("/{name}/load")
async def load(name: str, request: Request, body: LoadBody | None = None) -> dict:
    body = body or LoadBody()
    m = _manager(request)
    entry = await m.load(name, keep_alive=body.keep_alive, pin=body.pin)
    return entry.to_dict()


@router.post("/{name}/unload")
async def unload(name: str, request: Request, body: UnloadBody | None = None) -> dict:
    body = body or UnloadBody()
    unloaded = await _manager(request).unload(name, force=body.force)
    return {"name": name, "unloaded": unloaded}


@router.delete("/{name}")
async def delete(name: str, request: Request) -> dict:
    return await _manager(request).delete(name)


# --- Ollama's model routes, on the same manager -------------------------------------------

ollama_router = APIRouter(tags=["ollama"])


def _iso(ts: float | None) -> str | None:
    import datetime as dt

    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


def _ollama_details(m: dict) -> dict:
    params = m.get("parameters")
    size = f"{params / 1e9:.1f}B" if params and params >= 1e9 else f"{(params or 0) / 1e6:.0f}M"
    return {
        "parent_model": "",
        "format": m["format"],
        "family": m["architecture"],
        "families": [m["architecture"]],
        "parameter_size": size if params else "",
        "quantization_level": m.get("quantization") or "",
    }


def _ollama_model(m: dict) -> dict:
    return {
        "name": m["name"],
        "model": m["name"],
        "modified_at": _iso(m["mtime"]),
        "size": m["size_bytes"],
        "digest": m["sha256"] or "",
        "details": _ollama_details(m),
    }


class OllamaNameBody(BaseModel):
    model: str | None = None
    name: str | None = None  # older clients
    stream: bool = True
    insecure: bool = False

    def target(self) -> str:
        from impetus.server.errors import ApiError

        value = self.model or self.name
        if not value:
            raise ApiError(400, "model is required", param="model")
        return value


@ollama_router.get("/api/tags")
async def ollama_tags(request: Request) -> dict:
    import asyncio

    await asyncio.to_thread(request.app.state.runtime.wait_loaded, 30)
    return {"models": [_ollama_model(m) for m in _manager(request).list_models()]}


@ollama_router.get("/api/ps")
async def ollama_ps(request: Request) -> dict:
    m = _manager(request)
    out = []
    for entry in m.running():
        rec = m.registry.get(entry["name"])
        if rec is None:
            continue
        d = _ollama_model(m.describe(rec))
        expires = entry["expires_at"]
        d.update(
            expires_at=_iso(expires) if expires else "2318-01-01T00:00:00Z",
            size=entry["memory_bytes"],
            size_vram=0,
            context_length=entry["context_length"],
        )
        out.append(d)
    return {"models": out}


@ollama_router.post("/api/pull")
async def ollama_pull(body: OllamaNameBody, request: Request):
    from starlette.responses import StreamingResponse

    m = _manager(request)
    spec = body.target()
    if not body.stream:
        await m.pull(spec)
        return {"status": "success"}

    async def lines() -> AsyncIterator[bytes]:
        async for e in m.pull_events(spec):
            if "error" in e:
                yield (json.dumps({"error": e["error"]}) + "\n").encode()
                return
            e = {k: v for k, v in e.items() if k in ("status", "digest", "total", "completed")}
            yield (json.dumps(e) + "\n").encode()

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@ollama_router.delete("/api/delete")
async def ollama_delete(body: OllamaNameBody, request: Request) -> dict:
    await _manager(request).delete(body.target())
    return {}
