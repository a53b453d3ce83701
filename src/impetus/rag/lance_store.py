"""The in-process store: one LanceDB database per collection, tables `chunks` and `documents`.

Why LanceDB: docs/vector-store.md. Filters compile to SQL and run as LanceDB prefilters (inside
the search, backed by scalar indexes), keyword search is LanceDB's native BM25 full-text index,
and hybrid search fuses both with weighted RRF. Small collections are searched exactly; past
`ANN_MIN_ROWS` `optimize` builds an IVF_SQ index (8-bit vectors in the probed partitions, the
best candidates re-ranked with the exact vectors; why not HNSW or PQ: docs/vector-store.md).
lancedb and pyarrow are imported here only, so nothing pays for them until RAG is used.

A search reads two columns per hit, `text` and `hit` (everything else a `Hit` carries, as one
JSON string): LanceDB fetches each selected column of each hit with its own read, and the 13
separate metadata columns cost 10-15 ms per query at 1M rows. The separate columns stay, for the
filters and their scalar indexes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import lancedb
import numpy as np
import pyarrow as pa

from impetus.rag.store import ChunkRow, Condition, DocumentRow, Hit, Mode, rrf

log = logging.getLogger("impetus.rag")

ANN_MIN_ROWS = 20_000  # below this a vector search scans every row (exact)
# Filters matching at most this many rows are searched exactly (the rows are found through the
# scalar indexes, then each is fetched and scored: ~20 us of CPU per row, 43 ms for 2,000 rows,
# 300-450 ms for 20,000). Above it the IVF index is searched with the filter applied inside the
# probed partitions. That needs enough matching rows near every query: a 2% filter found the
# exact filtered top-10 at 1M (20,000 rows; recall 1.0 at 10 probes), but at 100k (2,000 rows)
# only 0.43 of it (0.63 at 40 probes), so 2,000 rows go the exact way.
EXACT_FILTER_ROWS = 5_000
# IVF partitions: ~sqrt(rows), at most 256. Above 256 LanceDB trains them by hierarchical
# k-means, which on the bench's clustered data scattered neighbours over many partitions
# (recall@10 0.61 at 1M with 1,000 partitions and 20 probes; 1.0 with 256 and 5 probes).
MAX_PARTITIONS = 256
NPROBES = 10  # partitions searched per query: ~4% of the rows at 1M
# IVF_SQ keeps 8-bit vectors in the index; the best k x REFINE candidates are re-scored with the
# stored float32 vectors. Without it recall@10 at 1M was 0.96, with 2 it was 1.0 (+1 ms).
REFINE = 2
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_COLUMNS = {"start": "char_start", "end": "char_end"}


def chunk_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            ("id", pa.string()),
            ("doc_id", pa.string()),
            ("text", pa.string()),
            ("vector", pa.list_(pa.float32(), dim)),
            ("source", pa.string()),
            ("type", pa.string()),
            ("page", pa.int32()),
            ("section", pa.string()),
            ("char_start", pa.int64()),
            ("char_end", pa.int64()),
            ("date", pa.timestamp("us")),
            ("ingested_at", pa.timestamp("us")),
            ("tags", pa.list_(pa.string())),
            ("meta_kv", pa.list_(pa.string())),
            ("meta", pa.string()),
            ("hit", pa.string()),  # what a search returns besides the text, as one column
        ]
    )


DOC_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("source", pa.string()),
        ("type", pa.string()),
        ("content_hash", pa.string()),
        ("chunks", pa.int64()),
        ("bytes", pa.int64()),
        ("date", pa.timestamp("us")),
        ("ingested_at", pa.timestamp("us")),
        ("tags", pa.list_(pa.string())),
        ("meta", pa.string()),
    ]
)


def _q(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if hasattr(value, "isoformat"):
        return f"timestamp '{value.isoformat(sep=' ')}'"
    return str(int(value))


def to_sql(conds: list[Condition]) -> str | None:
    ops = {"eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
    parts = []
    for c in conds:
        if c.field == "tags":
            fn = "array_has_all" if c.op == "all" else "array_has_any"
            parts.append(f"{fn}(tags, [{', '.join(_q(v) for v in c.value)}])")
        elif c.field.startswith("meta."):
            key = c.field[5:]
            vals = c.value if c.op == "in" else [c.value]
            parts.append(f"array_has_any(meta_kv, [{', '.join(_q(f'{key}={v}') for v in vals)}])")
        elif c.op == "in":
            parts.append(f"{c.field} IN ({', '.join(_q(v) for v in c.value)})")
        else:
            parts.append(f"{c.field} {ops[c.op]} {_q(c.value)}")
    return " AND ".join(f"({p})" for p in parts) or None


class LanceCollection:
    def __init__(self, name: str, path: Path, dim: int | None = None) -> None:
        self.name = name
        self.path = path
        self.db = lancedb.connect(str(path))
        existing = set(self.db.list_tables().tables)
        if "chunks" in existing:
            self.chunks = self.db.open_table("chunks")
            self.docs = self.db.open_table("documents")
        else:
            if dim is None:
                raise FileNotFoundError(f"collection '{name}' does not exist")
            self.chunks = self.db.create_table("chunks", schema=chunk_schema(dim), exist_ok=True)
            self.docs = self.db.create_table("documents", schema=DOC_SCHEMA, exist_ok=True)
        self.dim = self.chunks.schema.field("vector").type.list_size
        indices = self.chunks.list_indices()
        ann = [i.index_type for i in indices if i.columns == ["vector"]]
        self.has_ann = bool(ann)
        self.refine = REFINE if ann and ann[0] == "IvfSq" else None
        self.nprobes = NPROBES
        # Collections written before the `hit` column read every column but the vector.
        names = self.chunks.schema.names
        self.packed = "hit" in names
        self.columns = ["text", "hit"] if self.packed else [n for n in names if n != "vector"]
        self._pool: ThreadPoolExecutor | None = None  # hybrid search's two legs
        self.warmed = threading.Event()  # set once the search indexes are in memory
        self._prewarm([i.name for i in indices if i.columns in (["vector"], ["text"])])

    def _prewarm(self, names: list[str]) -> None:
        """Load the vector and full-text indexes in the background. LanceDB reads an index
        partition on its first probe: at 1M rows, the first pass over 200 queries took p95
        9.8-19 ms against 7.1 ms after `prewarm_index` (0.5 s, ~400 MB of index cache that the
        queries would fill anyway), and opening the collection must not wait for it."""
        self.warmed.clear()

        def run() -> None:
            try:
                for name in names:
                    self.chunks.prewarm_index(name)
            except Exception:  # deleted or rebuilt meanwhile: the first queries load it
                log.debug("prewarm of %s failed", self.name, exc_info=True)
            finally:
                self.warmed.set()

        threading.Thread(target=run, name="impetus-rag-prewarm", daemon=True).start()

    # -- writes ---------------------------------------------------------------------------
    def put_document(self, doc: DocumentRow, chunks: list[ChunkRow]) -> None:
        table = self._chunk_table(chunks)
        if self.document(doc.doc_id) is None and not self._has_chunks(doc.doc_id):
            if len(table):
                self.chunks.add(table)
        else:
            # One commit: the document's new chunks appear as its old ones disappear.
            (
                self.chunks.merge_insert("id")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .when_not_matched_by_source_delete(f"doc_id = {_q(doc.doc_id)}")
                .execute(table)
            )
        row = {
            **doc.__dict__,
            "meta": json.dumps(doc.meta, sort_keys=True),
        }
        (
            self.docs.merge_insert("doc_id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute(pa.Table.from_pylist([row], schema=DOC_SCHEMA))
        )
        self._ensure_fts()

    def delete_document(self, doc_id: str) -> bool:
        found = self.document(doc_id) is not None
        # The document row goes first: a crash in between leaves orphan chunks, which
        # `repair` removes, never a document that looks indexed but has no chunks.
        self.docs.delete(f"doc_id = {_q(doc_id)}")
        self.chunks.delete(f"doc_id = {_q(doc_id)}")
        return found

    def repair(self) -> int:
        """Delete chunks whose document row is missing (an interrupted write or delete)."""
        known = set(self.docs.to_arrow().column("doc_id").to_pylist())
        ids = self.chunks.search().select(["doc_id"]).limit(None).to_arrow()
        orphans = set(ids.column("doc_id").to_pylist()) - known
        for doc_id in orphans:
            self.chunks.delete(f"doc_id = {_q(doc_id)}")
        return len(orphans)

    def _has_chunks(self, doc_id: str) -> bool:
        return self.chunks.count_rows(f"doc_id = {_q(doc_id)}") > 0

    def _chunk_table(self, chunks: list[ChunkRow]) -> pa.Table:
        schema = self.chunks.schema
        cols: dict[str, list] = {f.name: [] for f in schema}
        for c in chunks:
            for key, value in c.__dict__.items():
                if key == "vector":
                    continue
                if key == "meta":
                    cols["meta"].append(json.dumps(value, sort_keys=True))
                    cols["meta_kv"].append([f"{k}={v}" for k, v in value.items()])
                else:
                    cols[_COLUMNS.get(key, key)].append(value)
            if self.packed:
                cols["hit"].append(_pack(c))
        vectors = np.asarray([c.vector for c in chunks], np.float32).reshape(-1, self.dim)
        flat = pa.array(vectors.reshape(-1), pa.float32())
        arrays = {k: v for k, v in cols.items() if k != "vector"}
        data = {name: pa.array(arrays[name], schema.field(name).type) for name in arrays}
        data["vector"] = pa.FixedSizeListArray.from_arrays(flat, self.dim)
        return pa.table({f.name: data[f.name] for f in schema}, schema=schema)

    def _ensure_fts(self) -> None:
        if not any(i.index_type == "FTS" for i in self.chunks.list_indices()):
            from lancedb.index import FTS

            self.chunks.create_index("text", config=FTS(with_position=False), replace=True)

    def optimize(self, *, vector_index: bool = True) -> None:
        """Scalar indexes, index/fragment upkeep, and the ANN index past `ANN_MIN_ROWS`."""
        indexed = {tuple(i.columns): i.index_type for i in self.chunks.list_indices()}
        from lancedb.index import Bitmap, BTree, LabelList

        scalar = {
            "source": Bitmap(),
            "type": Bitmap(),
            "doc_id": BTree(),
            "date": BTree(),
            "page": BTree(),
            "tags": LabelList(),
            "meta_kv": LabelList(),
        }
        for col, config in scalar.items():
            if (col,) not in indexed:
                self.chunks.create_index(col, config=config)
        # Old versions go after a minute: long enough for a search that started on one.
        self.chunks.optimize(cleanup_older_than=dt.timedelta(minutes=1))
        # The vector index comes after the compaction: an IVF index built first and then
        # carried through a compaction answered with recall@10 0.95-0.96 at 1M, the same
        # index built on the compacted table 1.0 (bench rag, three builds each).
        rows = self.chunks.count_rows()
        if vector_index and ("vector",) not in indexed and rows >= ANN_MIN_ROWS:
            self.build_vector_index(rows)

    def build_vector_index(self, rows: int | None = None) -> None:
        """IVF_SQ: k-means plus one pass over the vectors, scanned as 8-bit codes inside the
        probed partitions and re-ranked exactly (`REFINE`). At 1M it built in 17 s and answered
        in 7 ms p50 against 25 s and 10 ms for IVF_FLAT (a quarter of the bytes to scan), with the
        same recall 1.0. IVF_HNSW_SQ with LanceDB's defaults (a graph per partition) took ~170 s
        at 100k on the shared machine, and IVF_PQ lost recall (0.79 at 1M);
        docs/vector-store.md."""
        from lancedb.index import IvfSq

        rows = rows or self.chunks.count_rows()
        parts = max(1, min(MAX_PARTITIONS, round(rows**0.5)))
        config = IvfSq(distance_type="cosine", num_partitions=parts)
        self.chunks.create_index("vector", config=config, replace=True)
        self.has_ann = True
        self.refine = REFINE
        self._prewarm([i.name for i in self.chunks.list_indices() if i.columns == ["vector"]])

    # -- reads ----------------------------------------------------------------------------
    def document(self, doc_id: str) -> DocumentRow | None:
        rows = self.docs.search().where(f"doc_id = {_q(doc_id)}").limit(1).to_list()
        return _doc(rows[0]) if rows else None

    def documents(self) -> list[DocumentRow]:
        return [_doc(r) for r in self.docs.to_arrow().to_pylist()]

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
        where = to_sql(filters or [])
        if mode == "vector":
            return self._vector(vector, k, where)
        if mode == "keyword":
            return self._keyword(text or "", k, where)
        depth = max(k, 20)
        # The two legs run side by side: LanceDB releases the GIL, and on 2 cores the hybrid
        # query then costs about its slower leg rather than their sum.
        if self._pool is None:
            self._pool = ThreadPoolExecutor(2, thread_name_prefix="impetus-rag-search")
        keyword = self._pool.submit(self._keyword, text or "", depth, where)
        vectors = self._vector(vector, depth, where)
        return rrf([vectors, keyword.result()], [weight, 1.0 - weight], k)

    def _vector(self, vector: Any, k: int, where: str | None) -> list[Hit]:
        q = (
            self.chunks.search(np.asarray(vector, np.float32), vector_column_name="vector")
            .distance_type("cosine")
            .nprobes(self.nprobes)
            .select([*self.columns, "_distance"])
            .limit(k)
        )
        if self.refine:
            q = q.refine_factor(self.refine)
        if where:
            q = q.where(where, prefilter=True)
            if self._selective(where):
                # An ANN index probes a few partitions, which may hold fewer than k of the
                # filtered rows; a selective filter is cheaper, and exact, as a scan of its
                # rows (found through the scalar indexes). Qdrant's query planner does the same.
                q = q.bypass_vector_index()
        return [_hit(r, 1.0 - r["_distance"]) for r in q.to_list()]

    def _selective(self, where: str) -> bool:
        if not self.has_ann:
            return False  # no ANN index: the search is exact anyway
        return self.chunks.count_rows(where) <= EXACT_FILTER_ROWS

    def _keyword(self, text: str, k: int, where: str | None) -> list[Hit]:
        if not text.strip():
            return []
        q = (
            self.chunks.search(text, query_type="fts", fts_columns="text")
            .select([*self.columns, "_score"])
            .limit(k)
        )
        if where:
            q = q.where(where, prefilter=True)
        return [_hit(r, r["_score"]) for r in q.to_list()]

    def stats(self) -> dict:
        size = sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        return {
            "name": self.name,
            "documents": self.docs.count_rows(),
            "chunks": self.chunks.count_rows(),
            "dim": self.dim,
            "disk_bytes": size,
            "indexes": sorted(f"{i.columns[0]}:{i.index_type}" for i in self.chunks.list_indices()),
        }


def _meta(value: str | None) -> dict:
    return json.loads(value) if value else {}


def _doc(r: dict) -> DocumentRow:
    return DocumentRow(**{**{k: r[k] for k in DOC_SCHEMA.names}, "meta": _meta(r["meta"])})


def _pack(c: ChunkRow) -> str:
    return json.dumps(
        {
            "id": c.id,
            "doc_id": c.doc_id,
            "source": c.source,
            "type": c.type,
            "page": c.page,
            "section": c.section,
            "start": c.start,
            "end": c.end,
            "date": c.date.isoformat(),
            "tags": list(c.tags),
            "meta": c.meta,
        },
        separators=(",", ":"),
    )


def _hit(r: dict, score: float) -> Hit:
    if r.get("hit") is not None:
        h = json.loads(r["hit"])
        h["date"] = dt.datetime.fromisoformat(h["date"])
    else:  # a collection written before the packed column: the separate ones
        h = {**r, "start": r["char_start"], "end": r["char_end"], "tags": list(r["tags"] or [])}
        h["meta"] = _meta(r["meta"])
    return Hit(
        chunk_id=h["id"],
        doc_id=h["doc_id"],
        text=r["text"],
        score=float(score),
        source=h["source"],
        type=h["type"],
        page=h["page"],
        section=h["section"],
        start=h["start"],
        end=h["end"],
        date=h["date"],
        tags=h["tags"],
        meta=h["meta"],
    )


class LanceStore:
    """Collections as folders under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._open: dict[str, LanceCollection] = {}

    def _path(self, name: str) -> Path:
        if not NAME.match(name):
            raise ValueError(
                "a collection name is 1-64 letters, digits, '_', '-' or '.', starting with a "
                "letter or digit"
            )
        return self.root / name

    def create(self, name: str, dim: int) -> LanceCollection:
        path = self._path(name)
        if path.exists():
            raise FileExistsError(f"collection '{name}' already exists")
        path.mkdir(parents=True)
        self._open[name] = LanceCollection(name, path, dim)
        return self._open[name]

    def open(self, name: str) -> LanceCollection:
        if name not in self._open:
            path = self._path(name)
            if not (path / "chunks.lance").exists():
                raise FileNotFoundError(f"collection '{name}' does not exist")
            self._open[name] = LanceCollection(name, path)
        return self._open[name]

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "chunks.lance").exists())

    def drop(self, name: str) -> bool:
        path = self._path(name)
        self._open.pop(name, None)
        if not path.exists():
            return False
        shutil.rmtree(path)
        return True
