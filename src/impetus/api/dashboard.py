"""The dashboard's own endpoints: the live feed and the server's effective defaults.

`GET /admin/metrics/stream` reads the same sources as /metrics (engine stats, the TTFT histogram,
the model manager's table, the process's RSS and CPU) and pushes one JSON snapshot a second to
the browser over server-sent events, so the Overview page never polls. The stream ends when the
client disconnects. `GET /admin/dashboard/settings` is what the Settings page shows as defaults
(read-only: the server is configured by config.toml, IMPETUS_* variables and flags).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import psutil
from fastapi import APIRouter, Request

from impetus.api.sse import EventStreamResponse, event
from impetus.config import config_file

router = APIRouter()

INTERVAL = 1.0


def _histogram_totals(histogram) -> tuple[float, float]:
    """(sum, count) of an unlabelled prometheus Histogram."""
    total = count = 0.0
    for family in histogram.collect():
        for sample in family.samples:
            if sample.name.endswith("_sum"):
                total = sample.value
            elif sample.name.endswith("_count"):
                count = sample.value
    return total, count


class Sampler:
    """Builds snapshots; remembers the previous one to turn totals into per-interval rates."""

    def __init__(self, app) -> None:
        self.runtime = app.state.runtime
        self.manager = self.runtime.manager
        self.process = psutil.Process()
        self.process.cpu_percent(None)  # prime: the next call measures since now
        self.metrics = app.state.metrics
        self._ttft = _histogram_totals(self.metrics.ttft)

    def snapshot(self) -> dict:
        runtime = self.runtime
        proc = self.process
        entries = self.manager.loaded()
        ttft_sum, ttft_count = _histogram_totals(self.metrics.ttft)
        prev_sum, prev_count = self._ttft
        self._ttft = (ttft_sum, ttft_count)
        new = ttft_count - prev_count
        snap: dict = {
            "time": time.time(),
            "status": runtime.state,
            "uptime_seconds": round(time.time() - runtime.started, 1),
            "rss_bytes": proc.memory_info().rss,
            "cpu_percent": proc.cpu_percent(None),
            "cpu_count": psutil.cpu_count() or 1,
            # Mean TTFT of the first tokens since the last snapshot (the histogram is observed
            # at each request's first token); null when there were none.
            "ttft_ms": round((ttft_sum - prev_sum) / new * 1000, 2) if new > 0 else None,
            "tokens_per_second": 0.0,
            "active_requests": 0,
            "queued_requests": 0,
            "slots_total": 0,
            "completion_tokens": 0,
            "prompt_tokens": 0,
            "memory_budget_bytes": self.manager.budget,
            "memory_used_bytes": sum(e.memory_bytes for e in entries),
            "models": [],
        }
        for entry in entries:
            engine = entry.engine
            s = engine.stats()
            snap["tokens_per_second"] += float(s["tokens_per_second"])
            snap["active_requests"] += int(s["slots_active"])
            snap["queued_requests"] += int(s["queue_depth"])
            snap["slots_total"] += int(s["slots_total"])
            snap["completion_tokens"] += int(s["completion_tokens"])
            snap["prompt_tokens"] += int(s["prompt_tokens"])
            snap["models"].append(
                {
                    "id": entry.name,
                    "engine": engine.name,
                    "size_bytes": engine.info.size_bytes,
                    # Weights and KV cache, as the manager counts it against the budget.
                    "memory_bytes": entry.memory_bytes,
                    "pinned": entry.pinned,
                    "kv_cells_used": int(s["kv_cells_used"]),
                    "kv_cells_total": int(s["kv_cells_total"]),
                    "active_requests": int(s["slots_active"]),
                    "tokens_per_second": float(s["tokens_per_second"]),
                }
            )
        snap["tokens_per_second"] = round(snap["tokens_per_second"], 2)
        return snap


async def _snapshots(sampler: Sampler, gone: asyncio.Event) -> AsyncIterator[str]:
    while not gone.is_set():
        yield event(json.dumps(sampler.snapshot(), separators=(",", ":")))
        try:
            await asyncio.wait_for(gone.wait(), INTERVAL)
        except TimeoutError:
            pass


@router.get("/admin/metrics/stream")
async def metrics_stream(request: Request) -> EventStreamResponse:
    gone = asyncio.Event()
    sampler = Sampler(request.app)
    return EventStreamResponse(_snapshots(sampler, gone), on_disconnect=gone.set)


@router.get("/admin/dashboard/settings")
async def dashboard_settings(request: Request) -> dict:
    """The defaults the server runs with, after config.toml, IMPETUS_* and flags (no secrets)."""
    s = request.app.state.settings
    runtime = request.app.state.runtime
    engine = runtime.engine
    port = s.port or (request.scope.get("server") or ("", 0))[1]
    config = config_file()
    return {
        "default_model": runtime.manager.default_name or s.model,
        "engine": s.engine,
        "default_engine": engine.name if engine is not None else None,
        # Tokens one request may use: the loaded default model's, else the setting (None = the
        # model's own, capped).
        "context_length": engine.info.context_length if engine is not None else s.ctx,
        "ctx": s.ctx,
        "parallel": s.parallel,
        "queue_size": s.queue_size,
        "threads": s.threads,
        "keep_alive": s.keep_alive,
        "memory_budget_bytes": runtime.manager.budget,
        "max_body_bytes": s.max_body_bytes,
        "max_upload_bytes": s.max_upload_bytes,
        "host": s.host,
        "port": port,
        "data_dir": str(s.data_dir),
        "rag_store": "chroma" if s.rag_server else "local",
        "config_file": str(config),
        "config_file_exists": config.is_file(),
    }
