"""Ingestion jobs: files in, chunks with vectors out, one document at a time.

A job is written to disk before it runs and marked finished after, so a job cut short by a
crash or kill -9 is resumed when the service next opens. Each document's chunks are committed
in one write (see `Collection.put_document`), so a search never sees half a document; a content
hash skips files that did not change; one bad file is reported in the job and the rest go on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from impetus.rag.chunker import chunk_document
from impetus.rag.extract import ExtractError, extract, file_type
from impetus.rag.store import ChunkRow, Collection, DocumentRow, parse_date

log = logging.getLogger("impetus.rag")

MAX_FILE_BYTES = 64 * 1024 * 1024
CHUNK_TOKENS = 200
CHUNK_OVERLAP = 40
EMBED_BATCH = 64
# Part of every document's content hash: a new version re-chunks files on their next ingest
# (v2: sentences over the cap no longer lose a word at each cut).
CHUNKER_VERSION = f"v2-{CHUNK_TOKENS}-{CHUNK_OVERLAP}"


@dataclass
class Item:
    path: str  # where the bytes are
    source: str  # what the user calls it (the path, or an upload's file name)
    # Set when the file was refused before the job ran (an upload over the size limit, whose
    # bytes were never kept): the job reports it like any other bad file.
    error: str | None = None


@dataclass
class FileResult:
    source: str
    status: str  # indexed, unchanged, skipped, error
    doc_id: str | None = None
    chunks: int = 0
    error: str | None = None


@dataclass
class Job:
    id: str
    collection: str
    items: list[Item]
    tags: list[str] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    status: str = "queued"  # queued, running, done, failed
    created: float = field(default_factory=time.time)
    finished: float | None = None
    results: list[FileResult] = field(default_factory=list)
    error: str | None = None
    events: list[dict] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def to_json(self) -> dict:
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.status] = counts.get(r.status, 0) + 1
        return {
            "id": self.id,
            "collection": self.collection,
            "status": self.status,
            "total": len(self.items),
            "done": len(self.results),
            "counts": counts,
            "files": [asdict(r) for r in self.results],
            "error": self.error,
            "created": self.created,
            "finished": self.finished,
        }

    def emit(self, event: dict) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def spec(self) -> dict:
        return {
            "id": self.id,
            "collection": self.collection,
            "items": [asdict(i) for i in self.items],
            "tags": self.tags,
            "meta": self.meta,
        }


def new_job_id() -> str:
    return "job-" + secrets.token_hex(8)


def source_path(raw: str | Path) -> Path:
    """The absolute path a file is indexed under (its document's `source`, hence its id).

    The folders on the way are resolved, so `/tmp/x` and `/private/tmp/x`, or a relative and
    an absolute spelling, are one document; the file itself is not, so a symlinked file keeps
    its own name, whether it is named or found in a folder. That is also all a deleted file
    still has (a folder watch reports it after it is gone), so its id still matches.
    """
    p = Path(raw).expanduser()
    if p.name in ("", ".", "..") or p.is_dir():
        return p.resolve()
    return p.parent.resolve() / p.name


def hidden_under(path: Path, root: Path) -> bool:
    """Whether `path` is a hidden file or inside a hidden folder below `root`; folder ingests
    leave those out (editor swap files, `.git`)."""
    try:
        rel = path.relative_to(root).parts
    except ValueError:
        return False
    return any(part.startswith(".") for part in rel)


def expand(paths: list[str]) -> list[Item]:
    """Files named, and the files under folders named (hidden ones left out), in order."""
    items: list[Item] = []
    for raw in paths:
        p = source_path(raw)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and not hidden_under(f, p):
                    src = str(source_path(f))  # as a watch reports it, symlinked folders too
                    items.append(Item(src, src))
        else:
            items.append(Item(str(p), str(p)))
    return items


def too_big(size: int, limit: int) -> str:
    """The per-file error for a file over the size limit (paths and uploads alike)."""
    return f"the file is {size} bytes; the limit is {limit}"


def doc_id_for(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:20]


class Ingestor:
    """Turns one file into one document's chunks in `collection`."""

    def __init__(self, embedder, max_file_bytes: int = MAX_FILE_BYTES) -> None:
        self.embedder = embedder
        self.max_file_bytes = max_file_bytes

    def ingest(
        self, coll: Collection, item: Item, tags: list[str], meta: dict[str, str]
    ) -> FileResult:
        doc_id = doc_id_for(item.source)
        if item.error:
            return FileResult(item.source, "error", doc_id, error=item.error)
        path = Path(item.path)
        try:
            kind = file_type(item.source)
        except ExtractError as exc:
            return FileResult(item.source, "error", doc_id, error=str(exc))
        try:
            size = path.stat().st_size
            if size > self.max_file_bytes:
                return FileResult(
                    item.source, "error", doc_id, error=too_big(size, self.max_file_bytes)
                )
            data = path.read_bytes()
        except OSError as exc:
            return FileResult(item.source, "error", doc_id, error=f"cannot read the file: {exc}")
        digest = hashlib.sha256(data).hexdigest()
        content_hash = f"{digest}:{CHUNKER_VERSION}:{json.dumps([tags, meta], sort_keys=True)}"
        old = coll.document(doc_id)
        if old is not None and old.content_hash == content_hash:
            return FileResult(item.source, "unchanged", doc_id, chunks=old.chunks)
        try:
            doc = extract(item.source, data)
        except ExtractError as exc:
            return FileResult(item.source, "error", doc_id, error=str(exc))
        chunks = chunk_document(doc, self.embedder.count_tokens, CHUNK_TOKENS, CHUNK_OVERLAP)
        texts = [c.text if not c.section or c.text.startswith(c.section) else
                 f"{c.section}\n{c.text}" for c in chunks]  # fmt: skip
        vectors = []
        for i in range(0, len(texts), EMBED_BATCH):
            vectors.extend(self.embedder.encode(texts[i : i + EMBED_BATCH]).vectors)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        date = parse_date(meta["date"]) if "date" in meta else _mtime(path)
        user_meta = {k: v for k, v in meta.items() if k != "date"}
        rows = [
            ChunkRow(
                id=f"{doc_id}:{n}",
                doc_id=doc_id,
                text=c.text,
                vector=v,
                source=item.source,
                type=kind,
                page=c.page,
                section=c.section,
                start=c.start,
                end=c.end,
                date=date,
                ingested_at=now,
                tags=list(tags),
                meta=user_meta,
            )
            for n, (c, v) in enumerate(zip(chunks, vectors, strict=True))
        ]
        coll.put_document(
            DocumentRow(
                doc_id=doc_id,
                source=item.source,
                type=kind,
                content_hash=content_hash,
                chunks=len(rows),
                bytes=len(data),
                date=date,
                ingested_at=now,
                tags=list(tags),
                meta=user_meta,
            ),
            rows,
        )
        return FileResult(item.source, "indexed", doc_id, chunks=len(rows))


def _mtime(path: Path) -> dt.datetime:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).replace(tzinfo=None)


