"""The OpenAI wire format: /v1/chat/completions and /v1/completions."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request

from impetus.api.generation import collect, record_tokens, render_chat, submit
from impetus.api.openai_schemas import ChatCompletionRequest, CompletionRequest
from impetus.api.sse import EventStreamResponse, event
from impetus.engines.protocol import Generation, Usage
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
    runtime = request.app.state.runtime
    data = [model_card(runtime.engine)] if runtime.engine is not None else []
    return {"object": "list", "data": data}


@router.get("/v1/models/{model_id:path}")
async def get_model(model_id: str, request: Request) -> dict:
    runtime = request.app.state.runtime
    return model_card(await runtime.acquire(model_id))


def _usage(u: Usage) -> dict:
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
    }


def _finish(reason: str | None) -> str:
    return "length" if reason == "length" else "stop"


def _chat_messages(req: ChatCompletionRequest) -> list[dict]:
    out = []
    for i, m in enumerate(req.messages):
        try:
            content = m.text()
        except ValueError as exc:
            raise ApiError(400, str(exc), param=f"messages[{i}].content") from exc
        role = "system" if m.role == "developer" else m.role
        out.append({"role": role, "content": content})
    return out


@router.post("/v1/chat/completions")
async def chat_completions(req: ChatCompletionRequest, request: Request):
    runtime = request.app.state.runtime
    engine = await runtime.acquire(req.model)
    tokens = render_chat(engine, _chat_messages(req))
    params = req.sampling(req.max_completion_tokens or req.max_tokens)
    rid = "chatcmpl-" + secrets.token_hex(12)
    gen = submit(engine, tokens, params, rid)
    model = engine.info.name
    created = int(time.time())
    if req.stream:
        return _sse(_chat_stream(gen, request, rid, model, created, req.include_usage), gen)
    result = await collect(gen, request)
    return {
        "id": rid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": f"impetus-{engine.name}",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.text},
                "logprobs": None,
                "finish_reason": _finish(result.finish_reason),
            }
        ],
        "usage": _usage(gen.usage),
    }


async def _chat_stream(
    gen: Generation, request: Request, rid: str, model: str, created: int, include_usage: bool
) -> AsyncIterator[str]:
    # Chunks are assembled as strings around json.dumps(text): the dict-based encoder was a
    # measurable share of the event loop's time per token.
    head = (
        f'data: {{"id":"{rid}","object":"chat.completion.chunk","created":{created},'
        f'"model":{json.dumps(model)},"system_fingerprint":"impetus","choices":[{{"index":0,'
    )
    tail = '}],"usage":null}\n\n' if include_usage else "}]}\n\n"

    def content(text: str) -> str:
        delta = json.dumps(text, ensure_ascii=False)
        return f'{head}"delta":{{"content":{delta}}},"logprobs":null,"finish_reason":null{tail}'

    def finish(reason: str) -> str:
        return f'{head}"delta":{{}},"logprobs":null,"finish_reason":"{reason}"{tail}'

    try:
        yield f'{head}"delta":{{"role":"assistant","content":""}},"logprobs":null,"finish_reason":null{tail}'
        async for batch in gen.batches():
            text = "".join(e.text for e in batch)
            last = batch[-1]
            if last.finish_reason == "error":
                yield event(json.dumps({"error": {"message": last.error, "type": "server_error"}}))
                return
            out = content(text) if text else ""
            if last.finish_reason is not None:
                out += finish(_finish(last.finish_reason))
            if out:
                yield out
        if include_usage:
            yield event(
                f'{{"id":"{rid}","object":"chat.completion.chunk","created":{created},'
                f'"model":{json.dumps(model)},"system_fingerprint":"impetus","choices":[],'
                f'"usage":{json.dumps(_usage(gen.usage))}}}'
            )
        yield event("[DONE]")
    finally:
        gen.cancel()
        record_tokens(request, gen)


def _sse(source: AsyncIterator[str], gen: Generation) -> EventStreamResponse:
    return EventStreamResponse(source, on_disconnect=gen.cancel)


@router.post("/v1/completions")
async def completions(req: CompletionRequest, request: Request):
    runtime = request.app.state.runtime
    engine = await runtime.acquire(req.model)
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
    params = req.sampling(req.max_tokens)
    rid = "cmpl-" + secrets.token_hex(12)
    gen = submit(engine, tokens, params, rid)
    model = engine.info.name
    created = int(time.time())
    prefix = prompt_text if req.echo else ""
    if req.stream:
        return _sse(
            _completion_stream(gen, request, rid, model, created, req.include_usage, prefix),
            gen,
        )
    result = await collect(gen, request)
    return {
        "id": rid,
        "object": "text_completion",
        "created": created,
        "model": model,
        "system_fingerprint": f"impetus-{engine.name}",
        "choices": [
            {
                "index": 0,
                "text": prefix + result.text,
                "logprobs": None,
                "finish_reason": _finish(result.finish_reason),
            }
        ],
        "usage": _usage(gen.usage),
    }


async def _completion_stream(
    gen: Generation,
    request: Request,
    rid: str,
    model: str,
    created: int,
    include_usage: bool,
    prefix: str,
) -> AsyncIterator[str]:
    def chunk(text: str, finish: str | None, usage: dict | None = None) -> str:
        body = {
            "id": rid,
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            body["usage"] = usage
        return event(json.dumps(body, ensure_ascii=False))

    try:
        if prefix:
            yield chunk(prefix, None)
        async for batch in gen.batches():
            last = batch[-1]
            if last.finish_reason == "error":
                yield event(json.dumps({"error": {"message": last.error, "type": "server_error"}}))
                return
            text = "".join(e.text for e in batch)
            if text or last.finish_reason is not None:
                finish = _finish(last.finish_reason) if last.finish_reason else None
                yield chunk(text, finish)
        if include_usage:
            body = {
                "id": rid,
                "object": "text_completion",
                "created": created,
                "model": model,
                "choices": [],
                "usage": _usage(gen.usage),
            }
            yield event(json.dumps(body))
        yield event("[DONE]")
    finally:
        gen.cancel()
        record_tokens(request, gen)
