"""Prometheus metrics, one registry per app (no module globals: two apps can live side by side).

Counters and histograms are updated when a request ends; gauges (slots, queue, KV cache, rates,
process RSS and CPU) are read from the engine when /metrics is scraped.
"""

from __future__ import annotations

import sys

import psutil
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from impetus.engines.protocol import Generation

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_ITL_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1)


class Metrics:
    def __init__(self, runtime) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "impetus_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        self.prompt_tokens = Counter("impetus_prompt_tokens", "Prompt tokens", registry=r)
        self.completion_tokens = Counter(
            "impetus_completion_tokens", "Generated tokens", registry=r
        )
        self.ttft = Histogram(
            "impetus_time_to_first_token_seconds",
            "Arrival to first token",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.itl = Histogram(
            "impetus_inter_token_latency_seconds",
            "Gap between consecutive tokens of one stream",
            buckets=_ITL_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "impetus_queue_wait_seconds",
            "Arrival to admission into a slot",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.request_seconds = Histogram(
            "impetus_request_duration_seconds",
            "Whole request, by route",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        r.register(_LiveCollector(runtime))

    def observe_response(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.request_seconds.labels(route).observe(seconds)

    def observe_first_token(self, gen: Generation) -> None:
        """At a request's first token, not at its end: a long stream's TTFT and queue wait
        show in /metrics and on the dashboard while it still runs."""
        u = gen.usage
        if u.ttft_seconds is not None:
            self.ttft.observe(u.ttft_seconds)
            self.queue_wait.observe(u.queue_seconds)

    def observe_generation(self, gen: Generation) -> None:
        u = gen.usage
        self.prompt_tokens.inc(u.prompt_tokens)
        self.completion_tokens.inc(u.completion_tokens)
        for gap in gen.token_gaps:
            self.itl.observe(gap)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _LiveCollector:
    """Gauges read at scrape time from the engine and the process."""

    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self.process = psutil.Process()
        self.process.cpu_percent(None)  # prime: the next call measures since now

    def collect(self):
        proc = self.process
        rss = GaugeMetricFamily("impetus_process_rss_bytes", "Resident memory of the server")
        rss.add_metric([], proc.memory_info().rss)
        yield rss
        cpu = GaugeMetricFamily("impetus_process_cpu_percent", "CPU since the last scrape")
        cpu.add_metric([], proc.cpu_percent(None))
        yield cpu
        cpu_total = CounterMetricFamily("impetus_process_cpu_seconds", "CPU time used")
        times = proc.cpu_times()
        cpu_total.add_metric([], times.user + times.system)
        yield cpu_total
        ready = GaugeMetricFamily("impetus_ready", "1 when a model is loaded and serving")
        ready.add_metric([], 1.0 if self.runtime.state == "ready" else 0.0)
        yield ready
        yield from self._models()
        yield from self._mlx_memory()
        yield from self._engines()

    def _engines(self):
        """Scheduler gauges and counters for every loaded model, labelled by its name (the
        dashboard and the tray sum them; a model loaded on demand counts like the default)."""
        engines = {e.info.name: e for e in self.runtime.loaded_engines()}
        if not engines and self.runtime.engine is not None:
            engines[self.runtime.engine.info.name] = self.runtime.engine
        stats = {name: engine.stats() for name, engine in engines.items()}
        gauges = {
            "impetus_slots_total": ("Sequence slots", lambda s: s["slots_total"]),
            "impetus_active_requests": (
                "Requests decoding or prefilling",
                lambda s: s["slots_active"],
            ),
            "impetus_queue_depth": ("Requests waiting for a slot", lambda s: s["queue_depth"]),
            "impetus_kv_cache_cells_total": (
                "KV cache size in tokens",
                lambda s: s["kv_cells_total"],
            ),
            "impetus_kv_cache_cells_used": ("KV cache tokens in use", lambda s: s["kv_cells_used"]),
            "impetus_kv_cache_usage_ratio": (
                "KV cache in use",
                lambda s: s["kv_cells_used"] / max(1, s["kv_cells_total"]),
            ),
            "impetus_tokens_per_second": (
                "Generated tokens/s, last 5 s",
                lambda s: s["tokens_per_second"],
            ),
            "impetus_prefix_cache_hit_ratio": (
                "Prompt tokens served from cached KV",
                lambda s: s["prompt_tokens_cached"] / max(1, s["prompt_tokens"]),
            ),
            # llama.cpp only: one thread while other processes take the cores
            "impetus_engine_threads": ("CPU threads the engine decodes with", "threads"),
        }
        for name, (doc, read) in gauges.items():
            g = GaugeMetricFamily(name, doc, labels=["model"])
            for model, st in stats.items():
                if isinstance(read, str):
                    if read in st:
                        g.add_metric([model], float(st[read]))
                else:
                    g.add_metric([model], float(read(st)))
            yield g
        size = GaugeMetricFamily("impetus_model_size_bytes", "Model file size", labels=["model"])
        for model, engine in engines.items():
            size.add_metric([model], float(engine.info.size_bytes))
        yield size
        for key, name, doc in (
            ("prefix_cache_hits", "impetus_prefix_cache_hits", "Requests that reused cached KV"),
            (
                "prompt_tokens_cached",
                "impetus_prompt_tokens_cached",
                "Prompt tokens reused from KV",
            ),
            ("step_seconds", "impetus_engine_busy_seconds", "Time the engine spent in steps"),
            ("decode_seconds", "impetus_engine_decode_seconds", "Time inside llama_decode"),
            ("batch_rows", "impetus_engine_batch_rows", "Tokens decoded (prompt + generated)"),
            ("decode_steps", "impetus_engine_steps", "Engine steps"),
            (
                "direct_tokens",
                "impetus_engine_direct_tokens",
                "Streamed tokens the engine thread wrote to the client itself",
            ),
            ("thread_drops", "impetus_engine_thread_drops", "Drops to one thread (contention)"),
        ):
            c = CounterMetricFamily(name, doc, labels=["model"])
            for model, st in stats.items():
                if key in st:
                    c.add_metric([model], float(st[key]))
            yield c

    def _mlx_memory(self):
        """MLX's allocator, process-wide (every MLX model shares it), once mlx is in use: a
        server that never loaded an MLX model does not import it for a scrape."""
        mx = sys.modules.get("mlx.core")
        if mx is None:
            return
        for name, doc, value in (
            ("impetus_mlx_active_bytes", "MLX memory held by arrays", mx.get_active_memory()),
            ("impetus_mlx_peak_bytes", "MLX peak memory since start", mx.get_peak_memory()),
            ("impetus_mlx_cache_bytes", "MLX buffer cache, reusable", mx.get_cache_memory()),
        ):
            g = GaugeMetricFamily(name, doc)
            g.add_metric([], float(value))
            yield g

    def _models(self):
        """Per loaded model: load time and estimated memory (weights + KV cache)."""
        manager = getattr(self.runtime, "manager", None)
        if manager is None:
            return
        entries = manager.loaded()
        load = GaugeMetricFamily(
            "impetus_model_load_seconds", "Time the model took to load", labels=["model"]
        )
        mem = GaugeMetricFamily(
            "impetus_model_memory_bytes", "Estimated memory of a loaded model", labels=["model"]
        )
        for e in entries:
            load.add_metric([e.name], e.load_seconds)
            mem.add_metric([e.name], float(e.memory_bytes))
        yield load
        yield mem
        n = GaugeMetricFamily("impetus_models_loaded", "Models in memory")
        n.add_metric([], len(entries))
        yield n
        budget = GaugeMetricFamily("impetus_memory_budget_bytes", "Memory budget for models")
        budget.add_metric([], manager.budget)
        yield budget
