"""The RAG service: collections, ingestion jobs and search over one store and one embedder.

One worker thread runs ingestion jobs in order (the store has one writer). Jobs are written to
`<root>/jobs` before they run; unfinished ones are resumed when the service opens, after
`repair` has removed the chunks of any document whose write was cut short.

A delete cut short (its document row gone, its chunks not yet) has no job to resume, so the
service also checks each collection the first time it opens it in a process: if the chunk
count disagrees with the documents' own counts, `repair` runs before anything reads it. The
check reads the documents table and a row count, not the chunks.

Uploads are written into their job's folder while they arrive (`impetus.rag.upload`), under a
lock file; a folder without a job and without a live lock is what a crash mid-upload left, and
is removed when the service next opens.
"""

from __future__ import annotations

import json
import logging
import queue
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from impetus.rag.ingest import Ingestor, Item, Job, expand, new_job_id, run_job
from impetus.rag.lance_store import LanceStore
from impetus.rag.store import Collection, Hit, Mode, Store, parse_filters

if TYPE_CHECKING:
    from impetus.rag.upload import UploadedFile

try:
    import fcntl
except ImportError:  # Windows: an in-progress upload cannot be told from a dead one
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("impetus.rag")

RECEIVING = ".receiving"  # lock file in a job folder whose upload is still arriving


@dataclass
class PendingUpload:
    """A job folder an upload is being written into; its lock says the writer is alive."""

    job_id: str
    folder: Path
    lock: BinaryIO | None

    def release(self) -> None:
        if self.lock is not None:
            self.lock.close()  # also drops the flock
            self.lock = None
        (self.folder / RECEIVING).unlink(missing_ok=True)


def _still_receiving(path: Path) -> bool:
    """Whether a live process (this one included) holds the upload lock file `path`."""
    if fcntl is None:
        return path.exists()
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return False
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def _chunk_count(coll: Collection) -> int:
    # LanceDB counts rows from its manifest; `stats()` would also walk the folder for its size.
    count_rows = getattr(getattr(coll, "chunks", None), "count_rows", None)
    return int(count_rows()) if callable(count_rows) else int(coll.stats()["chunks"])


def open_store(root: Path, server: str | None) -> Store:
    """The in-process store under `root`, or collections on a Chroma server."""
    if server:
        from impetus.rag.chroma_store import ChromaStore

        return ChromaStore(server)
    return LanceStore(root / "collections")


