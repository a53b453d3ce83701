"""The stores `impetus bench rag` compares, each behind the same five calls: build, open,
vector (with or without the source filter), keyword, hybrid (with the filter). `None` marks
what a store cannot do."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from impetus.bench.rag_data import DIM, FILTER_SOURCE, rows


class LanceBench:
    """Our store, through the same class the server uses."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def build(self, n: int) -> dict:
        """Insert, then the indexes the server's `optimize` makes, each phase timed; the
        vector index first so its time is its own."""
        import datetime as dt

        from impetus.rag.lance_store import ANN_MIN_ROWS, LanceCollection
        from impetus.rag.store import ChunkRow

        coll = LanceCollection("bench", self.path, DIM)
        now = dt.datetime(2026, 1, 1)
        t0 = time.perf_counter()
        for ids, vecs, texts, sources, years in rows(n):
            chunk_rows = [
                ChunkRow(
                    id=str(i),
                    doc_id=str(i),
                    text=t,
                    vector=v,
                    source=s,
                    type="text",
                    page=None,
                    section=None,
                    start=0,
                    end=len(t),
                    date=dt.datetime(y, 1, 1),
                    ingested_at=now,
                )
                for i, v, t, s, y in zip(ids, vecs, texts, sources, years, strict=True)
            ]
            coll.chunks.add(coll._chunk_table(chunk_rows))
        phases = {"insert_s": round(time.perf_counter() - t0, 1)}
        t0 = time.perf_counter()
        coll._ensure_fts()
        phases["fts_s"] = round(time.perf_counter() - t0, 1)
        # What the server's `optimize` does after a job, in its order, each phase timed:
        # scalar indexes and compaction, then the vector index on the compacted table.
        t0 = time.perf_counter()
        coll.optimize(vector_index=False)
        coll.chunks.optimize(cleanup_older_than=dt.timedelta(0))  # no reader to protect here
        phases["scalar_compact_s"] = round(time.perf_counter() - t0, 1)
        if n >= ANN_MIN_ROWS:
            t0 = time.perf_counter()
            coll.build_vector_index(n)
            phases["index_s"] = round(time.perf_counter() - t0, 1)
        return phases

    def open(self) -> None:
        from impetus.rag.lance_store import EXACT_FILTER_ROWS, LanceCollection
        from impetus.rag.store import Condition

        self.coll = LanceCollection("bench", self.path)
        self.coll.warmed.wait(120)  # part of opening for a server: its indexes in memory
        self.cond = [Condition("source", "eq", FILTER_SOURCE)]
        ann = [i for i in self.coll.chunks.list_indices() if i.columns == ["vector"]]
        self.config = (
            f"{ann[0].index_type}, nprobes {self.coll.nprobes}; filters matching "
            f"<= {EXACT_FILTER_ROWS:,} rows scanned exactly"
            if ann
            else "no ANN index (exact scan)"
        )

    def sweep(self, qv, truth, timed) -> dict:
        """The knobs behind the configuration above: IVF probes, and a selective filter
        through the ANN index with a prefilter instead of the exact scan."""
        from impetus.rag.lance_store import to_sql

        if not self.coll.has_ann:
            return {}
        out, where = {}, to_sql(self.cond)

        def ann(q, nprobes, filtered, exact=False):
            s = self.coll.chunks.search(q, vector_column_name="vector").distance_type("cosine")
            s = s.nprobes(nprobes).select(["id"]).limit(10)
            if filtered:
                s = s.where(where, prefilter=True)
            if exact:
                s = s.bypass_vector_index()
            return [int(x) for x in s.to_arrow().column("id").to_pylist()]

        for nprobes in (5, 10, 20, 40):
            out[f"vector_nprobes_{nprobes}"] = timed(lambda q, p=nprobes: ann(q, p, False), False)
            out[f"filter_ann_nprobes_{nprobes}"] = timed(lambda q, p=nprobes: ann(q, p, True), True)
        out["filter_exact_scan"] = timed(lambda q: ann(q, 20, True, exact=True), True)
        return out

    def _ids(self, hits) -> list[int]:
        return [int(h.chunk_id) for h in hits]

    def vector(self, q, filtered: bool) -> list[int]:
        f = self.cond if filtered else None
        return self._ids(self.coll.search(vector=q, k=10, mode="vector", filters=f))

    def keyword(self, text: str) -> list[int]:
        return self._ids(self.coll.search(text=text, k=10, mode="keyword"))

    def hybrid(self, q, text: str) -> list[int]:
        hits = self.coll.search(vector=q, text=text, k=10, mode="hybrid", filters=self.cond)
        return self._ids(hits)


