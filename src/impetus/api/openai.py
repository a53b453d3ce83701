"""The OpenAI wire format: /v1/chat/completions and /v1/completions."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, Request

from impetus.api import profiles, tools
from impetus.api.generation import (
    collect_all,
    constrain,
    record_all,
    record_tokens,
    submit_n,
    token_bytes,
)
from impetus.api.openai_schemas import ChatCompletionRequest, CompletionRequest, NamedToolChoice
from impetus.api.sse import EventStreamResponse, event
from impetus.api.tool_stream import ArgsDelta, CallStart, Text, ToolCallStream
from impetus.api.tools import Tool, ToolCall
from impetus.engines.protocol import Generation, TokenLogprob, Usage
from impetus.server.errors import ApiError

router = APIRouter()


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
    """The loaded models, the default first: what a client can use without waiting for a load
    (the dashboard's chat picker shows a model as soon as it is loaded on the Models page)."""
    runtime = request.app.state.runtime
    default = runtime.manager.default_name
    loaded = sorted(runtime.manager.loaded(), key=lambda e: (e.name != default, e.name))
    return {"object": "list", "data": [model_card(e.engine) for e in loaded]}


@router.get("/v1/models/{model_id:path}")
async def get_model(model_id: str, request: Request) -> dict:
    """A loaded model's card; a registered one that is not loaded is described from the
    registry (a GET must not load a model). Unknown: 404 model_not_found."""
    manager = request.app.state.runtime.manager
    rec = manager.resolve(model_id)
    entry = manager.get_loaded(manager.file_record(rec).name)
    if entry is not None:
        return {**model_card(entry.engine), "id": rec.name}
    return {
        "id": rec.name,
        "object": "model",
        "created": int(rec.added_at),
        "owned_by": "impetus",
        "context_length": rec.context_length,
        "architecture": rec.architecture,
        "size_bytes": rec.size_bytes,
        "aliases": sorted(rec.aliases),
        "loaded": False,
    }


def _stream_error(message: str | None) -> dict:
    """An error inside an open stream (the 200 is already sent), in OpenAI's error shape."""
    return {
        "error": {
            "message": message or "generation failed",
            "type": "server_error",
            "param": None,
            "code": "generation_failed",
        }
    }


def _usage(u: Usage) -> dict:
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
    }


def _given(req) -> set[str]:
    """Ollama names of the sampling fields a request set (a derived model fills the rest)."""
    names = {"max_tokens": "num_predict", "max_completion_tokens": "num_predict"}
    return profiles.given(req.model_fields_set, names)


def _finish(reason: str | None) -> str:
    return "length" if reason == "length" else "stop"


def _chat_messages(req: ChatCompletionRequest) -> list[dict]:
    """OpenAI messages → neutral messages (see `tools.prepare`)."""
    out = []
    names: dict[str, str] = {}  # tool_call_id → function name, for tool results
    for i, m in enumerate(req.messages):
        try:
            content = m.text()
        except ValueError as exc:
            raise ApiError(400, str(exc), param=f"messages[{i}].content") from exc
        role = "system" if m.role == "developer" else m.role
        msg: dict = {"role": role, "content": content}
        if m.tool_calls and role == "assistant":
            calls = [
                ToolCall(c.function.name, c.function.arguments, c.id or f"call_{i}_{j}")
                for j, c in enumerate(m.tool_calls)
            ]
            names.update((c.id, c.name) for c in calls)
            msg["tool_calls"] = calls
        if role == "tool":
            msg["tool_call_id"] = m.tool_call_id or ""
            msg["name"] = m.name or names.get(m.tool_call_id or "", "")
        out.append(msg)
    return out


def _plan(req: ChatCompletionRequest) -> tuple[list[Tool], str, tools.Plan]:
    defs = [
        Tool(t.function.name, t.function.description, t.function.parameters or {"type": "object"})
        for t in req.tools or []
    ]
    choice = req.tool_choice
    if isinstance(choice, NamedToolChoice):
        choice = choice.function.name
    if choice is None:
        choice = "auto" if defs else "none"
    if choice != "none" and not defs:
        raise ApiError(400, "tool_choice needs tools", param="tool_choice")
    fmt = req.response_format
    schema = None
    if fmt is not None and fmt.type == "json_schema":
        if fmt.json_schema is None:
            raise ApiError(400, "json_schema is required", param="response_format.json_schema")
        schema = fmt.json_schema.schema_
    json_mode = fmt is not None and fmt.type == "json_object"
    p = tools.plan(
        defs, choice, parallel=req.parallel_tool_calls, response_schema=schema, json_mode=json_mode
    )
    return defs, choice, p


