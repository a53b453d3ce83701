"""Scale-out: the same collections on a Chroma server (`chroma run`, or a Chroma cluster),
through Chroma's own HTTP client.

Each collection is two Chroma collections: `rag-NAME--chunks` (vectors, text, metadata) and
`rag-NAME--docs` (one row per document, for hashes and listings). Filters compile to Chroma
`where` clauses and run inside Chroma's search. Chroma has no BM25 outside its cloud (see
docs/vector-store.md), so keyword search takes the chunks containing any query term (a
`where_document` filter, inside Chroma) and ranks them here by BM25 over those candidates;
hybrid fuses that with the vector list by weighted RRF, as the local store does.

Writes are not transactional in Chroma: a replaced document's new chunks are added before its
old ones are deleted, so a search during the swap may see both versions, never neither.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import Any
from urllib.parse import urlparse

import chromadb
import numpy as np

from impetus.rag.lance_store import NAME
from impetus.rag.store import ChunkRow, Condition, DocumentRow, Hit, Mode, rrf

_EPOCH = dt.datetime(1970, 1, 1)
_TERM = re.compile(r"\w+")
_KEYWORD_CANDIDATES = 2000


def _ts(value: dt.datetime) -> int:
    return int((value - _EPOCH).total_seconds())


def _dt(value: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(seconds=value)


def to_where(conds: list[Condition]) -> dict | None:
    ops = {"eq": "$eq", "ne": "$ne", "in": "$in", "gt": "$gt", "gte": "$gte", "lt": "$lt"}
    ops["lte"] = "$lte"
    parts: list[dict] = []
    for c in conds:
        if c.field == "tags":
            tags = [{f"tag:{t}": True} for t in c.value]
            parts.append(tags[0] if len(tags) == 1 else {"$and" if c.op == "all" else "$or": tags})
        elif c.field.startswith("meta."):
            key = "meta:" + c.field[5:]
            parts.append({key: {"$in": c.value} if c.op == "in" else c.value})
        else:
            value = c.value
            if isinstance(value, list):
                value = [_ts(v) if isinstance(v, dt.datetime) else v for v in value]
            elif isinstance(value, dt.datetime):
                value = _ts(value)
            parts.append({c.field: {ops[c.op]: value}})
            if c.field == "page":  # no page is stored as -1; it matches no page condition
                parts.append({"page": {"$gte": 0}})
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


class ChromaCollection:
    def __init__(self, client, name: str, dim: int | None = None) -> None:
        self.name = name
        self.client = client
        if dim is None:
            self.chunks = client.get_collection(f"rag-{name}--chunks")
            self.docs = client.get_collection(f"rag-{name}--docs")
            self.dim = int(self.chunks.metadata["dim"])
        else:
            meta = {"hnsw:space": "cosine", "dim": dim}
            self.chunks = client.create_collection(f"rag-{name}--chunks", metadata=meta)
            self.docs = client.create_collection(f"rag-{name}--docs")
            self.dim = dim

    # -- writes ---------------------------------------------------------------------------
    def put_document(self, doc: DocumentRow, chunks: list[ChunkRow]) -> None:
        old = self.chunks.get(where={"doc_id": doc.doc_id}, include=[])["ids"]
        gen = str(_ts(doc.ingested_at)) + f".{doc.ingested_at.microsecond}"
        for lo in range(0, len(chunks), 1000):
            part = chunks[lo : lo + 1000]
            self.chunks.add(
                ids=[f"{c.id}@{gen}" for c in part],
                embeddings=np.asarray([c.vector for c in part], np.float32),
                documents=[c.text for c in part],
                metadatas=[self._chunk_meta(c) for c in part],
            )
        keep = {f"{c.id}@{gen}" for c in chunks}
        stale = [i for i in old if i not in keep]
        if stale:
            self.chunks.delete(ids=stale)
        self.docs.upsert(ids=[doc.doc_id], embeddings=[[1.0]], metadatas=[self._doc_meta(doc)])

    def _chunk_meta(self, c: ChunkRow) -> dict:
        meta: dict[str, Any] = {
            "doc_id": c.doc_id, "chunk_id": c.id, "source": c.source, "type": c.type,
            "page": c.page if c.page is not None else -1, "section": c.section or "",
            "char_start": c.start, "char_end": c.end, "date": _ts(c.date),
            "ingested_at": _ts(c.ingested_at), "tags": json.dumps(c.tags),
            "meta": json.dumps(c.meta, sort_keys=True),
        }  # fmt: skip
        meta.update({f"tag:{t}": True for t in c.tags})
        meta.update({f"meta:{k}": v for k, v in c.meta.items()})
        return meta

    def _doc_meta(self, d: DocumentRow) -> dict:
        return {
            "source": d.source, "type": d.type, "content_hash": d.content_hash,
            "chunks": d.chunks, "bytes": d.bytes, "date": _ts(d.date),
            "ingested_at": _ts(d.ingested_at), "tags": json.dumps(d.tags),
            "meta": json.dumps(d.meta, sort_keys=True),
        }  # fmt: skip

    def delete_document(self, doc_id: str) -> bool:
        found = self.document(doc_id) is not None
        self.docs.delete(ids=[doc_id])
        self.chunks.delete(where={"doc_id": doc_id})
        return found

    def repair(self) -> int:
        known = set(self.docs.get(include=[])["ids"])
        metas = self.chunks.get(include=["metadatas"])["metadatas"] or []
        orphans = {m["doc_id"] for m in metas} - known
        for doc_id in orphans:
            self.chunks.delete(where={"doc_id": doc_id})
        return len(orphans)

    def optimize(self) -> None:
        pass  # Chroma indexes as it writes

    # -- reads ----------------------------------------------------------------------------
    def document(self, doc_id: str) -> DocumentRow | None:
        got = self.docs.get(ids=[doc_id], include=["metadatas"])
        return _doc(doc_id, got["metadatas"][0]) if got["ids"] else None

    def documents(self) -> list[DocumentRow]:
        got = self.docs.get(include=["metadatas"])
        return [_doc(i, m) for i, m in zip(got["ids"], got["metadatas"], strict=True)]

    def search(
        self,
        *,
        vector: Any = None,
        text: str | None = None,
        k: int = 10,
        mode: Mode = "vector",
        filters: list[Condition] | None = None,
        weight: float = 0.5,
    ) -> list[Hit]:
        where = to_where(filters or [])
        if mode == "vector":
            return self._vector(vector, k, where)
        if mode == "keyword":
            return self._keyword(text or "", k, where)
        depth = max(k, 20)
        return rrf(
            [self._vector(vector, depth, where), self._keyword(text or "", depth, where)],
            [weight, 1.0 - weight],
            k,
        )

    def _vector(self, vector: Any, k: int, where: dict | None) -> list[Hit]:
        res = self.chunks.query(
            query_embeddings=[np.asarray(vector, np.float32)],
            n_results=k,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        return [
            _hit(m, d, 1.0 - dist)
            for m, d, dist in zip(
                res["metadatas"][0], res["documents"][0], res["distances"][0], strict=True
            )
        ]

    def _keyword(self, text: str, k: int, where: dict | None) -> list[Hit]:
        terms = sorted({t.lower() for t in _TERM.findall(text)})
        if not terms:
            return []
        contains = [{"$contains": t} for t in terms]
        got = self.chunks.get(
            where=where,
            where_document=contains[0] if len(contains) == 1 else {"$or": contains},
            limit=_KEYWORD_CANDIDATES,
            include=["documents", "metadatas"],
        )
        docs = [[w.lower() for w in _TERM.findall(d)] for d in got["documents"]]
        if not docs:
            return []
        total = max(self.chunks.count(), len(docs))
        avg = sum(map(len, docs)) / len(docs)
        df = {t: sum(t in d for d in docs) for t in terms}
        scored = []
        for meta, body, words in zip(got["metadatas"], got["documents"], docs, strict=True):
            score = 0.0
            for t in terms:
                tf = words.count(t)
                if tf:
                    idf = math.log(1 + (total - df[t] + 0.5) / (df[t] + 0.5))
                    score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len(words) / avg))
            if score > 0:
                scored.append(_hit(meta, body, score))
        scored.sort(key=lambda h: -h.score)
        return scored[:k]

    def stats(self) -> dict:
        return {
            "name": self.name,
            "documents": self.docs.count(),
            "chunks": self.chunks.count(),
            "dim": self.dim,
            "disk_bytes": None,
            "indexes": ["vector:HNSW (chroma)"],
        }


def _doc(doc_id: str, m: dict) -> DocumentRow:
    return DocumentRow(
        doc_id=doc_id, source=m["source"], type=m["type"], content_hash=m["content_hash"],
        chunks=m["chunks"], bytes=m["bytes"], date=_dt(m["date"]),
        ingested_at=_dt(m["ingested_at"]), tags=json.loads(m["tags"]),
        meta=json.loads(m["meta"]),
    )  # fmt: skip


def _hit(m: dict, text: str, score: float) -> Hit:
    return Hit(
        chunk_id=m["chunk_id"], doc_id=m["doc_id"], text=text, score=float(score),
        source=m["source"], type=m["type"], page=None if m["page"] < 0 else m["page"],
        section=m["section"] or None, start=m["char_start"], end=m["char_end"],
        date=_dt(m["date"]), tags=json.loads(m["tags"]), meta=json.loads(m["meta"]),
    )  # fmt: skip


class ChromaStore:
    """Collections on a Chroma server at `url` (http://host:port)."""

    def __init__(self, url: str) -> None:
        u = urlparse(url)
        self.client = chromadb.HttpClient(
            host=u.hostname or "127.0.0.1", port=u.port or 8000, ssl=u.scheme == "https"
        )

    def _check(self, name: str) -> None:
        if not NAME.match(name):
            raise ValueError(
                "a collection name is 1-64 letters, digits, '_', '-' or '.', starting with a "
                "letter or digit"
            )

    def create(self, name: str, dim: int) -> ChromaCollection:
        self._check(name)
        if name in self.names():
            raise FileExistsError(f"collection '{name}' already exists")
        return ChromaCollection(self.client, name, dim)

    def open(self, name: str) -> ChromaCollection:
        self._check(name)
        try:
            return ChromaCollection(self.client, name)
        except chromadb.errors.NotFoundError as exc:
            raise FileNotFoundError(f"collection '{name}' does not exist") from exc

    def names(self) -> list[str]:
        out = []
        for c in self.client.list_collections():
            if c.name.startswith("rag-") and c.name.endswith("--chunks"):
                out.append(c.name[4 : -len("--chunks")])
        return sorted(out)

    def drop(self, name: str) -> bool:
        self._check(name)
        if name not in self.names():
            return False
        self.client.delete_collection(f"rag-{name}--chunks")
        self.client.delete_collection(f"rag-{name}--docs")
        return True
