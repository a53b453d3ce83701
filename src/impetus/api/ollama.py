"""The Ollama wire format under /api: version, show, generate and chat; tags, ps, pull, delete.

Streams are NDJSON (one JSON object a line), on by default as in Ollama. Models come from the
model manager (`runtime.manager`, models/manager.py): the model routes at the end of this file are
thin shells over its methods, as /admin/models is (api/admin.py). /api/embed(dings) are in
api/embeddings.py, /api/create and /api/copy in api/ollama_create.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from impetus import __version__
from impetus.api import modelfile, profiles, tools
from impetus.api.generation import collect, constrain, record_tokens, render_chat, submit
from impetus.api.ollama_schemas import ChatRequest, GenerateRequest, ShowRequest, _Base
from impetus.api.sse import NDJSON_HEADERS, EventStreamResponse
from impetus.api.tools import Tool, ToolCall
from impetus.engines.protocol import Generation
from impetus.server.errors import ApiError

router = APIRouter()

# The Ollama API version we follow (clients check it); ours is in "impetus".
OLLAMA_VERSION = "0.6.0"


def _iso(ts: float | None) -> str:
    return datetime.fromtimestamp(ts or time.time(), UTC).isoformat().replace("+00:00", "Z")


def _size_label(n: int | None) -> str:
    if not n:
        return ""
    for unit, div in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.1f}".rstrip("0").rstrip(".") + unit
    return str(n)


def _details(rec) -> dict:
    return {
        "parent_model": "",
        "format": rec.format,
        "family": rec.architecture,
        "families": [rec.architecture],
        "parameter_size": _size_label(rec.parameters),
        "quantization_level": rec.quantization or "",
    }


@router.get("/api/version")
async def version() -> dict:
    return {"version": OLLAMA_VERSION, "impetus": __version__}


@router.post("/api/show")
async def show(req: ShowRequest, request: Request) -> dict:
    spec = req.model or req.name
    if not spec:
        raise ApiError(400, "model is required")
    manager = request.app.state.runtime.manager
    d = await asyncio.to_thread(manager.show, spec)
    rec = manager.resolve(spec)
    profile = rec.profile or {}  # a model made by /api/create or /api/copy
    template = profile.get("template") or d.get("chat_template") or ""
    caps = ["embedding"] if rec.kind == "embedding" else ["completion", "tools"]
    out = {
        "modelfile": modelfile.render(rec.parent or rec.path, profile),
        "parameters": modelfile.render_parameters(profile.get("parameters") or {}),
        "template": template,
        "details": {**_details(rec), "parent_model": rec.parent or ""},
        "model_info": d.get("metadata", {}),
        "capabilities": caps,
        "modified_at": _iso(rec.mtime),
    }
    for key in ("system", "license", "messages"):
        if profile.get(key):
            out[key] = profile[key]
    return out


# -- generation -------------------------------------------------------------------------------
async def _target(req: _Base, request: Request) -> profiles.Target:
    return await profiles.acquire(request, req.model, req.keep_alive)


def _sampling(req: _Base, target: profiles.Target, prompt_tokens: int):
    o = req.options
    return target.sampling(o.sampling(), set(o.model_fields_set), prompt_tokens, o.num_ctx)


def _format_plan(fmt) -> tools.Plan:
    if isinstance(fmt, dict):
        return tools.plan([], "none", response_schema=fmt)
    return tools.plan([], "none", json_mode=fmt == "json")


def _loaded(model: str, key: str, value, reason: str = "load") -> dict:
    return {
        "model": model,
        "created_at": _iso(None),
        key: value,
        "done": True,
        "done_reason": reason,
    }


async def _unload_request(req: _Base, request: Request, key: str, value) -> dict | None:
    """Ollama's way to unload: an empty prompt with `keep_alive` 0. None for anything else."""
    from impetus.models.manager import parse_keep_alive

    try:
        if req.keep_alive is None or parse_keep_alive(req.keep_alive) != 0:
            return None
    except ValueError as exc:
        raise ApiError(400, str(exc), param="keep_alive") from None
    manager = request.app.state.runtime.manager
    name = manager.file_record(manager.resolve(req.model)).name
    await manager.unload(name, force=True)
    return _loaded(name, key, value, reason="unload")


def _timings(gen: Generation, started: float) -> dict:
    u = gen.usage
    total = time.perf_counter() - started
    prompt_s = max(0.0, (u.ttft_seconds or total) - u.queue_seconds)
    return {
        "total_duration": int(total * 1e9),
        "load_duration": int(u.queue_seconds * 1e9),
        "prompt_eval_count": u.prompt_tokens,
        "prompt_eval_duration": int(prompt_s * 1e9),
        "eval_count": u.completion_tokens,
        "eval_duration": int(max(0.0, total - prompt_s - u.queue_seconds) * 1e9),
    }