class QdrantEdgeBench:
    config = "HNSW m=16 ef_construct=100; keyword/integer payload indexes; BM25 text index; RRF"

    def __init__(self, path: Path) -> None:
        self.path = path

    def build(self, n: int) -> None:
        import qdrant_edge as qe

        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=DIM, distance=qe.Distance.Cosine),
            hnsw_config=qe.HnswIndexConfig(m=16, ef_construct=100, full_scan_threshold=10_000),
        )
        self.path.mkdir(parents=True, exist_ok=True)
        shard = qe.EdgeShard.create(str(self.path), config)
        shard.update(qe.UpdateOperation.create_field_index("source", qe.PayloadSchemaType.Keyword))
        shard.update(qe.UpdateOperation.create_field_index("year", qe.PayloadSchemaType.Integer))
        text_index = qe.TextIndexParams(tokenizer=qe.TokenizerType.Word, scoring=True)
        shard.update(qe.UpdateOperation.create_field_index("text", text_index))
        for ids, vecs, texts, sources, years in rows(n, batch=5000):
            points = [
                qe.Point(i, v.tolist(), {"text": t, "source": s, "year": y})
                for i, v, t, s, y in zip(ids, vecs, texts, sources, years, strict=True)
            ]
            shard.update(qe.UpdateOperation.upsert_points(points))
        shard.optimize()
        shard.flush()
        shard.close()

    def open(self) -> None:
        import qdrant_edge as qe

        self.qe = qe
        self.shard = qe.EdgeShard.load(str(self.path))
        self.filter = qe.Filter(
            must=[qe.FieldCondition("source", match=qe.MatchValue(FILTER_SOURCE))]
        )

    def _q(self, **kw) -> list[int]:
        return [int(p.id) for p in self.shard.query(self.qe.QueryRequest(limit=10, **kw))]

    def vector(self, q, filtered: bool) -> list[int]:
        f = self.filter if filtered else None
        return self._q(query=self.qe.Query.Nearest(q.tolist()), filter=f)

    def keyword(self, text: str) -> list[int]:
        return self._q(query=self.qe.TextQuery("text", text))

    def hybrid(self, q, text: str) -> list[int]:
        qe = self.qe
        pre = [
            qe.Prefetch(limit=20, query=qe.Query.Nearest(q.tolist()), filter=self.filter),
            qe.Prefetch(limit=20, query=qe.TextQuery("text", text), filter=self.filter),
        ]
        return self._q(prefetches=pre, query=qe.Fusion.Rrf(k=60))


class FaissBench:
    """HNSW (M=32, efConstruction=40, efSearch=128). FAISS keeps no metadata, so the bench
    keeps the filter's row ids and a filtered query scans those rows' vectors exactly (what an
    application on FAISS would have to do; an HNSW walk through an IDSelector is in the
    sweep). No keyword search."""

    EF_SEARCH = 128
    config = f"HNSW M=32 efC=40 efS={EF_SEARCH}; filter: exact scan of its rows"

    def __init__(self, path: Path) -> None:
        self.path = path

    def build(self, n: int) -> dict:
        import faiss

        index = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 40
        sources = []
        for _, vecs, _, srcs, _ in rows(n):
            index.add(vecs)
            sources.extend(srcs)
        self.path.mkdir(parents=True, exist_ok=True)
        faiss.write_index(index, str(self.path / "index.faiss"))
        ids = np.array([i for i, s in enumerate(sources) if s == FILTER_SOURCE], np.int64)
        np.save(self.path / "filter-ids.npy", ids)
        return {}

    def open(self) -> None:
        import faiss

        self.faiss = faiss
        self.index = faiss.read_index(str(self.path / "index.faiss"))
        self.index.hnsw.efSearch = self.EF_SEARCH
        self.fids = np.load(self.path / "filter-ids.npy")
        self.fvecs = self.index.reconstruct_batch(self.fids)

    def vector(self, q, filtered: bool) -> list[int]:
        if filtered:
            scores = self.fvecs @ q
            top = np.argpartition(-scores, 10)[:10]
            return self.fids[top[np.argsort(-scores[top])]].tolist()
        _, idx = self.index.search(q[None, :], 10)
        return [int(i) for i in idx[0] if i >= 0]

    def sweep(self, qv, truth, timed) -> dict:
        out = {}
        for ef in (64, 128, 256):
            params = self.faiss.SearchParametersHNSW(efSearch=ef)
            out[f"vector_efsearch_{ef}"] = timed(lambda q, p=params: self._hnsw(q, p), False)
        sel = self.faiss.IDSelectorBatch(self.fids)
        params = self.faiss.SearchParametersHNSW(sel=sel, efSearch=self.EF_SEARCH)
        out["filter_hnsw_idselector"] = timed(lambda q: self._hnsw(q, params), True)
        return out

    def _hnsw(self, q, params) -> list[int]:
        _, idx = self.index.search(q[None, :], 10, params=params)
        return [int(i) for i in idx[0] if i >= 0]

    keyword = None
    hybrid = None


