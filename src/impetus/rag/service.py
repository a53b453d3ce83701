"""The RAG service: collections, ingestion jobs and search over one store and one embedder.

One worker thread runs ingestion jobs in order (the store has one writer). Jobs are written to
`<root>/jobs` before they run; unfinished ones are resumed when the service opens, after
`repair` has removed the chunks of any document whose write was cut short.
"""

from __future__ import annotations

import json
import logging
import queue
import shutil
import threading
from pathlib import Path

from impetus.rag.ingest import Ingestor, Item, Job, expand, new_job_id, run_job
from impetus.rag.lance_store import LanceStore
from impetus.rag.store import Hit, Mode, Store, parse_filters

log = logging.getLogger("impetus.rag")


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
        self._worker = threading.Thread(target=self._work, name="impetus-rag", daemon=True)
        self._worker.start()
        if resume:
            self._resume()

    # -- collections ----------------------------------------------------------------------
    def create(self, name: str) -> dict:
        with self._lock:
            return self.store.create(name, self.embedder.dim).stats()

    def collections(self) -> list[dict]:
        return [self.store.open(n).stats() for n in self.store.names()]

    def stats(self, name: str) -> dict:
        return self.store.open(name).stats()

    def drop(self, name: str) -> bool:
        with self._lock:
            return self.store.drop(name)

    def documents(self, name: str) -> list[dict]:
        out = []
        for d in self.store.open(name).documents():
            row = dict(d.__dict__)
            row["date"] = d.date.isoformat()
            row["ingested_at"] = d.ingested_at.isoformat()
            row["content_hash"] = d.content_hash.split(":")[0]
            out.append(row)
        return out

    def delete_document(self, name: str, doc_id: str) -> bool:
        with self._lock:
            return self.store.open(name).delete_document(doc_id)

    # -- ingestion ------------------------------------------------------------------------
    def ingest_paths(
        self, name: str, paths: list[str], tags: list[str] | None = None, meta: dict | None = None
    ) -> Job:
        self.store.open(name)  # FileNotFoundError before anything is queued
        return self._submit(Job(new_job_id(), name, expand(paths), tags or [], _meta(meta)))

    def ingest_uploads(
        self,
        name: str,
        files: list[tuple[str, bytes | Path]],
        tags: list[str] | None = None,
        meta: dict | None = None,
    ) -> Job:
        """`files` are (file name, bytes or a spooled temp path); they are kept in the job's
        folder until it finishes, so an interrupted job can resume."""
        self.store.open(name)
        job_id = new_job_id()
        folder = self.jobs_dir / job_id
        items = []
        for i, (fname, content) in enumerate(files):
            dest = folder / f"{i:05d}-{Path(fname).name or 'upload'}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):
                shutil.move(content, dest)
            else:
                dest.write_bytes(content)
            items.append(Item(str(dest), Path(fname).name or fname))
        return self._submit(Job(job_id, name, items, tags or [], _meta(meta)))

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
            removed = coll.repair()
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
                    coll = self.store.open(job.collection)
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
        colls = [self.store.open(n) for n in names]
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