def _done_reason(finish: str | None) -> str:
    return "length" if finish == "length" else "stop"


def _line(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False) + "\n"


def _ndjson(
    source: AsyncIterator[str], gen: Generation, direct: Callable[[str], str] | None = None
) -> EventStreamResponse:
    """`direct`: the line for one token's text, for the engine to write itself (api/sse.py)."""
    return EventStreamResponse(
        source,
        on_disconnect=gen.cancel,
        headers=NDJSON_HEADERS,
        direct=(gen, direct) if direct is not None else None,
    )


def _chat_line(model: str, message: dict) -> str:
    return _line(
        {
            "model": model,
            "created_at": _iso(None),
            "message": {"role": "assistant", **message},
            "done": False,
        }
    )


@router.post("/api/generate")
async def generate(req: GenerateRequest, request: Request):
    if req.images:
        raise ApiError(400, "this model does not support images")
    if not req.prompt and not req.context:
        unloaded = await _unload_request(req, request, "response", "")
        if unloaded is not None:
            return unloaded
    target = await _target(req, request)
    engine, model = target.engine, target.name
    if not req.prompt and not req.context:
        return _loaded(model, "response", "")
    if req.raw:
        prompt_tokens = engine.tokenize(req.prompt, add_special=False, parse_special=True)
    else:
        messages = [{"role": "system", "content": req.system}] if req.system else []
        messages.append({"role": "user", "content": req.prompt})
        prompt_tokens = render_chat(engine, target.messages(messages), target.template)
    tokens = list(req.context or []) + prompt_tokens
    bad = [t for t in tokens if not 0 <= t < engine.info.vocab_size]
    if bad:
        raise ApiError(400, f"context token id {bad[0]} is out of range")
    plan = _format_plan(req.format)
    params = constrain(engine, _sampling(req, target, len(tokens)), plan.grammar)
    started = time.perf_counter()
    gen = submit(engine, tokens, params, "ollama-generate", request)
    if req.stream:
        return _ndjson(_generate_stream(gen, request, model, tokens, started), gen)
    result = await collect(gen, request)
    return {
        "model": model,
        "created_at": _iso(None),
        "response": result.text,
        "done": True,
        "done_reason": _done_reason(result.finish_reason),
        "context": tokens + engine.tokenize(result.text, add_special=False, parse_special=False),
        **_timings(gen, started),
    }


async def _generate_stream(
    gen: Generation, request: Request, model: str, tokens: list[int], started: float
) -> AsyncIterator[str]:
    generated: list[int] = []
    try:
        async for batch in gen.batches():
            last = batch[-1]
            if last.finish_reason == "error":
                yield _line({"error": f"generation failed: {last.error}"})
                return
            for e in batch:
                generated.extend(e.token_ids)
            text = "".join(e.text for e in batch)
            if text:
                yield _line(
                    {"model": model, "created_at": _iso(None), "response": text, "done": False}
                )
            if last.finish_reason is not None:
                yield _line(
                    {
                        "model": model,
                        "created_at": _iso(None),
                        "response": "",
                        "done": True,
                        "done_reason": _done_reason(last.finish_reason),
                        "context": tokens + generated,
                        **_timings(gen, started),
                    }
                )
    finally:
        gen.cancel()
        record_tokens(request, gen)


def _chat_messages(req: ChatRequest) -> list[dict]:
    out = []
    pending: list[ToolCall] = []  # calls awaiting a result, to name results without tool_name
    for i, m in enumerate(req.messages):
        if m.images:
            raise ApiError(400, f"messages[{i}]: this model does not support images")
        msg: dict = {"role": m.role, "content": m.content}
        if m.role == "assistant" and m.tool_calls:
            calls = [
                ToolCall(c.function.name, json.dumps(c.function.arguments), f"call_{i}_{j}")
                for j, c in enumerate(m.tool_calls)
            ]
            msg["tool_calls"] = calls
            pending = list(calls)
        if m.role == "tool":
            call = pending.pop(0) if pending else None
            msg["name"] = m.tool_name or (call.name if call else "")
            msg["tool_call_id"] = call.id if call else ""
        out.append(msg)
    return out


def _ollama_calls(calls: list[ToolCall]) -> list[dict]:
    return [{"function": {"name": c.name, "arguments": c.args()}} for c in calls]


