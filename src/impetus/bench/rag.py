"""`impetus bench rag`: vector stores compared on the same data, and our store at 10k-1M.

Data (seeded, cached under the cache folder): 384-d unit vectors around 1,000 Gaussian centres;
`source` (50 values, ~2% each) and `year` metadata; 30 words of text per row from a 5,000-word
Zipf vocabulary. 200 queries drawn the same way; ground truth is exact top-10 by brute force,
over all rows and over the rows with `source == "src-7"`. Each store builds in one process and
is measured in a fresh one (open time, then one query at a time, then RSS), so RSS is the store's
own and not the ingest data's.

    impetus bench rag --stores lancedb,qdrant-edge,faiss-hnsw,chroma,milvus-lite --sizes 100000
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DIM = 384
CENTRES = 1000
SOURCES = 50
VOCAB = 5000
WORDS = 30
QUERIES = 200
FILTER_SOURCE = "src-7"
SEED = 7
STORES = ["lancedb", "qdrant-edge", "faiss-hnsw", "chroma", "milvus-lite"]


# -- data -------------------------------------------------------------------------------------
def _vocab() -> list[str]:
    rng = np.random.default_rng(SEED + 1)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, size=rng.integers(4, 9))) for _ in range(VOCAB)]


def _word_probs() -> np.ndarray:
    p = 1.0 / np.arange(1, VOCAB + 1) ** 0.8
    return p / p.sum()


def _centres() -> np.ndarray:
    return np.random.default_rng(SEED).standard_normal((CENTRES, DIM)).astype(np.float32)


def _vectors(rng: np.random.Generator, n: int, centres: np.ndarray) -> np.ndarray:
    v = centres[rng.integers(0, CENTRES, n)] + 0.6 * rng.standard_normal((n, DIM)).astype(
        np.float32
    )
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def rows(n: int, start: int = 0, batch: int = 20_000):
    """Batches of (ids, vectors, texts, sources, years), the same for every store."""
    vocab = np.array(_vocab())
    probs = _word_probs()
    centres = _centres()
    for lo in range(start, n, batch):
        hi = min(n, lo + batch)
        rng = np.random.default_rng([SEED, lo])
        vecs = _vectors(rng, hi - lo, centres)
        words = vocab[rng.choice(VOCAB, size=(hi - lo, WORDS), p=probs)]
        texts = [" ".join(w) for w in words]
        sources = [f"src-{i % SOURCES}" for i in range(lo, hi)]
        years = (2000 + (np.arange(lo, hi) * 7919) % 25).tolist()
        yield list(range(lo, hi)), vecs, texts, sources, years


def queries() -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(SEED + 99)
    vecs = _vectors(rng, QUERIES, _centres())
    vocab = _vocab()
    # Mid-frequency words: common enough to match, rare enough to rank.
    words = rng.integers(50, 1000, size=(QUERIES, 2))
    return vecs, [f"{vocab[a]} {vocab[b]}" for a, b in words]


def ground_truth(n: int, cache: Path) -> dict:
    path = cache / f"truth-{n}.npz"
    if path.exists():
        z = np.load(path)
        return {"all": z["all"], "filtered": z["filtered"]}
    qv, _ = queries()
    best = np.full((QUERIES, 10), -1, np.int64)
    best_s = np.full((QUERIES, 10), -np.inf, np.float32)
    fbest = best.copy()
    fbest_s = best_s.copy()
    for ids, vecs, _, sources, _ in rows(n):
        ids_a = np.array(ids)
        s = qv @ vecs.T
        mask = np.array([src == FILTER_SOURCE for src in sources])
        for out, out_s, scores, idx in (
            (best, best_s, s, ids_a),
            (fbest, fbest_s, s[:, mask], ids_a[mask]),
        ):
            cat_s = np.concatenate([out_s, scores], axis=1)
            cat_i = np.concatenate([out, np.broadcast_to(idx, (QUERIES, len(idx)))], axis=1)
            top = np.argsort(-cat_s, axis=1)[:, :10]
            out[:] = np.take_along_axis(cat_i, top, 1)
            out_s[:] = np.take_along_axis(cat_s, top, 1)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, all=best, filtered=fbest)
    return {"all": best, "filtered": fbest}


# -- stores -----------------------------------------------------------------------------------
class LanceBench:
    """Our store, through the same class the server uses."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def build(self, n: int) -> None:
        import datetime as dt

        from impetus.rag.lance_store import LanceCollection
        from impetus.rag.store import ChunkRow

        coll = LanceCollection("bench", self.path, DIM)
        now = dt.datetime(2026, 1, 1)
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
        coll._ensure_fts()
        coll.optimize()
        coll.chunks.cleanup_old_versions(dt.timedelta(0))  # no reader to protect here

    def open(self) -> None:
        from impetus.rag.lance_store import LanceCollection
        from impetus.rag.store import Condition

        self.coll = LanceCollection("bench", self.path)
        self.cond = [Condition("source", "eq", FILTER_SOURCE)]

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
    """HNSW (M=32, efSearch=64); filters through an IDSelector. No keyword search."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def build(self, n: int) -> None:
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

    def open(self) -> None:
        import faiss

        self.faiss = faiss
        self.index = faiss.read_index(str(self.path / "index.faiss"))
        self.index.hnsw.efSearch = 64
        ids = np.load(self.path / "filter-ids.npy")
        self.params = faiss.SearchParametersHNSW(sel=faiss.IDSelectorBatch(ids), efSearch=64)

    def vector(self, q, filtered: bool) -> list[int]:
        kw = {"params": self.params} if filtered else {}
        _, idx = self.index.search(q[None, :], 10, **kw)
        return [int(i) for i in idx[0] if i >= 0]

    keyword = None
    hybrid = None


class ChromaBench:
    """Embedded Chroma (HNSW defaults). Keyword: a `$contains` document filter; no hybrid."""

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


# -- measuring --------------------------------------------------------------------------------
def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _pct(xs: list[float]) -> dict:
    a = np.array(xs) * 1000
    return {
        "p50": round(float(np.percentile(a, 50)), 2),
        "p95": round(float(np.percentile(a, 95)), 2),
    }


def _recall(got: list[list[int]], truth: np.ndarray) -> float:
    hits = sum(len(set(g) & set(t.tolist())) for g, t in zip(got, truth, strict=True))
    return round(hits / truth.size, 3)


def worker_build(store: str, n: int, path: Path) -> dict:
    t0 = time.perf_counter()
    ADAPTERS[store](path).build(n)
    secs = time.perf_counter() - t0
    return {"build_s": round(secs, 1), "rows_per_s": round(n / secs)}


def worker_query(store: str, n: int, path: Path, cache: Path) -> dict:
    truth = ground_truth(n, cache)
    qv, qt = queries()
    base = _rss_mb()
    t0 = time.perf_counter()
    s = ADAPTERS[store](path)
    s.open()
    out: dict = {"open_s": round(time.perf_counter() - t0, 3)}
    for q in qv[:10]:  # warm-up
        s.vector(q, False)
    for name, filtered in (("vector", False), ("vector_filter", True)):
        times, got = [], []
        for q in qv:
            t = time.perf_counter()
            got.append(s.vector(q, filtered))
            times.append(time.perf_counter() - t)
        out[name] = {
            **_pct(times),
            "recall": _recall(got, truth["filtered" if filtered else "all"]),
        }
    for name, fn, args in (
        ("keyword", s.keyword, lambda i: (qt[i],)),
        ("hybrid_filter", s.hybrid, lambda i: (qv[i], qt[i])),
    ):
        if fn is None:
            out[name] = None
            continue
        times = []
        for i in range(QUERIES):
            t = time.perf_counter()
            fn(*args(i))
            times.append(time.perf_counter() - t)
        out[name] = _pct(times)
    out["rss_mb"] = round(_rss_mb())
    out["rss_store_mb"] = round(_rss_mb() - base)
    out["disk_mb"] = round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20)
    return out


def _sub(args: list[str], timeout: float) -> dict:
    cmd = ["nice", "-n", "15", sys.executable, "-m", "impetus.bench.rag", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(stores: list[str], sizes: list[int], work: Path, log=print, timeout: float = 1800) -> list:
    results = []
    for n in sizes:
        log(f"ground truth for {n:,} rows")
        ground_truth(n, work / "cache")
        for store in stores:
            path = work / f"{store}-{n}"
            shutil.rmtree(path, ignore_errors=True)
            log(f"{store} {n:,}: build")
            res = {"store": store, "n": n}
            try:
                res |= _sub(["build", store, str(n), str(path)], timeout)
                if "error" not in res:
                    log(f"{store} {n:,}: query")
                    res |= _sub(["query", store, str(n), str(path), str(work / "cache")], timeout)
            except subprocess.TimeoutExpired:
                res["error"] = f"not finished in {timeout:.0f} s"
            log(json.dumps(res))
            results.append(res)
            shutil.rmtree(path, ignore_errors=True)
    return results


def _cell(r: dict | None, key: str = "") -> str:
    if r is None:
        return "–"
    text = f"{r['p50']}/{r['p95']}"
    return f"{text} ({r['recall']})" if "recall" in r else text


def render(results: list[dict]) -> str:
    head = (
        "| store | N | build (rows/s) | open | RSS (store) | disk | vector p50/p95 ms (recall@10) "
        "| filter source==X (recall@10) | keyword | hybrid+filter |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in results:
        if "error" in r:
            lines.append(f"| {r['store']} | {r['n']:,} | {r['error']} |||||||| ")
            continue
        lines.append(
            f"| {r['store']} | {r['n']:,} | {r['build_s']} s ({r['rows_per_s']:,}) | {r['open_s']} s "
            f"| {r['rss_mb']} MB ({r['rss_store_mb']}) | {r['disk_mb']} MB | {_cell(r['vector'])} "
            f"| {_cell(r['vector_filter'])} | {_cell(r['keyword'])} | {_cell(r['hybrid_filter'])} |"
        )
    return head + "\n".join(lines) + "\n"


def plot(results: list[dict], path: Path, store: str = "lancedb") -> bool:
    ok = [r for r in results if r["store"] == store and "error" not in r]
    if len(ok) < 2:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok.sort(key=lambda r: r["n"])
    xs = [r["n"] for r in ok]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (
        ("vector", "vector"),
        ("vector_filter", "vector + filter"),
        ("keyword", "keyword"),
        ("hybrid_filter", "hybrid + filter"),
    ):
        ax.plot(xs, [r[key]["p95"] for r in ok], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("chunks in the collection")
    ax.set_ylabel("p95 latency (ms)")
    ax.set_title(f"{store}: top-10 latency vs collection size")
    ax.legend()
    ax.grid(True, alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def main(argv: list[str]) -> None:
    kind, store, n, path = argv[0], argv[1], int(argv[2]), Path(argv[3])
    if kind == "build":
        print(json.dumps(worker_build(store, n, path)))
    else:
        print(json.dumps(worker_query(store, n, path, Path(argv[4]))))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main(sys.argv[1:])


def merge(path: Path, new: list[dict]) -> list[dict]:
    """Results kept across runs in `path`, newest per (store, N)."""
    old = json.loads(path.read_text()) if path.exists() else []
    keyed = {(r["store"], r["n"]): r for r in old}
    keyed.update({(r["store"], r["n"]): r for r in new})
    out = sorted(keyed.values(), key=lambda r: (r["n"], r["store"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    return out


def embedding_throughput(seconds: float = 20.0) -> dict:
    """Chunks/s and tokens/s of the bundled embedder on ~200-token chunks, and pages/s of
    whole-pipeline PDF ingestion (extract, chunk, embed, store) through the real `Ingestor`."""
    import tempfile

    from impetus.config import Settings
    from impetus.engines.llama_embed import default_threads
    from impetus.rag.embed import load_default_embedder
    from impetus.rag.ingest import Ingestor, Item
    from impetus.rag.lance_store import LanceCollection

    settings = Settings()
    embedder = load_default_embedder(settings.models_dir, n_threads=settings.threads)
    vocab = _vocab()
    rng = np.random.default_rng(3)
    chunks = [" ".join(rng.choice(vocab, 150)) for _ in range(64)]
    embedder.encode(chunks[:8])
    done = tokens = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        res = embedder.encode(chunks)
        done += len(chunks)
        tokens += res.total_tokens
    secs = time.perf_counter() - t0
    out = {
        "embed_chunks_per_s": round(done / secs, 1),
        "embed_tokens_per_s": round(tokens / secs),
        "threads": settings.threads or default_threads(),
    }
    pages = 40
    english = (
        "The committee reviewed the annual report and discussed the budget for the next year. "
        "Several members raised questions about maintenance costs and the schedule of repairs. "
    )
    data = _pdf([f"Page {p}. " + english * 6 for p in range(pages)])
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "report.pdf"
        src.write_bytes(data)
        coll = LanceCollection("bench", Path(tmp) / "ix", embedder.dim)
        t0 = time.perf_counter()
        res = Ingestor(embedder).ingest(coll, Item(str(src), "report.pdf"), [], {})
        secs = time.perf_counter() - t0
    out["pdf_pages_per_s"] = round(pages / secs, 1)
    out["pdf_chunks"] = res.chunks
    embedder.close()
    return out


def _pdf(pages: list[str]) -> bytes:
    """A minimal PDF with one Helvetica text page per string (80-column lines)."""
    import io
    import textwrap

    objs = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, text in enumerate(pages):
        lines = [f"({line}) Tj T*" for line in textwrap.wrap(text, 80)]
        stream = "\n".join(["BT", "/F1 11 Tf", "14 TL", "72 740 Td", *lines, "ET"]).encode()
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {5 + 2 * i} 0 R "
            "/Resources << /Font << /F1 3 0 R >> >> >>".encode()
        )
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objs, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    )
    return out.getvalue()
