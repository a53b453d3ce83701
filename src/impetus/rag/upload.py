"""Multipart uploads (`POST /v1/rag/upload/NAME`) streamed straight into a job's folder.

Starlette's `request.form()` spools every file part to the temp dir before the handler runs,
whatever its size. Here the body is parsed as it arrives (python-multipart's push parser) and
each file in the `files` field is written once, to its place in the job's folder. A file that
passes the per-file limit stops being written at that byte and its partial file is deleted
there and then; the rest of that part is still read, to reach the files after it, but only
counted. The job then reports that file as an error (`Item.error`), like any other bad file,
and ingests the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header

from impetus.rag.ingest import too_big

FILES_FIELD = "files"
MAX_FILES = 10_000
MAX_FIELD_BYTES = 1 << 20  # `tags` and `metadata` are small JSON
_FLUSH_BYTES = 1 << 20  # parse and write in blocks this big, on a worker thread


class UploadError(ValueError):
    """The body is not a usable multipart upload; the message is safe to show."""


@dataclass
class UploadedFile:
    name: str  # the client's file name, without folders
    path: Path  # where its bytes are (nothing is there when `error` is set)
    size: int = 0
    error: str | None = None  # why the file was refused while it arrived


@dataclass
class Upload:
    files: list[UploadedFile] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)


def client_name(raw: bytes) -> str:
    """A client's file name as the document's source: the last path segment (browsers on
    Windows send `C:\\...\\a.pdf`), never a folder or `..`."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    name = text.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name if name not in ("", ".", "..") else "upload"


class UploadReceiver:
    """Feed it the body's bytes; it writes the files under `folder` as `00000`, `00001`, ...
    (numbers, not client names: a name may be too long or clash with another)."""

    def __init__(self, folder: Path, content_type: str, *, max_file_bytes: int) -> None:
        ctype, opts = parse_options_header(content_type)
        boundary = opts.get(b"boundary")
        if ctype != b"multipart/form-data" or not boundary:
            raise UploadError("send multipart/form-data with the files in the field 'files'")
        self.folder = folder
        self.max_file_bytes = max_file_bytes
        self.upload = Upload()
        self._headers: dict[bytes, bytes] = {}
        self._header_field = b""
        self._header_value = b""
        self._field: str | None = None  # the current part is a form field of this name
        self._value = bytearray()
        self._file: UploadedFile | None = None  # the current part is this file
        self._fh: BinaryIO | None = None  # open while the file is under the limit
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field_data,
                "on_header_value": self._header_value_data,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
            },
        )

    # -- the parser's callbacks -------------------------------------------------------------
    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, opts = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        filename = opts.get(b"filename")
        if filename is None:
            self._field, self._value = name, bytearray()
        elif name == FILES_FIELD:
            files = self.upload.files
            if len(files) >= MAX_FILES:
                raise UploadError(f"at most {MAX_FILES} files per upload")
            self._file = UploadedFile(client_name(filename), self.folder / f"{len(files):05d}")
            files.append(self._file)
            self._fh = self._file.path.open("wb")
        # A file in another field is read past, never stored.

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._field is not None:
            if len(self._value) + end - start > MAX_FIELD_BYTES:
                raise UploadError(f"the form field '{self._field}' is over {MAX_FIELD_BYTES} bytes")
            self._value += data[start:end]
            return
        file = self._file
        if file is None:
            return
        file.size += end - start
        if self._fh is None:
            return  # already over the limit: counted, not kept
        if file.size > self.max_file_bytes:
            # Keep no byte of a file that will not be ingested: it never fills the disk.
            self._drop_partial(file)
            return
        self._fh.write(data[start:end])

    def _part_end(self) -> None:
        if self._field is not None:
            self.upload.fields[self._field] = self._value.decode("utf-8", "replace")
        if self._file is not None:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
            if self._file.size > self.max_file_bytes:
                self._file.error = too_big(self._file.size, self.max_file_bytes)
        self._field, self._file = None, None

    def _drop_partial(self, file: UploadedFile) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        file.path.unlink(missing_ok=True)

    # -- feeding ----------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        try:
            self._parser.write(data)
        except UploadError:
            raise
        except Exception as exc:  # python-multipart's own errors, or a full disk
            raise UploadError(f"malformed multipart body: {exc}") from exc

    def finish(self) -> Upload:
        try:
            self._parser.finalize()
        except Exception as exc:
            raise UploadError(f"malformed multipart body: {exc}") from exc
        if self._file is not None or self._field is not None:
            raise UploadError("the multipart body ended inside a part")
        return self.upload

    def close(self) -> None:
        """Close a file left open by a body that broke off (the caller removes the folder)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None


async def receive(
    chunks: AsyncIterator[bytes], content_type: str, folder: Path, *, max_file_bytes: int
) -> Upload:
    """Parse an upload body into `folder`; parsing and disk writes run on a worker thread, a
    block of about a MiB at a time, so the event loop only moves bytes."""
    receiver = UploadReceiver(folder, content_type, max_file_bytes=max_file_bytes)
    try:
        pending: list[bytes] = []
        size = 0
        async for chunk in chunks:
            pending.append(chunk)
            size += len(chunk)
            if size >= _FLUSH_BYTES:
                await asyncio.to_thread(receiver.feed, b"".join(pending))
                pending, size = [], 0
        await asyncio.to_thread(receiver.feed, b"".join(pending))
        return await asyncio.to_thread(receiver.finish)
    finally:
        receiver.close()
