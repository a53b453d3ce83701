"""The Anthropic Messages wire format: POST /v1/messages and /v1/messages/count_tokens."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request

from impetus.api import profiles, tools
from impetus.api.anthropic_schemas import CountTokensRequest, MessagesRequest
from impetus.api.generation import collect, constrain, record_tokens, submit
from impetus.api.sse import EventStreamResponse
from impetus.api.tool_stream import ArgsDelta, CallEnd, CallStart, Text, ToolCallStream
from impetus.api.tools import Tool, ToolCall
from impetus.engines.protocol import Generation
from impetus.server.errors import ApiError

router = APIRouter()


def _messages(req: CountTokensRequest) -> list[dict]:
    """Anthropic messages (content blocks) → neutral messages (see `tools.prepare`)."""
    out: list[dict] = []
    system = req.system_text()
    if system:
        out.append({"role": "system", "content": system})
    names: dict[str, str] = {}
    for i, m in enumerate(req.messages):
        if isinstance(m.content, str):
            out.append({"role": m.role, "content": m.content})
            continue
        text: list[str] = []
        calls: list[ToolCall] = []
        for j, block in enumerate(m.content):
            where = f"messages.{i}.content.{j}"
            if block.type == "text":
                text.append(block.text)
            elif block.type == "tool_use" and m.role == "assistant":
                calls.append(ToolCall(block.name, json.dumps(block.input), block.id))
                names[block.id] = block.name
            elif block.type == "tool_result" and m.role == "user":
                body = block.text()
                out.append(
                    {
                        "role": "tool",
                        "content": f"Error: {body}" if block.is_error else body,
                        "tool_call_id": block.tool_use_id,
                        "name": names.get(block.tool_use_id, ""),
                    }
                )
            else:
                raise ApiError(
                    400, f"content block type '{block.type}' is not supported here", param=where
                )
        if text or calls:
            msg: dict = {"role": m.role, "content": "".join(text)}
            if calls:
                msg["tool_calls"] = calls
            out.append(msg)
    return out


def _tool_plan(req: CountTokensRequest) -> tuple[list[Tool], str, tools.Plan]:
    defs = [Tool(t.name, t.description, t.input_schema) for t in req.tools or []]
    tc = req.tool_choice
    parallel = not (tc and tc.disable_parallel_tool_use)
    if tc is None:
        choice = "auto" if defs else "none"
    elif tc.type == "tool":
        if not tc.name:
            raise ApiError(400, "tool_choice.name is required for type 'tool'", param="tool_choice")
        choice = tc.name
    else:
        choice = {"auto": "auto", "any": "required", "none": "none"}[tc.type]
    if choice == "auto" and not defs:
        choice = "none"
    if choice != "none" and not defs:
        raise ApiError(400, "tool_choice needs tools", param="tool_choice")
    return defs, choice, tools.plan(defs, choice, parallel=parallel)


def _prompt(target: profiles.Target, req: CountTokensRequest) -> tuple[list[int], tools.Plan]:
    defs, choice, plan = _tool_plan(req)
    return target.chat_prompt(_messages(req), defs, choice), plan


@router.post("/v1/messages/count_tokens")
async def count_tokens(req: CountTokensRequest, request: Request) -> dict:
    target = await profiles.acquire(request, req.model)
    tokens, _ = _prompt(target, req)
    return {"input_tokens": len(tokens)}


def _stop_reason(finish: str | None, stop_sequence: str | None, calls: list) -> str:
    if calls:
        return "tool_use"
    if finish == "length":
        return "max_tokens"
    if stop_sequence:
        return "stop_sequence"
    return "end_turn"


def _tool_use(call: ToolCall) -> dict:
    return {"type": "tool_use", "id": _tool_id(call), "name": call.name, "input": call.args()}


def _tool_id(call: ToolCall) -> str:
    return call.id.replace("call_", "toolu_", 1)


# Our field names → Ollama parameter names, for a derived model's defaults (api/profiles.py).
_NAMES = {"max_tokens": "num_predict", "stop_sequences": "stop"}


@router.post("/v1/messages")
async def messages(req: MessagesRequest, request: Request):
    target = await profiles.acquire(request, req.model)
    engine = target.engine
    tokens, plan = _prompt(target, req)
    given = profiles.given(req.model_fields_set, _NAMES)
    params = target.sampling(req.sampling(), given, len(tokens), None)
    params = constrain(engine, params, plan.grammar)
    mid = "msg_" + secrets.token_hex(12)
    gen = submit(engine, tokens, params, mid, request)
    model = target.name
    if req.stream:
        stream = _MessageStream(gen, request, mid, model, plan.tools_active)
        # Plain text deltas can go direct once the text block is open (api/sse.py).
        direct = None if plan.tools_active else (gen, stream.direct_delta)
        return EventStreamResponse(stream.chunks(), on_disconnect=gen.cancel, direct=direct)
    result = await collect(gen, request)
    text, calls = tools.parse(result.text) if plan.tools_active else (result.text, [])
    content: list[dict] = [{"type": "text", "text": text}] if text or not calls else []
    content += [_tool_use(c) for c in calls]
    return {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _stop_reason(result.finish_reason, result.stop_sequence, calls),
        "stop_sequence": result.stop_sequence,
        "usage": {
            "input_tokens": gen.usage.prompt_tokens,
            "output_tokens": gen.usage.completion_tokens,
            "cache_read_input_tokens": gen.usage.cached_tokens,
        },
    }


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class _MessageStream:
    """One streamed message: its content blocks, opened and closed as text and tool calls
    arrive. The engine thread may ask `direct_delta` for a text delta while `chunks` waits
    for events (api/sse.py arms it only after a chunk has been written, so `open_kind` is
    settled by then)."""

    def __init__(
        self, gen: Generation, request: Request, mid: str, model: str, tools_active: bool
    ) -> None:
        self.gen, self.request, self.mid, self.model = gen, request, mid, model
        self.parser = ToolCallStream() if tools_active else None
        self.index = -1  # the open content block's index
        self.open_kind: str | None = None  # "text", "tool_use" or None

    def block_event(self, name: str, **data) -> str:
        return _event(name, {"type": name, "index": self.index, **data})

    def start(self, block: dict) -> str:
        out = self.stop()
        self.index += 1
        self.open_kind = block["type"]
        return out + self.block_event("content_block_start", content_block=block)

    def stop(self) -> str:
        if self.open_kind is None:
            return ""
        self.open_kind = None
        return self.block_event("content_block_stop")

    def delta(self, text: str) -> str:
        return self.block_event("content_block_delta", delta={"type": "text_delta", "text": text})

    def direct_delta(self, text: str) -> str | None:
        return self.delta(text) if self.open_kind == "text" else None

    def text_out(self, text: str) -> str:
        out = "" if self.open_kind == "text" else self.start({"type": "text", "text": ""})
        return out + self.delta(text)

    def render(self, events: list) -> str:
        out = ""
        for e in events:
            if isinstance(e, Text):
                out += self.text_out(e.text)
            elif isinstance(e, CallStart):
                tid = e.id.replace("call_", "toolu_", 1)
                out += self.start({"type": "tool_use", "id": tid, "name": e.name, "input": {}})
            elif isinstance(e, ArgsDelta):
                delta = {"type": "input_json_delta", "partial_json": e.text}
                out += self.block_event("content_block_delta", delta=delta)
            elif isinstance(e, CallEnd):
                out += self.stop()
        return out

    async def chunks(self) -> AsyncIterator[str]:
        gen, parser = self.gen, self.parser
        try:
            head = {
                "id": self.mid,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": gen.usage.prompt_tokens, "output_tokens": 0},
            }
            yield _event("message_start", {"type": "message_start", "message": head})
            finish, stop_sequence = None, None
            async for batch in gen.batches():
                last = batch[-1]
                if last.finish_reason == "error":
                    err = {"type": "api_error", "message": f"generation failed: {last.error}"}
                    yield _event("error", {"type": "error", "error": err})
                    return
                text = "".join(e.text for e in batch)
                events = parser.feed(text) if parser is not None else [Text(text)] if text else []
                out = self.render(events)
                if last.finish_reason is not None:
                    finish, stop_sequence = last.finish_reason, last.stop_sequence
                    if parser is not None:
                        out += self.render(parser.finish())
                if out:
                    yield out
            if self.index < 0:  # nothing generated: one empty text block, as Anthropic sends
                yield self.start({"type": "text", "text": ""})
            yield self.stop()
            # A tool_use block cut off by max_tokens was sent in part: the stop reason says so.
            cut = parser is not None and parser.open_call is not None
            calls = parser.calls if parser is not None and not cut else []
            yield _event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": _stop_reason(finish, stop_sequence, calls),
                        "stop_sequence": stop_sequence,
                    },
                    "usage": {"output_tokens": gen.usage.completion_tokens},
                },
            )
            yield _event("message_stop", {"type": "message_stop"})
        finally:
            gen.cancel()
            record_tokens(self.request, gen)
