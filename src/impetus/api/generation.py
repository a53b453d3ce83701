"""What every wire format does around a generation: submit, collect, watch for a client that
hangs up, and record tokens for the access log. Routers add only their own shapes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fastapi import Request

from impetus.engines.protocol import (
    ContextLengthExceeded,
    Generation,
    GenerationRequest,
    QueueFull,
    SamplingParams,
)
from impetus.models.chat_template import ChatTemplateError
from impetus.server.errors import ApiError


def submit(engine, tokens: list[int], params: SamplingParams, request_id: str) -> Generation:
    try:
        return engine.submit(GenerationRequest(tokens, params, request_id=request_id))
    except ContextLengthExceeded as exc:
        raise ApiError(400, str(exc), param="messages", code="context_length_exceeded") from exc
    except QueueFull as exc:
        raise ApiError(
            429,
            str(exc),
            type="rate_limit_exceeded",
            code="queue_full",
            headers={"retry-after": str(max(1, round(exc.retry_after)))},
        ) from exc
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc


def render_chat(engine, messages: list[dict], **template_vars) -> list[int]:
    """Messages → prompt tokens through the model's own chat template."""
    try:
        text = engine.template.render(messages, add_generation_prompt=True, **template_vars)
    except ChatTemplateError as exc:
        raise ApiError(400, str(exc), param="messages") from exc
    info = engine.info
    add_bos = info.add_bos and not (info.bos_token and text.startswith(info.bos_token))
    return engine.tokenize(text, add_special=add_bos, parse_special=True)


@dataclass
class Collected:
    text: str
    finish_reason: str


async def collect(gen: Generation, request: Request) -> Collected:
    """Run a generation to the end; if the client disconnects first, cancel it at once."""

    async def watch_disconnect() -> None:
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                gen.cancel()
                return

    watcher = asyncio.create_task(watch_disconnect())
    parts: list[str] = []
    try:
        async for event in gen:
            if event.text:
                parts.append(event.text)
            if event.finish_reason == "error":
                raise ApiError(500, f"generation failed: {event.error}")
    finally:
        watcher.cancel()
        gen.cancel()
        record_tokens(request, gen)
    return Collected("".join(parts), gen.finish_reason or "stop")


def record_tokens(request: Request, gen: Generation) -> None:
    """At the end of a request: tokens for the access log, and the generation metrics."""
    request.state.tokens = (gen.usage.prompt_tokens, gen.usage.completion_tokens)
    request.app.state.metrics.observe_generation(gen)