def run_job(
    job: Job, coll: Collection, ingestor: Ingestor, on_file: Callable[[Job], None] | None = None
) -> None:
    job.status = "running"
    job.emit({"type": "start", "job": job.id, "total": len(job.items)})
    try:
        for item in job.items:
            try:
                result = ingestor.ingest(coll, item, job.tags, job.meta)
            except Exception as exc:  # one file never stops the batch
                log.exception("ingesting %s failed", item.source)
                result = FileResult(item.source, "error", error=f"{type(exc).__name__}: {exc}")
            job.results.append(result)
            job.emit(
                {
                    "type": "file",
                    **asdict(result),
                    "done": len(job.results),
                    "total": len(job.items),
                }
            )
            if on_file:
                on_file(job)
        coll.optimize()
        job.status = "done"
    except Exception as exc:
        log.exception("job %s failed", job.id)
        job.status, job.error = "failed", str(exc)
    job.finished = time.time()
    job.emit({"type": "done", "job": job.id, "status": job.status, **job.to_json()["counts"]})


def iter_events(job: Job, timeout: float = 30.0) -> Iterator[dict]:
    """Every event of `job` from the first, blocking for new ones until it finishes."""
    i = 0
    while True:
        with job.changed:
            while i >= len(job.events):
                if not job.changed.wait(timeout):
                    yield {"type": "ping"}
            event = job.events[i]
        i += 1
        yield event
        if event["type"] == "done":
            return