def chat_logprobs(engine, lps: list[TokenLogprob]) -> dict:
    def entry(token: int, logprob: float) -> dict:
        raw = token_bytes(engine, token)
        return {
            "token": raw.decode("utf-8", "replace"),
            "logprob": logprob,
            "bytes": list(raw),
        }

    return {
        "content": [
            {**entry(lp.token, lp.logprob), "top_logprobs": [entry(t, v) for t, v in lp.top]}
            for lp in lps
        ],
        "refusal": None,
    }


def completion_logprobs(engine, lps: list[TokenLogprob], offset: int) -> dict:
    tokens, offsets = [], []
    for lp in lps:
        tokens.append(token_bytes(engine, lp.token).decode("utf-8", "replace"))
        offsets.append(offset)
        offset += len(tokens[-1])
    return {
        "tokens": tokens,
        "token_logprobs": [lp.logprob for lp in lps],
        "top_logprobs": [
            {token_bytes(engine, t).decode("utf-8", "replace"): v for t, v in lp.top} for lp in lps
        ],
        "text_offset": offsets,
    }


def _tool_call_json(calls: list[ToolCall]) -> list[dict]:
    return [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in calls
    ]


def _n_usage(gens: list[Generation]) -> dict:
    u = Usage(
        prompt_tokens=gens[0].usage.prompt_tokens,
        completion_tokens=sum(g.usage.completion_tokens for g in gens),
        cached_tokens=gens[0].usage.cached_tokens,
    )
    return _usage(u)


@router.post("/v1/chat/completions")
async def chat_completions(req: ChatCompletionRequest, request: Request):
    if req.rag is not None:
        from impetus.api.rag_chat import rag_chat_completion

        return await rag_chat_completion(req, request, req.rag)
    target = await profiles.acquire(request, req.model)
    engine = target.engine
    defs, choice, plan = _plan(req)
    tokens = target.chat_prompt(_chat_messages(req), defs, choice)
    params = req.sampling(req.max_completion_tokens or req.max_tokens)
    params = target.sampling(params, _given(req), len(tokens), None)
    params = constrain(engine, params, plan.grammar)
    rid = "chatcmpl-" + secrets.token_hex(12)
    n = req.n or 1
    gens = submit_n(engine, tokens, params, rid, n, request)
    model = target.name
    created = int(time.time())
    if req.stream:
        if n == 1 and not plan.tools_active and params.logprobs is None:
            chunks = _ChatChunks(rid, model, created, req.include_usage)
            source = _chat_stream(gens[0], request, chunks)
            return _sse(source, gens, direct=(gens[0], chunks.content))
        source = _chat_stream_general(
            engine, gens, request, rid, model, created, req.include_usage, plan.tools_active
        )
        return _sse(source, gens)
    results = await collect_all(gens, request)
    choices = []
    for i, result in enumerate(results):
        content, calls = tools.parse(result.text) if plan.tools_active else (result.text, [])
        message: dict = {"role": "assistant", "content": content if not calls else None}
        if calls:
            message["tool_calls"] = _tool_call_json(calls)
        choices.append(
            {
                "index": i,
                "message": message,
                "logprobs": chat_logprobs(engine, result.logprobs)
                if params.logprobs is not None
                else None,
                "finish_reason": "tool_calls" if calls else _finish(result.finish_reason),
            }
        )
    return {
        "id": rid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": f"impetus-{engine.name}",
        "choices": choices,
        "usage": _n_usage(gens),
    }


async def _merge(streams: list[AsyncIterator[str]]) -> AsyncIterator[str]:
    """Interleave several choices' chunk streams as their chunks arrive."""
    if len(streams) == 1:
        async for chunk in streams[0]:
            yield chunk
        return
    queue: asyncio.Queue = asyncio.Queue()
    done = object()

    async def pump(stream: AsyncIterator[str]) -> None:
        try:
            async for chunk in stream:
                await queue.put(chunk)
        finally:
            await queue.put(done)

    tasks = [asyncio.create_task(pump(s)) for s in streams]
    try:
        left = len(tasks)
        while left:
            item = await queue.get()
            if item is done:
                left -= 1
            else:
                yield item
    finally:
        for t in tasks:
            t.cancel()


class _StreamError(Exception):
    pass


