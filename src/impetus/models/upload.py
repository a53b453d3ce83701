"""Model uploads (`POST /admin/models`, the dashboard's drag-and-drop), streamed to disk.

The body is parsed as it arrives (multipart/form-data with python-multipart's push parser, or a
raw `application/octet-stream` body with `?filename=`), written to a hidden partial file and
hashed on the way, never held in memory. The first bytes must be a GGUF header; the finished
file must pass the full header/tensor check; only then is it renamed into the models folder
(atomic, same filesystem) and registered.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from impetus.models.gguf_info import InvalidModel, check_header, read_gguf
from impetus.models.registry import ModelRecord, Registry
from impetus.server.errors import ApiError

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$")


def _validate(path: Path) -> None:
    """The GGUF header, then a vocab-only llama.cpp load: a file is registered only if it can
    be served."""
    from impetus.engines.llama_ctypes import check_loadable

    read_gguf(path)
    check_loadable(path)


def safe_filename(raw: str | None) -> str:
    """A plain file name ending in .gguf: no folders, no traversal, no hidden files."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name.lower().endswith(".gguf"):
        raise ApiError(400, "the upload must be a .gguf file", param="file", code="invalid_model")
    if not _SAFE.match(name) or ".." in name:
        raise ApiError(
            400,
            "file name may only use letters, digits, '.', '_', '+' and '-'",
            param="file",
            code="invalid_filename",
        )
    return name


class _Sink:
    """The one file part being written: size limit, header check, sha256."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.limit = limit
        self.fh = path.open("wb")
        self.sha = hashlib.sha256()
        self.size = 0
        self.head = b""
        self.pending: list[bytes] = []

    def take(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise ApiError(
                413, f"the model is larger than {self.limit} bytes", code="request_too_large"
            )
        if len(self.head) < 8:
            self.head += data[: 8 - len(self.head)]
            if len(self.head) >= 8:
                try:
                    check_header(self.head)
                except InvalidModel as exc:
                    raise ApiError(400, str(exc), param="file", code="invalid_model") from None
        self.pending.append(data)

    async def flush(self) -> None:
        if self.pending:
            data, self.pending = b"".join(self.pending), []
            self.sha.update(data)
            await asyncio.to_thread(self.fh.write, data)

    def close(self) -> None:
        self.fh.close()


async def _stream_multipart(request: Request, boundary: bytes, make_sink) -> tuple[_Sink, str]:
    state: dict = {"headers": {}, "field": b"", "value": b"", "sink": None, "name": None}

    def on_header_field(data, start, end):
        state["field"] += data[start:end]

    def on_header_value(data, start, end):
        state["value"] += data[start:end]

    def on_header_end():
        state["headers"][state["field"].lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished():
        disp = state["headers"].get(b"content-disposition", b"")
        _, opts = parse_options_header(disp)
        filename = opts.get(b"filename")
        if filename is not None and state["sink"] is None:
            state["name"] = safe_filename(filename.decode("utf-8", "replace"))
            state["sink"] = make_sink()
            state["writing"] = True
        else:
            state["writing"] = False

    def on_part_data(data, start, end):
        if state.get("writing"):
            state["sink"].take(data[start:end])

    def on_part_begin():
        state["headers"] = {}

    def on_part_end():
        state["writing"] = False

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if state["sink"] is not None:
                await state["sink"].flush()
        parser.finalize()
    except ApiError:
        raise
    except Exception as exc:
        raise ApiError(400, f"malformed multipart body: {exc}") from None
    finally:
        if state["sink"] is not None:
            await state["sink"].flush()
            state["sink"].close()
    if state["sink"] is None:
        raise ApiError(400, "no file part in the upload", param="file")
    return state["sink"], state["name"]


async def receive_model(
    request: Request, models_dir: Path, registry: Registry, max_bytes: int
) -> ModelRecord:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes + 64 * 1024:
        raise ApiError(413, f"the model is larger than {max_bytes} bytes", code="request_too_large")
    staging = models_dir / ".uploads"
    staging.mkdir(parents=True, exist_ok=True)
    partial = staging / f"{uuid.uuid4().hex}.partial"
    sinks: list[_Sink] = []

    def make_sink() -> _Sink:
        sinks.append(_Sink(partial, max_bytes))
        return sinks[-1]

    try:
        ctype, opts = parse_options_header(request.headers.get("content-type", ""))
        if ctype == b"multipart/form-data":
            boundary = opts.get(b"boundary")
            if not boundary:
                raise ApiError(400, "multipart upload without a boundary")
            sink, name = await _stream_multipart(request, boundary, make_sink)
        else:
            name = safe_filename(request.query_params.get("filename"))
            sink = make_sink()
            try:
                async for chunk in request.stream():
                    sink.take(chunk)
                    await sink.flush()
            finally:
                await sink.flush()
                sink.close()
        if sink.size < 8:
            raise ApiError(400, "the upload is empty or not a GGUF model", code="invalid_model")
        try:
            await asyncio.to_thread(_validate, partial)
        except (InvalidModel, ValueError) as exc:
            raise ApiError(
                400, str(exc).replace(partial.name, name), code="invalid_model"
            ) from None
        target = models_dir / name
        if target.exists() or registry.get(name.removesuffix(".gguf")) is not None:
            raise ApiError(409, f"a model named '{name}' already exists", code="model_exists")
        os.replace(partial, target)  # atomic: the registry never sees a half file
        try:
            return registry.add(target, source="upload", sha256=sink.sha.hexdigest())
        except InvalidModel as exc:
            target.unlink(missing_ok=True)
            raise ApiError(400, str(exc), code="invalid_model") from None
    finally:
        for s in sinks:
            s.close()
        partial.unlink(missing_ok=True)