class RagService:
    def __init__(
        self, root: Path, embedder, *, store: Store | None = None, resume: bool = True
    ) -> None:
        self.root = root
        self.embedder = embedder
        self.store = store or LanceStore(root / "collections")
        self.jobs_dir = root / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.ingestor = Ingestor(embedder)
        self.jobs: dict[str, Job] = {}
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()  # collection create/drop against the worker
        # Collections checked for orphans in this process. Taken after `_lock`, never before.
        self._checked: set[str] = set()
        self._check_lock = threading.Lock()
        self._worker = threading.Thread(target=self._work, name="impetus-rag", daemon=True)
        self._worker.start()
        if resume:
            self._clean_uploads()
            self._resume()

    # -- collections ----------------------------------------------------------------------
    def _collection(self, name: str) -> Collection:
        """`store.open(name)`, repaired on its first open in this process if it needs it."""
        coll = self.store.open(name)
        if name not in self._checked:
            with self._check_lock:
                if name not in self._checked:
                    self._repair_if_needed(coll)
                    self._checked.add(name)
        return coll

    def _repair_if_needed(self, coll: Collection) -> None:
        if self._job_pending(coll.name):
            # A job on disk may be writing it right now (from another process); its resume
            # repairs it, with no write cut in half by ours.
            return
        expected = sum(d.chunks for d in coll.documents())
        if _chunk_count(coll) == expected:
            return
        removed = coll.repair()
        if removed:
            log.warning("%s: removed the chunks of %d deleted documents", coll.name, removed)

    def _job_pending(self, name: str) -> bool:
        for spec in self.jobs_dir.glob("job-*.json"):
            try:
                if json.loads(spec.read_text()).get("collection") == name:
                    return True
            except (OSError, ValueError):
                continue
        return False

    def create(self, name: str) -> dict:
        with self._lock:
            coll = self.store.create(name, self.embedder.dim)
            self._checked.add(name)  # new and empty: nothing to repair
            return coll.stats()

    def collections(self) -> list[dict]:
        return [self._collection(n).stats() for n in self.store.names()]

    def stats(self, name: str) -> dict:
        return self._collection(name).stats()

    def drop(self, name: str) -> bool:
        with self._lock:
            self._checked.discard(name)
            return self.store.drop(name)

    def documents(self, name: str) -> list[dict]:
        out = []
        for d in self._collection(name).documents():
            row = dict(d.__dict__)
            row["date"] = d.date.isoformat()
            row["ingested_at"] = d.ingested_at.isoformat()
            row["content_hash"] = d.content_hash.split(":")[0]
            out.append(row)
        return out

    def delete_document(self, name: str, doc_id: str) -> bool:
        with self._lock:
            return self._collection(name).delete_document(doc_id)

    # -- ingestion ------------------------------------------------------------------------
    def ingest_paths(
        self, name: str, paths: list[str], tags: list[str] | None = None, meta: dict | None = None
    ) -> Job:
        self._collection(name)  # FileNotFoundError before anything is queued
        return self._submit(Job(new_job_id(), name, expand(paths), tags or [], _meta(meta)))

    def begin_upload(self, name: str) -> PendingUpload:
        """A new job's folder for an upload to write into (FileNotFoundError, before any byte
        is read, if the collection does not exist). Finish with `ingest_uploads` or
        `discard_upload`."""
        self._collection(name)
        job_id = new_job_id()
        folder = self.jobs_dir / job_id
        folder.mkdir(parents=True)
        lock = (folder / RECEIVING).open("wb")
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return PendingUpload(job_id, folder, lock)

    def ingest_uploads(
        self,
        name: str,
        upload: PendingUpload,
        files: list[UploadedFile],
        tags: list[str] | None = None,
        meta: dict | None = None,
    ) -> Job:
        """Queue the files an upload wrote into its folder. They stay there until the job
        finishes, so an interrupted job can resume; a file refused while it arrived (over
        the size limit) is reported by the job as an error."""
        try:
            self._collection(name)
        except BaseException:
            self.discard_upload(upload)
            raise
        items = [Item(str(f.path), f.name, f.error) for f in files]
        job = self._submit(Job(upload.job_id, name, items, tags or [], _meta(meta)))
        upload.release()  # the job's spec owns the folder now
        return job

    def discard_upload(self, upload: PendingUpload) -> None:
        upload.release()
        shutil.rmtree(upload.folder, ignore_errors=True)

    def _clean_uploads(self) -> None:
        """Remove job folders that no job owns: uploads cut short by a crash, and folders of
        finished jobs whose removal a crash interrupted."""
        for folder in self.jobs_dir.glob("job-*"):
            if not folder.is_dir() or folder.with_suffix(".json").exists():
                continue
            if _still_receiving(folder / RECEIVING):
                continue  # another process is receiving it now
            log.info("removing %s, an upload without a job", folder.name)
            shutil.rmtree(folder, ignore_errors=True)

    def _submit(self, job: Job) -> Job:
        spec = self.jobs_dir / f"{job.id}.json"
        tmp = spec.with_suffix(".tmp")
        tmp.write_text(json.dumps(job.spec()))
        tmp.replace(spec)
        self.jobs[job.id] = job
        job.emit({"type": "queued", "job": job.id, "total": len(job.items)})
        self._queue.put(job)
        return job

    def _resume(self) -> None:
        for spec in sorted(self.jobs_dir.glob("job-*.json")):
            try:
                data = json.loads(spec.read_text())
                coll = self.store.open(data["collection"])
            except (OSError, ValueError, FileNotFoundError) as exc:
                log.warning("dropping unreadable job %s: %s", spec.name, exc)
                spec.unlink(missing_ok=True)
                continue
            with self._check_lock:
                removed = coll.repair()
                self._checked.add(coll.name)
            log.info("resuming %s (%d half-written documents removed)", data["id"], removed)
            job = Job(
                data["id"], data["collection"], [Item(**i) for i in data["items"]],
                data["tags"], data["meta"],
            )  # fmt: skip
            self.jobs[job.id] = job
            self._queue.put(job)

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                with self._lock:
                    coll = self._collection(job.collection)
                    run_job(job, coll, self.ingestor)
            except Exception as exc:
                job.status, job.error = "failed", str(exc)
                job.emit({"type": "done", "job": job.id, "status": "failed"})
            (self.jobs_dir / f"{job.id}.json").unlink(missing_ok=True)
            shutil.rmtree(self.jobs_dir / job.id, ignore_errors=True)

    def wait(self, job: Job, timeout: float | None = None) -> Job:
        with job.changed:
            job.changed.wait_for(lambda: job.status in ("done", "failed"), timeout)
        return job

    # -- search ---------------------------------------------------------------------------
    def search(
        self,
        names: list[str],
        query: str,
        *,
        k: int = 5,
        mode: Mode = "hybrid",
        filters: dict | None = None,
        weight: float = 0.5,
    ) -> list[dict]:
        conds = parse_filters(filters)
        colls = [self._collection(n) for n in names]
        vector = self.embedder.encode([query]).vectors[0] if mode != "keyword" else None
        hits: list[tuple[str, Hit]] = []
        for c in colls:
            found = c.search(
                vector=vector, text=query, k=k, mode=mode, filters=conds, weight=weight
            )
            hits.extend((c.name, h) for h in found)
        hits.sort(key=lambda ch: -ch[1].score)
        return [{"collection": n, **h.to_json()} for n, h in hits[:k]]

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=30)


def _meta(meta: dict | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (meta or {}).items()}
