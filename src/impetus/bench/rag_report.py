"""`impetus bench rag` results as Markdown tables and the latency-vs-size plot."""

from __future__ import annotations

from pathlib import Path

from impetus.bench.report import table

# Issue #8's targets at 1M chunks.
TARGETS = {
    "vector_p95_ms": 10.0,
    "hybrid_filter_p95_ms": 50.0,
    "recall": 0.95,
    "index_build_s": 600.0,
}
QUERY_KINDS = (
    ("vector", "vector top-10"),
    ("vector_filter", "vector + filter"),
    ("hybrid_filter", "hybrid + filter"),
)


def _lat(r: dict | None) -> str:
    if r is None:
        return "–"
    text = f"{r['p50']}/{r['p95']}"
    return f"{text} ({r['recall']})" if "recall" in r else text


def _cpu(r: dict | None) -> str:
    return "–" if r is None or "cpu_ms" not in r else str(r["cpu_ms"])


def _load(r: dict) -> str:
    b, q = r.get("load_build"), r.get("load_query")
    parts = []
    if b:
        parts.append(f"{b['other_cores']} / {b['loadavg_1m']}")
    if q:
        parts.append(f"{q['other_cores']} / {q['loadavg_1m']}")
    return " · ".join(parts) or "–"


def _build(r: dict) -> str:
    text = f"{r['build_s']} s ({r['rows_per_s']:,}/s)"
    return text + (f", index {r['index_s']} s" if "index_s" in r else "")


def stores_table(results: list[dict]) -> str:
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["store"], f"{r['n']:,}", r["error"], *["–"] * 8, _load(r)])
            continue
        rows.append(
            [
                r["store"],
                f"{r['n']:,}",
                _build(r),
                f"{r['open_s']} s",
                f"{r['rss_mb']} MB ({r['rss_store_mb']})",
                f"{r['disk_mb']} MB",
                _lat(r["vector"]),
                _lat(r["vector_filter"]),
                _lat(r["keyword"]),
                _lat(r["hybrid_filter"]),
                _load(r),
            ]
        )
    return table(
        [
            "store",
            "N",
            "build (rows/s)",
            "open",
            "RSS (store)",
            "disk",
            "vector p50/p95 ms (recall@10)",
            "filter source==X (recall@10)",
            "keyword",
            "hybrid+filter",
            "other cores / load avg (build · query)",
        ],
        rows,
    )


def _config(store: str) -> str:
    """An adapter's fixed configuration, for results measured before cells recorded it."""
    from impetus.bench.rag_stores import ADAPTERS

    return getattr(ADAPTERS.get(store), "config", "")


def cpu_table(results: list[dict]) -> str:
    rows = [
        [
            r["store"],
            f"{r['n']:,}",
            _cpu(r["vector"]),
            _cpu(r["vector_filter"]),
            _cpu(r["keyword"]),
            _cpu(r["hybrid_filter"]),
            r.get("build_cpu_s", "–"),
            r.get("config") or _config(r["store"]),
        ]
        for r in results
        if "error" not in r
    ]
    return table(
        [
            "store",
            "N",
            "vector",
            "vector + filter",
            "keyword",
            "hybrid + filter",
            "build CPU s",
            "configuration",
        ],
        rows,
    )


def targets_table(results: list[dict], n: int = 1_000_000) -> str:
    def mark(ok: bool) -> str:
        return "met" if ok else "**missed**"

    rows = []
    for r in results:
        if r["n"] != n or "error" in r:
            continue
        vec, filt, hyb = r["vector"], r["vector_filter"], r["hybrid_filter"]
        index_s = r.get("index_s", r["build_s"])
        cells = [
            f"{vec['p95']} ms ({vec.get('cpu_ms', '?')} CPU) {mark(vec['p95'] <= TARGETS['vector_p95_ms'])}",
            "–"
            if hyb is None
            else f"{hyb['p95']} ms ({hyb.get('cpu_ms', '?')} CPU) "
            + mark(hyb["p95"] <= TARGETS["hybrid_filter_p95_ms"]),
            f"{vec['recall']} {mark(vec['recall'] >= TARGETS['recall'])}",
            f"{filt['recall']} {mark(filt['recall'] >= TARGETS['recall'])}",
            f"{index_s / 60:.1f} min {mark(index_s <= TARGETS['index_build_s'])}",
        ]
        rows.append([r["store"], *cells])
    return table(
        [
            f"at {n:,}",
            "vector p95 ≤ 10 ms",
            "hybrid+filter p95 ≤ 50 ms",
            "recall@10 ≥ 0.95",
            "filtered recall@10 ≥ 0.95",
            "index build ≤ 10 min",
        ],
        rows,
    )


