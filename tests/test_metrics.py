"""Metrics that depend on the engine: MLX's allocator in /metrics, and its release on unload."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import MLX_SPARE, ServerProcess


def _gauges(url: str) -> dict[str, float]:
    text = httpx.get(url + "/metrics", timeout=30).text
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.labels
    }


def test_mlx_memory_is_reported_and_released_on_unload(mlx_server: ServerProcess):
    before = _gauges(mlx_server.url)
    assert before["impetus_mlx_active_bytes"] > 50_000_000  # the default model, still Q4_1
    assert before["impetus_mlx_peak_bytes"] >= before["impetus_mlx_active_bytes"]
    with httpx.Client(base_url=mlx_server.url, timeout=120) as http:
        assert http.post(f"/admin/models/{MLX_SPARE}/load").status_code == 200
        loaded = _gauges(mlx_server.url)["impetus_mlx_active_bytes"]
        assert loaded > before["impetus_mlx_active_bytes"] + 50_000_000
        assert http.post(f"/admin/models/{MLX_SPARE}/unload").json()["unloaded"] is True
    after = _gauges(mlx_server.url)
    assert after["impetus_mlx_active_bytes"] < before["impetus_mlx_active_bytes"] + 10_000_000
    assert after["impetus_mlx_peak_bytes"] >= loaded


def test_a_llama_cpp_server_does_not_load_mlx_for_metrics(server: ServerProcess):
    assert not any(name.startswith("impetus_mlx_") for name in _gauges(server.url))


def test_mlx_engine_time_counters_grow_with_work(mlx_server: ServerProcess):
    def counters() -> dict[str, float]:
        text = httpx.get(mlx_server.url + "/metrics", timeout=30).text
        return {
            s.name: s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name
            in ("impetus_engine_decode_seconds_total", "impetus_engine_busy_seconds_total")
        }

    before = counters()
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    assert httpx.post(mlx_server.url + "/v1/chat/completions", json=body, timeout=120).is_success
    after = counters()
    for name in ("impetus_engine_decode_seconds_total", "impetus_engine_busy_seconds_total"):
        assert after[name] > before.get(name, 0.0), name
    assert (
        after["impetus_engine_busy_seconds_total"] >= after["impetus_engine_decode_seconds_total"]
    )