async def _chat_stream_general(
    engine,
    gens: list[Generation],
    request: Request,
    rid: str,
    model: str,
    created: int,
    include_usage: bool,
    tools_active: bool,
) -> AsyncIterator[str]:
    """Chunks for n > 1, tool calls and logprobs (dict-built: slower than `_chat_stream`)."""
    base = {
        "id": rid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": "impetus",
    }

    def chunk(index: int, delta: dict, finish: str | None = None, lps=None) -> str:
        body = {
            **base,
            "choices": [{"index": index, "delta": delta, "logprobs": lps, "finish_reason": finish}],
        }
        if include_usage:
            body["usage"] = None
        return event(json.dumps(body, ensure_ascii=False))

    def deltas(events: list) -> list[dict]:
        out: list[dict] = []
        for e in events:
            if isinstance(e, Text):
                out.append({"content": e.text})
            elif isinstance(e, CallStart):
                fn = {"name": e.name, "arguments": ""}
                out.append(
                    {
                        "tool_calls": [
                            {"index": e.index, "id": e.id, "type": "function", "function": fn}
                        ]
                    }
                )
            elif isinstance(e, ArgsDelta):
                out.append({"tool_calls": [{"index": e.index, "function": {"arguments": e.text}}]})
        return out

    async def one(index: int, gen: Generation) -> AsyncIterator[str]:
        calls = ToolCallStream() if tools_active else None
        yield chunk(index, {"role": "assistant", "content": ""})
        async for batch in gen.batches():
            last = batch[-1]
            if last.finish_reason == "error":
                raise _StreamError(last.error)
            text = "".join(e.text for e in batch)
            found = [{"content": text}] if calls is None else deltas(calls.feed(text))
            lps = [e.logprob for e in batch if e.logprob is not None]
            if lps and not found:
                found = [{"content": ""}]
            for i, delta in enumerate(found):
                logprobs = chat_logprobs(engine, lps) if lps and i == 0 else None
                if delta.get("content") != "" or logprobs is not None:
                    yield chunk(index, delta, lps=logprobs)
            if last.finish_reason is not None:
                reason = _finish(last.finish_reason)
                if calls is not None:
                    for delta in deltas(calls.finish()):
                        yield chunk(index, delta)
                    # A call cut off by max_tokens has streamed its start: say "length".
                    if calls.calls and calls.open_call is None:
                        reason = "tool_calls"
                yield chunk(index, {}, reason)

    try:
        async for out in _merge([one(i, g) for i, g in enumerate(gens)]):
            yield out
        if include_usage:
            yield event(json.dumps({**base, "choices": [], "usage": _n_usage(gens)}))
        yield event("[DONE]")
    except _StreamError as exc:
        yield event(json.dumps(_stream_error(str(exc))))
    finally:
        for gen in gens:
            gen.cancel()
        record_all(request, gens)