def sweep_table(results: list[dict]) -> str:
    rows = []
    for r in results:
        for name, m in (r.get("sweep") or {}).items():
            rows.append(
                [
                    r["store"],
                    f"{r['n']:,}",
                    name,
                    f"{m['p50']}/{m['p95']}",
                    m.get("cpu_ms", "–"),
                    m["recall"],
                ]
            )
    return table(["store", "N", "setting", "p50/p95 ms", "CPU ms", "recall@10"], rows)


def plot(results: list[dict], path: Path) -> bool:
    """p95 latency against collection size, one panel per query kind, one colour per store;
    dotted: CPU ms per query, which the machine's load inflates far less."""
    ok = [r for r in results if "error" not in r]
    stores = sorted({r["store"] for r in ok})
    if not any(sum(r["store"] == s for r in ok) >= 2 for s in stores):
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    colour = {s: plt.get_cmap("tab10")(i) for i, s in enumerate(stores)}
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.4), sharey=True)
    for ax, (key, title) in zip(axes, QUERY_KINDS, strict=True):
        for store in stores:
            pts = sorted((r["n"], r[key]) for r in ok if r["store"] == store and r.get(key))
            if not pts:
                continue
            xs = [n for n, _ in pts]
            ax.plot(xs, [m["p95"] for _, m in pts], marker="o", color=colour[store])
            if all("cpu_ms" in m for _, m in pts):
                ax.plot(xs, [m["cpu_ms"] for _, m in pts], ls=":", color=colour[store])
        target = {"vector": "vector_p95_ms", "hybrid_filter": "hybrid_filter_p95_ms"}.get(key)
        if target:
            ax.axhline(TARGETS[target], color="grey", ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("chunks in the collection")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("ms per query")
    handles = [Line2D([], [], color=colour[s], marker="o", label=s) for s in stores]
    handles += [
        Line2D([], [], color="black", marker="o", label="p95 wall time"),
        Line2D([], [], color="black", ls=":", label="CPU time"),
        Line2D([], [], color="grey", ls="--", label="1M target"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle("top-10 query latency vs collection size (shared, loaded 2-core machine)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _when(results: list[dict]) -> str:
    times = sorted(r["measured_at"] for r in results if "measured_at" in r)
    if not times:
        return ""
    return (
        f"Cells measured {times[0]} to {times[-1]}, each in its own build and query processes "
        "(`nice -n 5`); every cell's raw result, load and time are in "
        "[docs/bench/rag-stores.json](docs/bench/rag-stores.json)."
    )


def render(results: list[dict], ingest: dict | None) -> str:
    from impetus.bench import rag_ingest

    parts = [
        "Data: 384-d unit vectors around 1,000 Gaussian centres, `source` (50 values, 2% each), "
        "`year`, 30 words of text per row; 200 queries; recall@10 against exact top-10 (numpy "
        'brute force), without and with the filter `source == "src-7"`. One query at a time. '
        "Build = insert + every index the store needs (index = the vector index alone). The "
        "last column is how busy the machine was with other work: cores used by other "
        "processes on average during the build and the queries, and the 1-minute load "
        "average (2 cores). What the numbers mean for the store choice, and the tuning they "
        "forced: [docs/vector-store.md](docs/vector-store.md).",
        _when(results),
        stores_table(results),
        "CPU ms per query (process CPU time, all threads, per query: what the load does not "
        "add) and the configuration measured:",
        cpu_table(results),
    ]
    if any(r["n"] == 1_000_000 and "error" not in r for r in results):
        parts += ["Issue #8's targets at 1M chunks:", targets_table(results)]
    if any(r.get("sweep") for r in results):
        parts += ["Tuning sweeps (same queries, same process):", sweep_table(results)]
    if ingest:
        parts.append(rag_ingest.render(ingest))
    return "\n\n".join(parts) + "\n"
