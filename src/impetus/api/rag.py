"""The RAG API under /v1/rag: collections, ingestion jobs, documents and search.

The service (and with it lancedb, pyarrow and the parsers) is created on first use and kept on
`app.state.rag`; a server that never touches RAG never imports them.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from impetus.api.embeddings import get_embedder
from impetus.api.rag_chat import RagChatRequest, dedicated_chat
from impetus.api.sse import EventStreamResponse, event
from impetus.server.errors import ApiError

if TYPE_CHECKING:
    from impetus.rag.service import RagService

router = APIRouter(prefix="/v1/rag")
UPLOAD_PREFIX = "/v1/rag/upload/"  # exempt from the JSON body limit; files have their own


async def get_rag(app: FastAPI) -> RagService:
    rag = getattr(app.state, "rag", None)
    if rag is not None:
        return rag
    lock = app.state.__dict__.setdefault("_rag_lock", asyncio.Lock())
    async with lock:
        if getattr(app.state, "rag", None) is None:
            embedder = await get_embedder(app)
            settings = app.state.settings
            root = settings.data_dir / "rag"

            def make():
                from impetus.rag.service import RagService, open_store

                return RagService(root, embedder, store=open_store(root, settings.rag_server))

            app.state.rag = await asyncio.to_thread(make)
    return app.state.rag


def close_rag(app: FastAPI) -> None:
    rag = getattr(app.state, "rag", None)
    if rag is not None:
        app.state.rag = None
        rag.close()


async def _call(fn, *args, **kwargs):
    """Run a store call off the event loop, with its errors in the API's shape."""
    from impetus.rag.store import FilterError

    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except FileNotFoundError as exc:
        raise ApiError(404, str(exc).strip("'\""), code="collection_not_found") from exc
    except FileExistsError as exc:
        raise ApiError(409, str(exc), code="collection_exists") from exc
    except FilterError as exc:
        raise ApiError(400, str(exc), param="filters", code="invalid_filter") from exc
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc


class CreateCollection(BaseModel):
    name: str


@router.post("/collections", status_code=201)
async def create_collection(body: CreateCollection, request: Request) -> dict:
    rag = await get_rag(request.app)
    return await _call(rag.create, body.name)


@router.get("/collections")
async def list_collections(request: Request) -> dict:
    rag = await get_rag(request.app)
    return {"object": "list", "data": await _call(rag.collections)}


@router.get("/collections/{name}")
async def collection_stats(name: str, request: Request) -> dict:
    rag = await get_rag(request.app)
    return await _call(rag.stats, name)


@router.delete("/collections/{name}")
async def delete_collection(name: str, request: Request) -> dict:
    rag = await get_rag(request.app)
    if not await _call(rag.drop, name):
        raise ApiError(404, f"collection '{name}' does not exist", code="collection_not_found")
    return {"name": name, "deleted": True}


