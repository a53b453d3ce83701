"""Embeddings over OpenAI (`POST /v1/embeddings`) and Ollama (`/api/embed`, legacy
`/api/embeddings`), from one `Embedder`.

The embedder (and with it `impetus.rag`) is created on first use and kept on `app.state`, so
a server that never embeds never pays for it, and start-up stays fast.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from impetus.server.errors import ApiError

if TYPE_CHECKING:
    from impetus.rag.embed import Embedder

router = APIRouter()

MAX_INPUTS = 2048  # OpenAI's own limit per request


async def get_embedder(app: FastAPI) -> Embedder:
    """The app's embedder, loaded (and on first run, converted) once, off the event loop."""
    embedder = getattr(app.state, "embedder", None)
    if embedder is not None:
        return embedder
    lock = app.state.__dict__.setdefault("_embedder_lock", asyncio.Lock())
    async with lock:
        if getattr(app.state, "embedder", None) is None:
            settings = app.state.settings

            def load():
                from impetus.rag.embed import load_default_embedder

                return load_default_embedder(settings.models_dir, n_threads=settings.threads)

            try:
                app.state.embedder = await asyncio.to_thread(load)
            except Exception as exc:
                raise ApiError(
                    503, f"the embedding model could not be loaded: {exc}", type="server_error"
                ) from exc
    return app.state.embedder


def close_embedder(app: FastAPI) -> None:
    embedder = getattr(app.state, "embedder", None)
    if embedder is not None:
        app.state.embedder = None
        embedder.close()


def _check_model(embedder: Embedder, model: str | None) -> None:
    if not model:
        return
    names = {embedder.name, embedder.path.name, embedder.path.stem}
    bare = model.removesuffix(":latest")
    if model not in names and bare not in names:
        raise ApiError(
            404,
            f"the embedding model '{model}' does not exist; available: {embedder.name}",
            param="model",
            code="model_not_found",
        )


def _texts(value: str | list, param: str) -> list[str]:
    texts = [value] if isinstance(value, str) else list(value)
    if not texts:
        raise ApiError(400, f"'{param}' must not be empty", param=param)
    if len(texts) > MAX_INPUTS:
        raise ApiError(400, f"at most {MAX_INPUTS} inputs per request", param=param)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ApiError(
                400,
                "token-id inputs are not supported; send text",
                param=f"{param}[{i}]",
                code="invalid_value",
            )
        if not t:
            raise ApiError(400, f"'{param}[{i}]' must not be an empty string", param=param)
    return texts


async def _encode(embedder: Embedder, texts: list[str], truncate: bool, dimensions: int | None):
    from impetus.rag.embed import InputTooLong

    if dimensions is not None and dimensions != embedder.dim:
        raise ApiError(
            400,
            f"this model makes {embedder.dim}-dimensional vectors; 'dimensions' must be "
            f"{embedder.dim} or omitted",
            param="dimensions",
        )
    try:
        return await embedder.aencode(texts, truncate=truncate)
    except InputTooLong as exc:
        raise ApiError(400, f"{exc}; send truncate=true to cut it", code="input_too_long") from exc


# -- OpenAI ---------------------------------------------------------------------------------
class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    input: str | list[str] | list[int] | list[list[int]]
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None
    truncate: StrictBool = True  # extension: OpenAI refuses long inputs, we cut by default


@router.post("/v1/embeddings")
async def openai_embeddings(req: EmbeddingRequest, request: Request) -> dict:
    texts = _texts(req.input, "input")
    embedder = await get_embedder(request.app)
    _check_model(embedder, req.model)
    res = await _encode(embedder, texts, req.truncate, req.dimensions)
    data = []
    for i, vec in enumerate(res.vectors):
        if req.encoding_format == "base64":
            emb: object = base64.b64encode(vec.astype("<f4").tobytes()).decode()
        else:
            emb = vec.tolist()
        data.append({"object": "embedding", "index": i, "embedding": emb})
    return {
        "object": "list",
        "data": data,
        "model": embedder.name,
        "usage": {"prompt_tokens": res.total_tokens, "total_tokens": res.total_tokens},
    }


# -- Ollama ---------------------------------------------------------------------------------
class OllamaEmbedRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    input: str | list[str]
    truncate: StrictBool = True
    dimensions: int | None = Field(None, ge=1)
    options: dict | None = None
    keep_alive: str | int | float | None = None


@router.post("/api/embed")
async def ollama_embed(req: OllamaEmbedRequest, request: Request) -> dict:
    t0 = time.perf_counter_ns()
    texts = _texts(req.input, "input")
    embedder = await get_embedder(request.app)
    t_load = time.perf_counter_ns()
    _check_model(embedder, req.model)
    res = await _encode(embedder, texts, req.truncate, req.dimensions)
    return {
        "model": req.model or embedder.name,
        "embeddings": res.vectors.tolist(),
        "total_duration": time.perf_counter_ns() - t0,
        "load_duration": t_load - t0,
        "prompt_eval_count": res.total_tokens,
    }


class OllamaLegacyRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    prompt: Annotated[str, Field(min_length=1)]
    options: dict | None = None
    keep_alive: str | int | float | None = None


@router.post("/api/embeddings")
async def ollama_embeddings_legacy(req: OllamaLegacyRequest, request: Request) -> dict:
    embedder = await get_embedder(request.app)
    _check_model(embedder, req.model)
    res = await _encode(embedder, [req.prompt], True, None)
    return {"embedding": res.vectors[0].tolist()}
