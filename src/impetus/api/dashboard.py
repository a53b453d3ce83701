"""The dashboard's live feed: one JSON snapshot per second over server-sent events.

`GET /admin/metrics/stream` reads the same sources as /metrics (engine stats, the TTFT histogram,
the process's RSS and CPU) and pushes them to the browser, so the Overview page never polls.
The stream ends when the client disconnects.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import psutil
from fastapi import APIRouter, Request

from impetus.api.sse import EventStreamResponse, event

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
        self.metrics = app.state.metrics
        self.process = psutil.Process()
        self.process.cpu_percent(None)  # prime: the next call measures since now
        self._ttft = _histogram_totals(self.metrics.ttft)

    def snapshot(self) -> dict:
        runtime = self.runtime
        proc = self.process
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
            # Mean TTFT of the requests that finished since the last snapshot (the histogram is
            # updated when a request ends); null when none did.
            "ttft_ms": round((ttft_sum - prev_sum) / new * 1000, 2) if new > 0 else None,
            "tokens_per_second": 0.0,
            "active_requests": 0,
            "queued_requests": 0,
            "slots_total": 0,
            "completion_tokens": 0,
            "prompt_tokens": 0,
            "models": [],
        }
        for engine in runtime.loaded_engines():
            s = engine.stats()
            info = engine.info
            snap["tokens_per_second"] += float(s["tokens_per_second"])
            snap["active_requests"] += int(s["slots_active"])
            snap["queued_requests"] += int(s["queue_depth"])
            snap["slots_total"] += int(s["slots_total"])
            snap["completion_tokens"] += int(s["completion_tokens"])
            snap["prompt_tokens"] += int(s["prompt_tokens"])
            snap["models"].append(
                {
                    "id": info.name,
                    "engine": engine.name,
                    "size_bytes": info.size_bytes,
                    "kv_cells_used": int(s["kv_cells_used"]),
                    "kv_cells_total": int(s["kv_cells_total"]),
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
