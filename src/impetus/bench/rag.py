"""`impetus bench rag`: vector stores compared on the same data, and our store at 10k-1M.

Data (seeded, cached under the cache folder): 384-d unit vectors around 1,000 Gaussian centres;
`source` (50 values, ~2% each) and `year` metadata; 30 words of text per row from a 5,000-word
Zipf vocabulary. 200 queries drawn the same way; ground truth is exact top-10 by brute force,
over all rows and over the rows with `source == "src-7"`. Each store builds in one process and
is measured in a fresh one (open time, then one query at a time, then RSS), so RSS is the store's
own and not the ingest data's.

    impetus bench rag --sizes 10000,100000               # every store
    impetus bench rag --stores lancedb,faiss-hnsw --sizes 1000000

Every (store, size) cell is its own build and query processes (`nice -n 5`, a build time cap)
and writes `WORK/results/STORE-N.json`; a re-run keeps finished cells, so a crash or a cap
costs one cell. Each cell records how busy the machine was with other work meanwhile.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from impetus.bench.rag_data import QUERIES, ground_truth, queries
from impetus.bench.rag_stores import ADAPTERS

STORES = list(ADAPTERS)


# -- measuring --------------------------------------------------------------------------------
def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _pct(xs: list[float], cpu_s: float | None = None) -> dict:
    """p50/p95 wall ms and, when given the process CPU time the queries took, CPU ms per query:
    on a machine shared with other work the wall times include waiting for a core, the CPU
    time does not (it is what a query would cost on an idle machine, if it runs on one core)."""
    a = np.array(xs) * 1000
    out = {
        "p50": round(float(np.percentile(a, 50)), 2),
        "p95": round(float(np.percentile(a, 95)), 2),
    }
    if cpu_s is not None:
        out["cpu_ms"] = round(cpu_s * 1000 / len(xs), 2)
    return out


def _recall(got: list[list[int]], truth: np.ndarray) -> float:
    hits = sum(len(set(g) & set(t.tolist())) for g, t in zip(got, truth, strict=True))
    return round(hits / truth.size, 3)


def worker_build(store: str, n: int, path: Path) -> dict:
    t0, cpu = time.perf_counter(), time.process_time()
    phases = ADAPTERS[store](path).build(n) or {}
    secs = time.perf_counter() - t0
    return {
        "build_s": round(secs, 1),
        "rows_per_s": round(n / secs),
        "build_cpu_s": round(time.process_time() - cpu, 1),  # this process's threads only
        **phases,
    }


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
        cpu = time.process_time()
        for q in qv:
            t = time.perf_counter()
            got.append(s.vector(q, filtered))
            times.append(time.perf_counter() - t)
        out[name] = {
            **_pct(times, time.process_time() - cpu),
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
        cpu = time.process_time()
        for i in range(QUERIES):
            t = time.perf_counter()
            fn(*args(i))
            times.append(time.perf_counter() - t)
        out[name] = _pct(times, time.process_time() - cpu)
    out["rss_mb"] = round(_rss_mb())
    out["rss_store_mb"] = round(_rss_mb() - base)
    out["disk_mb"] = round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20)
    out["config"] = getattr(s, "config", "")
    # The sweep runs last, after RSS and disk, so it cannot change them.
    if hasattr(s, "sweep"):

        def timed(fn, filtered: bool) -> dict:
            times, got = [], []
            cpu = time.process_time()
            for q in qv:
                t = time.perf_counter()
                got.append(fn(q))
                times.append(time.perf_counter() - t)
            return {
                **_pct(times, time.process_time() - cpu),
                "recall": _recall(got, truth["filtered" if filtered else "all"]),
            }

        out["sweep"] = s.sweep(qv, truth, timed)
    return out


# -- running: one resumable cell per (store, size) ----------------------------------------------
def _busy_jiffies() -> int:
    """All CPUs' busy time so far (user+nice+system+irq+softirq+steal), in clock ticks."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return user + nice + system + irq + softirq + steal