class ChromaBench:
    """Embedded Chroma (HNSW defaults). Keyword: a `$contains` document filter; no hybrid."""

    config = "HNSW defaults; keyword = `$contains` filter (no BM25); no hybrid locally"

    def __init__(self, path: Path) -> None:
        self.path = path

    def build(self, n: int) -> None:
        import chromadb

        client = chromadb.PersistentClient(str(self.path))
        coll = client.create_collection("bench", metadata={"hnsw:space": "cosine"})
        for ids, vecs, texts, sources, years in rows(n, batch=5000):
            coll.add(
                ids=[str(i) for i in ids],
                embeddings=vecs,
                documents=texts,
                metadatas=[{"source": s, "year": y} for s, y in zip(sources, years, strict=True)],
            )

    def open(self) -> None:
        import chromadb

        self.coll = chromadb.PersistentClient(str(self.path)).get_collection("bench")

    def vector(self, q, filtered: bool) -> list[int]:
        kw = {"where": {"source": FILTER_SOURCE}} if filtered else {}
        res = self.coll.query(query_embeddings=[q.tolist()], n_results=10, include=[], **kw)
        return [int(i) for i in res["ids"][0]]

    def keyword(self, text: str) -> list[int]:
        word = text.split()[0]
        res = self.coll.get(where_document={"$contains": word}, limit=10, include=[])
        return [int(i) for i in res["ids"]]

    hybrid = None


class MilvusLiteBench:
    """Milvus Lite through pymilvus: HNSW vectors, BM25 function, RRF hybrid."""

    config = "HNSW (defaults); BM25 function + sparse index; RRF hybrid"

    def __init__(self, path: Path) -> None:
        self.path = path

    def _client(self):
        from pymilvus import MilvusClient

        return MilvusClient(str(self.path / "milvus.db"))

    def build(self, n: int) -> None:
        from pymilvus import DataType, Function, FunctionType

        self.path.mkdir(parents=True, exist_ok=True)
        client = self._client()
        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
        schema.add_field("text", DataType.VARCHAR, max_length=2000, enable_analyzer=True)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("source", DataType.VARCHAR, max_length=32)
        schema.add_field("year", DataType.INT64)
        schema.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=["text"],
                output_field_names=["sparse"],
            )
        )
        index = client.prepare_index_params()
        index.add_index("vector", index_type="HNSW", metric_type="COSINE")
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        client.create_collection("bench", schema=schema, index_params=index)
        for ids, vecs, texts, sources, years in rows(n, batch=5000):
            data = [
                {"id": i, "vector": v.tolist(), "text": t, "source": s, "year": y}
                for i, v, t, s, y in zip(ids, vecs, texts, sources, years, strict=True)
            ]
            client.insert("bench", data)
        client.flush("bench")
        client.close()

    def open(self) -> None:
        self.client = self._client()
        self.client.load_collection("bench")

    def vector(self, q, filtered: bool) -> list[int]:
        kw = {"filter": f'source == "{FILTER_SOURCE}"'} if filtered else {}
        res = self.client.search("bench", [q.tolist()], limit=10, anns_field="vector", **kw)
        return [int(h["id"]) for h in res[0]]

    def keyword(self, text: str) -> list[int]:
        res = self.client.search("bench", [text], limit=10, anns_field="sparse")
        return [int(h["id"]) for h in res[0]]

    def hybrid(self, q, text: str) -> list[int]:
        from pymilvus import AnnSearchRequest, RRFRanker

        f = f'source == "{FILTER_SOURCE}"'
        reqs = [
            AnnSearchRequest([q.tolist()], "vector", {}, limit=20, expr=f),
            AnnSearchRequest([text], "sparse", {}, limit=20, expr=f),
        ]
        res = self.client.hybrid_search("bench", reqs, RRFRanker(60), limit=10)
        return [int(h["id"]) for h in res[0]]


ADAPTERS = {
    "lancedb": LanceBench,
    "qdrant-edge": QdrantEdgeBench,
    "faiss-hnsw": FaissBench,
    "chroma": ChromaBench,
    "milvus-lite": MilvusLiteBench,
}