class IngestPaths(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paths: list[str] = Field(min_length=1)
    tags: list[str] = []
    metadata: dict[str, str | int | float | bool] = {}


@router.post("/collections/{name}/ingest", status_code=202)
async def ingest_paths(name: str, body: IngestPaths, request: Request) -> dict:
    """Index files or folders on the server's disk (a background job)."""
    rag = await get_rag(request.app)
    job = await _call(rag.ingest_paths, name, body.paths, body.tags, body.metadata)
    return job.to_json()


@router.post(UPLOAD_PREFIX.removeprefix("/v1/rag") + "{name}", status_code=202)
async def ingest_upload(name: str, request: Request) -> dict:
    """Index uploaded files (multipart `files`, optional `tags` and `metadata` as JSON).

    The files are streamed into the job's folder as they arrive, never spooled elsewhere; one
    over the per-file limit stops being stored there and is an error in the job's report."""
    from impetus.rag.upload import UploadError, receive

    rag = await get_rag(request.app)
    upload = await _call(rag.begin_upload, name)  # a missing collection: 404 before the body
    try:
        got = await receive(
            request.stream(),
            request.headers.get("content-type", ""),
            upload.folder,
            max_file_bytes=rag.ingestor.max_file_bytes,
        )
        tags, meta = _upload_options(got.fields)
        if not got.files:
            raise ApiError(
                400, "send one or more files in the multipart field 'files'", param="files"
            )
    except UploadError as exc:
        await asyncio.to_thread(rag.discard_upload, upload)
        raise ApiError(400, str(exc), param="files") from exc
    except BaseException:  # a bad field, the client gone: nothing of the upload stays
        await asyncio.to_thread(rag.discard_upload, upload)
        raise
    job = await _call(rag.ingest_uploads, name, upload, got.files, tags, meta)
    return job.to_json()


def _upload_options(fields: dict[str, str]) -> tuple[list[str], dict]:
    try:
        tags = json.loads(fields.get("tags") or "[]")
        meta = json.loads(fields.get("metadata") or "{}")
    except ValueError as exc:
        raise ApiError(400, "tags and metadata must be JSON", param="metadata") from exc
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ApiError(400, "tags must be a JSON list of strings", param="tags")
    if not isinstance(meta, dict):
        raise ApiError(400, "metadata must be a JSON object", param="metadata")
    return tags, meta


@router.get("/jobs/{job_id}")
async def job_status(job_id: str, request: Request) -> dict:
    rag = await get_rag(request.app)
    job = rag.jobs.get(job_id)
    if job is None:
        raise ApiError(404, f"no job '{job_id}'", code="job_not_found")
    return job.to_json()


@router.get("/jobs/{job_id}/events")
async def job_events(job_id: str, request: Request):
    """Progress as server-sent events: queued, start, one `file` per file, done."""
    rag = await get_rag(request.app)
    job = rag.jobs.get(job_id)
    if job is None:
        raise ApiError(404, f"no job '{job_id}'", code="job_not_found")
    stop = asyncio.Event()

    async def stream():
        i = 0
        while not stop.is_set():
            while i < len(job.events):
                ev = job.events[i]
                i += 1
                yield event(json.dumps(ev))
                if ev["type"] == "done":
                    return
            await asyncio.sleep(0.05)

    return EventStreamResponse(stream(), on_disconnect=stop.set)


@router.get("/collections/{name}/documents")
async def list_documents(name: str, request: Request) -> dict:
    rag = await get_rag(request.app)
    return {"object": "list", "data": await _call(rag.documents, name)}


@router.delete("/collections/{name}/documents/{doc_id}")
async def delete_document(name: str, doc_id: str, request: Request) -> dict:
    rag = await get_rag(request.app)
    if not await _call(rag.delete_document, name, doc_id):
        raise ApiError(404, f"no document '{doc_id}' in '{name}'", code="document_not_found")
    return {"doc_id": doc_id, "deleted": True}


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: Annotated[str, Field(min_length=1)]
    k: int = Field(5, ge=1, le=100)
    mode: Literal["vector", "keyword", "hybrid"] = "hybrid"
    filters: dict | None = None
    weight: float = Field(0.5, ge=0.0, le=1.0)  # the vector list's share in hybrid RRF


@router.post("/collections/{name}/search")
async def search(name: str, body: SearchRequest, request: Request) -> dict:
    rag = await get_rag(request.app)
    hits = await _call(
        rag.search,
        [name],
        body.query,
        k=body.k,
        mode=body.mode,
        filters=body.filters,
        weight=body.weight,
    )
    return {"object": "list", "data": hits}


@router.post("/chat")
async def rag_chat(body: RagChatRequest, request: Request):
    """Chat over collections: a chat completion body plus `collections`, `k`, `mode`,
    `filters`; the answer carries `citations` (see `impetus.api.rag_chat`)."""
    return await dedicated_chat(body, request)