class LoadMeter:
    """How busy the machine was with other work while a phase ran: CPU time of everything on
    the machine minus our child's, per second of wall time (in cores), and the load average.
    The numbers only mean something next to this (docs/vector-store.md)."""

    def __init__(self, children: bool = True) -> None:
        self.ours = _children_cpu if children else _self_cpu  # whose CPU is "ours"

    def __enter__(self) -> LoadMeter:
        self.t0 = time.perf_counter()
        self.busy0 = _busy_jiffies()
        self.ours0 = self.ours()
        return self

    def __exit__(self, *exc) -> None:
        wall = time.perf_counter() - self.t0
        hz = os.sysconf("SC_CLK_TCK")
        busy = (_busy_jiffies() - self.busy0) / hz
        ours = self.ours() - self.ours0
        self.result = {
            "other_cores": round(max(0.0, busy - ours) / max(wall, 1e-6), 2),
            "our_cores": round(ours / max(wall, 1e-6), 2),
            "loadavg_1m": round(os.getloadavg()[0], 1),
        }


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _self_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _sub(args: list[str], timeout: float) -> dict:
    """One worker phase in its own (niced, session-leading) process; on timeout the whole
    process group goes, so a store's helper processes (Milvus Lite's server) go with it."""
    cmd = ["nice", "-n", "5", sys.executable, "-m", "impetus.bench.rag", *args]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    if proc.returncode != 0:
        return {"error": (stderr.strip().splitlines() or ["failed"])[-1][:300]}
    return json.loads(stdout.strip().splitlines()[-1])


def _span(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def run_cell(
    store: str, n: int, work: Path, build_timeout: float, query_timeout: float, log=print
) -> dict:
    """Build then query one store at one size; the result (or how it failed) goes to
    `work/results/STORE-N.json`, so an interrupted run loses this cell only."""
    path = work / f"{store}-{n}"
    shutil.rmtree(path, ignore_errors=True)
    res: dict = {"store": store, "n": n}
    try:
        log(f"{store} {n:,}: build (cap {_span(build_timeout)})")
        with LoadMeter() as load:
            try:
                res |= _sub(["build", store, str(n), str(path)], build_timeout)
            except subprocess.TimeoutExpired:
                res["error"] = f"build did not finish in {_span(build_timeout)}"
        res["load_build"] = load.result
        if "error" not in res:
            log(f"{store} {n:,}: query")
            with LoadMeter() as load:
                try:
                    args = ["query", store, str(n), str(path), str(work / "cache")]
                    res |= _sub(args, query_timeout)
                except subprocess.TimeoutExpired:
                    res["error"] = f"queries did not finish in {_span(query_timeout)}"
            res["load_query"] = load.result
    finally:
        shutil.rmtree(path, ignore_errors=True)
    res["measured_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out = work / "results" / f"{store}-{n}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    log(json.dumps(res))
    return res


def run(
    stores: list[str],
    sizes: list[int],
    work: Path,
    log=print,
    build_timeout: float = 720,
    query_timeout: float = 900,
    fresh: bool = False,
    measure: bool = True,
) -> list:
    """Every (store, size) cell, smallest size first; cells already in `work/results` are
    kept unless `fresh`, so a re-run resumes where a crash or timeout stopped it. With
    `measure` off, only the kept cells come back (to rewrite the report)."""
    results = []
    for n in sizes:
        if measure:
            log(f"ground truth for {n:,} rows")
            ground_truth(n, work / "cache")
        for store in stores:
            done = work / "results" / f"{store}-{n}.json"
            if done.exists() and not fresh:
                log(f"{store} {n:,}: kept from {done}")
                results.append(json.loads(done.read_text()))
                continue
            if not measure:
                log(f"{store} {n:,}: not measured")
                continue
            results.append(run_cell(store, n, work, build_timeout, query_timeout, log))
    return results


def merge(path: Path, new: list[dict]) -> list[dict]:
    """Results kept across runs in `path`, newest per (store, N)."""
    old = json.loads(path.read_text()) if path.exists() else []
    keyed = {(r["store"], r["n"]): r for r in old}
    keyed.update({(r["store"], r["n"]): r for r in new})
    out = sorted(keyed.values(), key=lambda r: (r["n"], r["store"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    return out


def main(argv: list[str]) -> None:
    kind, store, n, path = argv[0], argv[1], int(argv[2]), Path(argv[3])
    if kind == "build":
        print(json.dumps(worker_build(store, n, path)))
    else:
        print(json.dumps(worker_query(store, n, path, Path(argv[4]))))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main(sys.argv[1:])
