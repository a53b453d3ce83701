"""RAG chat: retrieve passages from collections, put them in the prompt within the context
budget, and answer with citations.

Two ways in, one path: the `rag` extension field on `/v1/chat/completions`
(`{"rag": {"collections": ["kb"], "k": 4}}`) and `POST /v1/rag/chat` (the same body with
`collections` at the top level). The answer is an ordinary chat completion plus `citations`:
one entry per passage given to the model (its number `[n]` in the prompt, document, source,
page, section, chunk id, score). Streams carry the citations in their first event, a chunk
with empty `choices`, before any token.
"""

from __future__ import annotations

import json
from typing import Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from impetus.api.openai_schemas import RagOptions
from impetus.api.sse import EventStreamResponse, event
from impetus.server.errors import ApiError

DEFAULT_MAX_TOKENS = 512  # reserved for the answer when the request sets no limit
MARGIN = 32  # template tokens around the system message

INSTRUCTIONS = (
    "Answer the question using the numbered passages below. Cite the passages you use as [n]. "
    "If the passages do not contain the answer, say so."
)


def _query(req) -> str:
    for m in reversed(req.messages):
        if m.role == "user":
            text = m.text()
            if text.strip():
                return text
    raise ApiError(400, "RAG chat needs a user message to search with", param="messages")


def _passage(n: int, hit: dict) -> str:
    where = hit["source"].rsplit("/", 1)[-1]
    if hit.get("page"):
        where += f", page {hit['page']}"
    if hit.get("section"):
        where += f", {hit['section']}"
    return f"[{n}] ({where})\n{hit['text'].strip()}"


def _citation(n: int, hit: dict) -> dict:
    # The passage's text travels with its citation, so a client can show what was cited
    # without a second request (and even after the document changed).
    keys = ("collection", "doc_id", "chunk_id", "source", "page", "section", "start", "end")
    return {"index": n, **{k: hit[k] for k in keys}, "score": hit["score"], "text": hit["text"]}


def _fit(engine, req, hits: list[dict]) -> tuple[list[str], list[dict]]:
    """Passages in rank order while they fit the context beside the messages and the answer."""
    used = sum(
        len(engine.tokenize(m.text(), add_special=False, parse_special=False)) for m in req.messages
    )
    answer = req.max_completion_tokens or req.max_tokens or DEFAULT_MAX_TOKENS
    budget = engine.info.context_length - used - answer - MARGIN
    budget -= len(engine.tokenize(INSTRUCTIONS, add_special=False, parse_special=False))
    passages: list[str] = []
    cites: list[dict] = []
    for hit in hits:
        text = _passage(len(passages) + 1, hit)
        cost = len(engine.tokenize(text, add_special=False, parse_special=False)) + 2
        if cost > budget:
            continue  # a shorter passage further down may still fit
        budget -= cost
        passages.append(text)
        cites.append(_citation(len(passages), hit))
    return passages, cites


async def rag_chat_completion(req, request: Request, opts: RagOptions):
    from impetus.api import openai
    from impetus.api.rag import _call, get_rag

    rag = await get_rag(request.app)
    hits = await _call(
        rag.search,
        opts.collections,
        _query(req),
        k=opts.k,
        mode=opts.mode,
        filters=opts.filters,
        weight=opts.weight,
    )
    engine = await request.app.state.runtime.acquire(req.model)
    passages, cites = _fit(engine, req, hits)
    system = INSTRUCTIONS + "\n\n" + ("\n\n".join(passages) or "(no passages found)")
    messages = [{"role": "system", "content": system}]
    messages += [m.model_dump(exclude_none=True) for m in req.messages]
    message_type = type(req.messages[0])
    inner = req.model_copy(update={"messages": [message_type.model_validate(m) for m in messages]})
    if hasattr(inner, "rag"):
        inner.rag = None
    result = await openai.chat_completions(inner, request)
    if isinstance(result, EventStreamResponse):
        result.chunks = _with_citations(result.chunks, cites, engine.info.name)
        return result
    result["citations"] = cites
    return result


async def _with_citations(chunks, cites: list[dict], model: str):
    yield event(
        json.dumps(
            {"object": "chat.completion.chunk", "model": model, "choices": [], "citations": cites}
        )
    )
    async for chunk in chunks:
        yield chunk


class RagChatRequest(BaseModel):
    """A chat completion body plus the retrieval options at the top level."""

    model_config = ConfigDict(extra="allow")
    collections: list[str] = Field(min_length=1)
    k: int = Field(4, ge=1, le=50)
    mode: Literal["vector", "keyword", "hybrid"] = "hybrid"
    filters: dict | None = None
    weight: float = Field(0.5, ge=0.0, le=1.0)


async def dedicated_chat(body: RagChatRequest, request: Request):
    from pydantic import ValidationError

    from impetus.api.openai_schemas import ChatCompletionRequest
    from impetus.server.errors import validation_error

    opts = RagOptions(**body.model_dump(include=set(RagOptions.model_fields)))
    extra = dict(body.model_extra or {})
    extra.pop("rag", None)
    try:
        req = ChatCompletionRequest.model_validate(extra)
    except ValidationError as exc:
        raise validation_error(list(exc.errors())) from exc
    return await rag_chat_completion(req, request, opts)
