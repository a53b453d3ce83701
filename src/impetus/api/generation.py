"""What every wire format does around a generation: submit, collect, watch for a client that
hangs up, and record tokens for the access log. Routers add only their own shapes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

from fastapi import Request

from impetus.engines.protocol import (
    ContextLengthExceeded,
    Generation,
    GenerationRequest,
    GrammarError,
    QueueFull,
    SamplingParams,
    TokenLogprob,
)
from impetus.models.chat_template import ChatTemplate, ChatTemplateError
from impetus.server.errors import ApiError


def submit(
    engine, tokens: list[int], params: SamplingParams, request_id: str, request: Request
) -> Generation:
    """Hand a prompt to the engine; the server's request timeout (settings.request_timeout)
    then ends it like max_tokens, wherever it is (queued or decoding)."""
    try:
        gen = engine.submit(GenerationRequest(tokens, params, request_id=request_id))
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
    gen.on_first_token = request.app.state.metrics.observe_first_token
    timeout = request.app.state.settings.request_timeout
    if timeout:
        timer = asyncio.get_running_loop().call_later(timeout, gen.expire)
        gen.on_done = timer.cancel
    return gen


def constrain(engine, params: SamplingParams, grammar: str | None) -> SamplingParams:
    """Attach a GBNF grammar to `params`, after checking the engine can apply it."""
    if grammar is None:
        return params
    if not getattr(engine, "supports_grammar", False):
        raise ApiError(
            400,
            f"the {engine.name} engine does not support constrained decoding"
            " (tools, response_format, format)",
        )
    try:
        engine.check_grammar(grammar)
    except GrammarError as exc:
        raise ApiError(400, f"the schema could not be compiled to a grammar: {exc}") from exc
    return replace(params, grammar=grammar)


def submit_n(
    engine, tokens: list[int], params: SamplingParams, request_id: str, n: int, request: Request
) -> list[Generation]:
    """`n` independent generations of one prompt, decoded side by side by the scheduler (a
    given seed gives choice i the seed + i, so the choices differ but are reproducible)."""
    if params.logprobs is not None and not getattr(engine, "supports_logprobs", False):
        raise ApiError(400, f"the {engine.name} engine does not return logprobs", param="logprobs")
    gens: list[Generation] = []
    try:
        for i in range(n):
            p = params if params.seed is None or i == 0 else replace(params, seed=params.seed + i)
            gens.append(submit(engine, tokens, p, request_id, request))
    except ApiError:
        for g in gens:
            g.cancel()
        raise
    return gens


def token_bytes(engine, token: int) -> bytes:
    if hasattr(engine, "piece"):
        return engine.piece(token)
    model = getattr(engine, "model", None)
    if model is not None and hasattr(model, "piece"):
        return model.piece(token)
    return engine.detokenize([token]).encode()


def render_chat(
    engine, messages: list[dict], template: str | None = None, **template_vars
) -> list[int]:
    """Messages → prompt tokens through the model's own chat template (or `template`, the
    Jinja source a derived model was created with)."""
    chat = engine.template
    if template is not None:
        chat = ChatTemplate(template, bos_token=chat.bos_token, eos_token=chat.eos_token)
    try:
        text = chat.render(messages, add_generation_prompt=True, **template_vars)
    except ChatTemplateError as exc:
        raise ApiError(400, str(exc), param="messages") from exc
    info = engine.info
    add_bos = info.add_bos and not (info.bos_token and text.startswith(info.bos_token))
    return engine.tokenize(text, add_special=add_bos, parse_special=True)


@dataclass
class Collected:
    text: str
    finish_reason: str
    logprobs: list[TokenLogprob] = field(default_factory=list)
    stop_sequence: str | None = None


async def _drain(gen: Generation) -> Collected:
    parts: list[str] = []
    logprobs: list[TokenLogprob] = []
    stop_sequence = None
    async for event in gen:
        stop_sequence = event.stop_sequence or stop_sequence
        if event.text:
            parts.append(event.text)
        if event.logprob is not None:
            logprobs.append(event.logprob)
        if event.finish_reason == "error":
            raise ApiError(500, f"generation failed: {event.error}")
    return Collected("".join(parts), gen.finish_reason or "stop", logprobs, stop_sequence)


async def collect(gen: Generation, request: Request) -> Collected:
    """Run a generation to the end; if the client disconnects first, cancel it at once."""
    return (await collect_all([gen], request))[0]


async def collect_all(gens: list[Generation], request: Request) -> list[Collected]:
    """Run generations to the end together; a client that disconnects cancels them all."""

    async def watch_disconnect() -> None:
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                for gen in gens:
                    gen.cancel()
                return

    watcher = asyncio.create_task(watch_disconnect())
    try:
        return list(await asyncio.gather(*(_drain(g) for g in gens)))
    finally:
        watcher.cancel()
        for gen in gens:
            gen.cancel()
        record_all(request, gens)


def record_tokens(request: Request, gen: Generation) -> None:
    """At the end of a request: tokens for the access log, and the generation metrics."""
    request.state.tokens = (gen.usage.prompt_tokens, gen.usage.completion_tokens)
    request.app.state.metrics.observe_generation(gen)


def record_all(request: Request, gens: list[Generation]) -> None:
    for gen in gens:
        request.app.state.metrics.observe_generation(gen)
    completion = sum(g.usage.completion_tokens for g in gens)
    request.state.tokens = (gens[0].usage.prompt_tokens if gens else 0, completion)