@router.post("/api/chat")
async def chat(req: ChatRequest, request: Request):
    if not req.messages:
        empty = {"role": "assistant", "content": ""}
        unloaded = await _unload_request(req, request, "message", empty)
        if unloaded is not None:
            return unloaded
    target = await _target(req, request)
    engine, model = target.engine, target.name
    if not req.messages:
        return _loaded(model, "message", {"role": "assistant", "content": ""})
    defs = [
        Tool(t.function.name, t.function.description, t.function.parameters or {"type": "object"})
        for t in req.tools or []
    ]
    choice = "auto" if defs else "none"
    schema = req.format if isinstance(req.format, dict) else None
    plan = tools.plan(defs, choice, response_schema=schema, json_mode=req.format == "json")
    tokens = target.chat_prompt(_chat_messages(req), defs, choice)
    params = constrain(engine, _sampling(req, target, len(tokens)), plan.grammar)
    started = time.perf_counter()
    gen = submit(engine, tokens, params, "ollama-chat", request)
    if req.stream:
        source = _chat_stream(gen, request, model, started, plan.tools_active)
        # Tool calls are split out of the text on the event loop; plain text can go direct.
        direct = None if plan.tools_active else lambda text: _chat_line(model, {"content": text})
        return _ndjson(source, gen, direct)
    result = await collect(gen, request)
    content, calls = tools.parse(result.text) if plan.tools_active else (result.text, [])
    message: dict = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = _ollama_calls(calls)
    return {
        "model": model,
        "created_at": _iso(None),
        "message": message,
        "done": True,
        "done_reason": _done_reason(result.finish_reason),
        **_timings(gen, started),
    }


async def _chat_stream(
    gen: Generation, request: Request, model: str, started: float, tools_active: bool
) -> AsyncIterator[str]:
    split = tools.ToolStream() if tools_active else None

    def chunk(message: dict) -> str:
        return _chat_line(model, message)

    try:
        async for batch in gen.batches():
            last = batch[-1]
            if last.finish_reason == "error":
                yield _line({"error": f"generation failed: {last.error}"})
                return
            text = "".join(e.text for e in batch)
            if split is not None:
                text = split.feed(text)
            if text:
                yield chunk({"content": text})
            if last.finish_reason is None:
                continue
            if split is not None:
                rest, calls = split.finish()
                if rest:
                    yield chunk({"content": rest})
                if calls:
                    yield chunk({"content": "", "tool_calls": _ollama_calls(calls)})
            yield _line(
                {
                    "model": model,
                    "created_at": _iso(None),
                    "message": {"role": "assistant", "content": ""},
                    "done": True,
                    "done_reason": _done_reason(last.finish_reason),
                    **_timings(gen, started),
                }
            )
    finally:
        gen.cancel()
        record_tokens(request, gen)


# -- models: the same ModelManager as /admin/models (issue #7) ------------------------------
class _NameBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    name: str | None = None  # older clients
    stream: bool = True
    insecure: bool = False

    def target(self) -> str:
        value = self.model or self.name
        if not value:
            raise ApiError(400, "model is required", param="model")
        return value


def _tag(rec) -> dict:
    return {
        "name": rec.name,
        "model": rec.name,
        "modified_at": _iso(rec.mtime),
        "size": rec.size_bytes,
        "digest": rec.sha256 or "",
        "details": _details(rec),
    }


@router.get("/api/tags")
async def tags(request: Request) -> dict:
    runtime = request.app.state.runtime
    await asyncio.to_thread(runtime.wait_loaded, 30)  # the folder scan follows the default load
    return {"models": [_tag(r) for r in runtime.manager.registry.list()]}


@router.get("/api/ps")
async def ps(request: Request) -> dict:
    manager = request.app.state.runtime.manager
    out = []
    for entry in manager.running():
        rec = manager.registry.get(entry["name"])
        if rec is None:
            continue
        expires = entry["expires_at"]
        out.append(
            {
                **_tag(rec),
                "expires_at": _iso(expires) if expires else "2318-01-01T00:00:00Z",
                "size": entry["memory_bytes"],
                "size_vram": 0,
                "context_length": entry["context_length"],
            }
        )
    return {"models": out}


@router.post("/api/pull")
async def pull(req: _NameBody, request: Request):
    manager = request.app.state.runtime.manager
    spec = req.target()
    if not req.stream:
        await manager.pull(spec)
        return {"status": "success"}

    sub = manager.pull_subscribe(spec)  # the download stops when its last client leaves

    async def lines() -> AsyncIterator[str]:
        async for e in sub.events():
            if "error" in e:
                yield _line({"error": e["error"]})
                return
            yield _line(
                {k: v for k, v in e.items() if k in ("status", "digest", "total", "completed")}
            )

    return EventStreamResponse(lines(), on_disconnect=sub.leave, headers=NDJSON_HEADERS)


@router.delete("/api/delete")
async def delete(req: _NameBody, request: Request) -> dict:
    await request.app.state.runtime.manager.delete(req.target())
    return {}