class _ChatChunks:
    """The fast path's chunks, assembled as strings around json.dumps(text): the dict-based
    encoder was a measurable share of the time per token (on the event loop then; on the
    engine thread now, which calls `content` for every token it writes itself)."""

    def __init__(self, rid: str, model: str, created: int, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.prefix = (
            f'data: {{"id":"{rid}","object":"chat.completion.chunk","created":{created},'
            f'"model":{json.dumps(model)},"system_fingerprint":"impetus",'
        )
        self.head = self.prefix + '"choices":[{"index":0,'
        self.tail = '}],"usage":null}\n\n' if include_usage else "}]}\n\n"

    def role(self) -> str:
        return (
            f'{self.head}"delta":{{"role":"assistant","content":""}},"logprobs":null,'
            f'"finish_reason":null{self.tail}'
        )

    def content(self, text: str) -> str:
        delta = json.dumps(text, ensure_ascii=False)
        return (
            f'{self.head}"delta":{{"content":{delta}}},"logprobs":null,"finish_reason":null'
            f"{self.tail}"
        )

    def finish(self, reason: str) -> str:
        return f'{self.head}"delta":{{}},"logprobs":null,"finish_reason":"{reason}"{self.tail}'

    def usage(self, usage: Usage) -> str:
        """The closing usage chunk (`stream_options.include_usage`): no choices."""
        return f'{self.prefix}"choices":[],"usage":{json.dumps(_usage(usage))}}}\n\n'


async def _chat_stream(
    gen: Generation, request: Request, chunks: _ChatChunks
) -> AsyncIterator[str]:
    try:
        yield chunks.role()
        async for batch in gen.batches():
            text = "".join(e.text for e in batch)
            last = batch[-1]
            if last.finish_reason == "error":
                yield event(json.dumps(_stream_error(last.error)))
                return
            out = chunks.content(text) if text else ""
            if last.finish_reason is not None:
                out += chunks.finish(_finish(last.finish_reason))
            if out:
                yield out
        if chunks.include_usage:
            yield chunks.usage(gen.usage)
        yield event("[DONE]")
    finally:
        gen.cancel()
        record_tokens(request, gen)


def _sse(
    source: AsyncIterator[str],
    gens: list[Generation],
    direct: tuple[Generation, Callable[[str], str]] | None = None,
) -> EventStreamResponse:
    def cancel() -> None:
        for gen in gens:
            gen.cancel()

    return EventStreamResponse(source, on_disconnect=cancel, direct=direct)


@router.post("/v1/completions")
async def completions(req: CompletionRequest, request: Request):
    target = await profiles.acquire(request, req.model)
    engine = target.engine
    if isinstance(req.prompt, list) and req.prompt and isinstance(req.prompt[0], int):
        tokens = list(req.prompt)
        bad = [t for t in tokens if not 0 <= t < engine.info.vocab_size]
        if bad:
            raise ApiError(400, f"token id {bad[0]} is out of range", param="prompt")
        prompt_text = engine.detokenize(tokens)
    else:
        prompt_text = req.prompt if isinstance(req.prompt, str) else req.prompt[0]
        if not prompt_text:
            raise ApiError(400, "prompt must not be empty", param="prompt")
        tokens = engine.tokenize(prompt_text, add_special=True, parse_special=True)
    params = target.sampling(req.sampling(req.max_tokens), _given(req), len(tokens), None)
    rid = "cmpl-" + secrets.token_hex(12)
    gens = submit_n(engine, tokens, params, rid, req.n or 1, request)
    model = target.name
    created = int(time.time())
    prefix = prompt_text if req.echo else ""
    if req.stream:
        streams = [
            _completion_stream(engine, g, i, rid, model, created, req.include_usage, prefix)
            for i, g in enumerate(gens)
        ]
        source = _completion_streams(streams, gens, request, rid, model, created, req)
        direct = None
        if len(gens) == 1 and params.logprobs is None:  # plain text: the engine may write it
            usage = req.include_usage
            direct = (gens[0], lambda text: _completion_chunk(rid, created, model, usage, text))
        return _sse(source, gens, direct)
    results = await collect_all(gens, request)
    return {
        "id": rid,
        "object": "text_completion",
        "created": created,
        "model": model,
        "system_fingerprint": f"impetus-{engine.name}",
        "choices": [
            {
                "index": i,
                "text": prefix + result.text,
                "logprobs": completion_logprobs(engine, result.logprobs, len(prefix))
                if params.logprobs is not None
                else None,
                "finish_reason": _finish(result.finish_reason),
            }
            for i, result in enumerate(results)
        ],
        "usage": _n_usage(gens),
    }


def _completion_chunk(
    rid: str,
    created: int,
    model: str,
    include_usage: bool,
    text: str,
    index: int = 0,
    finish: str | None = None,
    logprobs: dict | None = None,
) -> str:
    body = {
        "id": rid,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [{"index": index, "text": text, "logprobs": logprobs, "finish_reason": finish}],
    }
    if include_usage:
        body["usage"] = None
    return event(json.dumps(body, ensure_ascii=False))


async def _completion_streams(
    streams: list[AsyncIterator[str]],
    gens: list[Generation],
    request: Request,
    rid: str,
    model: str,
    created: int,
    req: CompletionRequest,
) -> AsyncIterator[str]:
    try:
        async for out in _merge(streams):
            yield out
        if req.include_usage:
            body = {
                "id": rid,
                "object": "text_completion",
                "created": created,
                "model": model,
                "choices": [],
                "usage": _n_usage(gens),
            }
            yield event(json.dumps(body))
        yield event("[DONE]")
    except _StreamError as exc:
        yield event(json.dumps(_stream_error(str(exc))))
    finally:
        for gen in gens:
            gen.cancel()
        record_all(request, gens)


async def _completion_stream(
    engine,
    gen: Generation,
    index: int,
    rid: str,
    model: str,
    created: int,
    include_usage: bool,
    prefix: str,
) -> AsyncIterator[str]:
    offset = len(prefix)

    def chunk(text: str, finish: str | None, lps: list[TokenLogprob] | None = None) -> str:
        nonlocal offset
        logprobs = completion_logprobs(engine, lps, offset) if lps else None
        offset += len(text)
        return _completion_chunk(rid, created, model, include_usage, text, index, finish, logprobs)

    if prefix:
        yield chunk(prefix, None)
        offset = len(prefix)
    async for batch in gen.batches():
        last = batch[-1]
        if last.finish_reason == "error":
            raise _StreamError(last.error)
        text = "".join(e.text for e in batch)
        lps = [e.logprob for e in batch if e.logprob is not None]
        if text or lps or last.finish_reason is not None:
            finish = _finish(last.finish_reason) if last.finish_reason else None
            yield chunk(text, finish, lps)
