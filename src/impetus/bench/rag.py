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

from impetus.bench.rag_data import QUERIES, ground_truth, queries, vocabulary
from impetus.bench.rag_stores import ADAPTERS

STORES = list(ADAPTERS)


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
    vocab = vocabulary()
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
