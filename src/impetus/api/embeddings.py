"""Embeddings over OpenAI (`POST /v1/embeddings`) and Ollama (`/api/embed`, legacy
`/api/embeddings`).

With no `model`, or the bundled model's name, the default `Embedder` answers; it (and with it
`impetus.rag`) is created on first use and kept on `app.state`, so a server that never embeds
never pays for it, and start-up stays fast. Any other name is looked up in the model registry,
as chat models are (name, alias, file name, path): an embedding GGUF found there is loaded on
first use into an `EmbedderPool` and kept for the next requests. A name the registry does not
know is a 404, a chat model a 400, each in the calling API's error shape.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from impetus.server.errors import ApiError

if TYPE_CHECKING:
    from impetus.models.registry import ModelRecord
    from impetus.rag.embed import Embedder
    from impetus.rag.embedder_pool import EmbedderPool

router = APIRouter()

MAX_INPUTS = 2048  # OpenAI's own limit per request


async def get_embedder(app: FastAPI) -> Embedder:
    """The app's default embedder, loaded (and on first run, converted) once, off the event
    loop."""
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


def _pool(app: FastAPI) -> EmbedderPool:
    pool = getattr(app.state, "embedder_pool", None)
    if pool is None:
        from impetus.rag.embedder_pool import EmbedderPool

        threads = app.state.settings.threads

        def load(path: Path, name: str) -> Embedder:
            from impetus.rag.embed import Embedder

            return Embedder(path, name=name, n_threads=threads)

        pool = app.state.embedder_pool = EmbedderPool(load)
    return pool


def close_embedder(app: FastAPI) -> None:
    embedder = getattr(app.state, "embedder", None)
    if embedder is not None:
        app.state.embedder = None
        embedder.close()
    pool = getattr(app.state, "embedder_pool", None)
    if pool is not None:
        app.state.embedder_pool = None
        pool.close()


def _default_gguf(app: FastAPI) -> Path:
    from impetus.rag import bundled_embedder

    return bundled_embedder.gguf_path(app.state.settings.models_dir)


def _names_default(app: FastAPI, model: str) -> bool:
    """A name of the bundled model (as Ollama clients spell it too); known without loading
    anything, so a request for another model never loads the default."""
    from impetus.rag.bundled_embedder import DEFAULT_EMBEDDING_MODEL

    path = _default_gguf(app)
    names = {DEFAULT_EMBEDDING_MODEL, path.name, path.stem, str(path)}
    wanted = {model, model.removesuffix(":latest")}
    return any(n.casefold() == w.casefold() for n in names for w in wanted)


def _not_found(app: FastAPI, model: str) -> ApiError:
    from impetus.rag.bundled_embedder import DEFAULT_EMBEDDING_MODEL

    names = [DEFAULT_EMBEDDING_MODEL]
    manager = getattr(getattr(app.state, "runtime", None), "manager", None)
    if manager is not None:
        names += [
            r.name for r in manager.registry.list() if r.kind == "embedding" and r.name not in names
        ]
    return ApiError(
        404,
        f"the embedding model '{model}' does not exist; available: {', '.join(names)}",
        param="model",
        code="model_not_found",
    )


async def _registered(app: FastAPI, model: str) -> ModelRecord:
    """The registry's embedding model named `model` (ApiError 404 or 400 otherwise)."""
    manager = getattr(getattr(app.state, "runtime", None), "manager", None)
    if manager is None:
        raise _not_found(app, model)
    rec = None
    for spec in dict.fromkeys([model, model.removesuffix(":latest")]):
        try:
            # The manager's lookup, as for chat models; it may rescan the models folder or
            # read a GGUF header, so it runs off the event loop.
            rec = await asyncio.to_thread(manager.resolve, spec)
            break
        except ApiError as exc:
            if exc.status != 404:
                raise
    if rec is None:
        raise _not_found(app, model)
    if rec.kind != "embedding":
        raise ApiError(
            400,
            f"'{rec.name}' is a {rec.kind} model, not an embedding model",
            param="model",
            code="not_an_embedding_model",
        )
    if rec.format != "gguf":
        raise ApiError(
            400,
            f"'{rec.name}' is an {rec.format} model; embeddings run GGUF models only",
            param="model",
            code="invalid_model",
        )
    return rec


@asynccontextmanager
async def embedder_for(app: FastAPI, model: str | None) -> AsyncIterator[tuple[Embedder, str]]:
    """The embedder a request names, and the model name to answer with; kept open (not
    evicted) until the block ends."""
    if not model or _names_default(app, model):
        embedder = await get_embedder(app)
        yield embedder, embedder.name
        return
    rec = await _registered(app, model)
    path = Path(rec.path).resolve()
    if path == _default_gguf(app).resolve():  # the bundled file by another of its names
        embedder = await get_embedder(app)
        yield embedder, rec.name
        return
    from impetus.rag.embedder_pool import LoadFailed

    try:
        async with _pool(app).use(path, rec.name) as embedder:
            yield embedder, rec.name
    except LoadFailed as exc:
        raise ApiError(
            500, f"the embedding model '{rec.name}' could not be loaded: {exc.__cause__}",
            type="server_error", code="model_load_failed",
        ) from exc  # fmt: skip


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
    async with embedder_for(request.app, req.model) as (embedder, name):
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
        "model": name,
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
    async with embedder_for(request.app, req.model) as (embedder, name):
        t_load = time.perf_counter_ns()
        res = await _encode(embedder, texts, req.truncate, req.dimensions)
    return {
        "model": req.model or name,
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
    async with embedder_for(request.app, req.model) as (embedder, _):
        res = await _encode(embedder, [req.prompt], True, None)
    return {"embedding": res.vectors[0].tolist()}
