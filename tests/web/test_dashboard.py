"""The dashboard's own endpoints against the real server: TTFT while a stream still runs (the
histogram is observed at the first token), per-model memory, the effective defaults."""

from __future__ import annotations

import json
import threading
import time

import httpx

from tests.conftest import MODEL_ID, ServerProcess


def _snapshots(url: str, until, within: float = 60.0, on_first=None) -> dict:
    """The first live-feed snapshot for which `until(snapshot)` holds; `on_first()` runs once
    the feed has sent its first snapshot (so what it starts happens after the feed's baseline)."""
    deadline = time.monotonic() + within
    with httpx.stream("GET", url + "/admin/metrics/stream", timeout=within) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                snap = json.loads(line[6:])
                if on_first is not None:
                    on_first, start = None, on_first
                    start()
                    continue
                if until(snap):
                    return snap
            if time.monotonic() > deadline:
                break
    raise AssertionError("no snapshot matched")


def test_ttft_shows_while_the_stream_is_still_running(server: ServerProcess) -> None:
    done = threading.Event()
    tokens = []

    def chat() -> None:
        body = {
            "model": MODEL_ID,
            "messages": [{"role": "user", "content": "Tell me a very long story."}],
            "max_tokens": 1500,
            "ignore_eos": True,  # long for sure: a story may end in 2 s
            "stream": True,
        }
        url = server.url + "/v1/chat/completions"
        with httpx.stream("POST", url, json=body, timeout=120) as r:
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    tokens.append(line)
                if done.is_set():
                    break
        done.set()

    worker = threading.Thread(target=chat, daemon=True)
    try:
        snap = _snapshots(
            server.url,
            lambda s: s["ttft_ms"] is not None or done.is_set(),
            on_first=worker.start,  # the request starts after the feed is up
        )
        assert not done.is_set(), "the request ended before a TTFT showed"
        assert 0 < snap["ttft_ms"] < 60_000
        assert snap["active_requests"] >= 1 and tokens
    finally:
        done.set()
        worker.join(30)


def test_snapshots_carry_each_models_memory(server: ServerProcess) -> None:
    admin = httpx.get(server.url + "/admin/models").json()
    want = {m["name"]: m["memory_bytes"] for m in admin["loaded"]}
    snap = _snapshots(server.url, lambda s: True)
    got = {m["id"]: m["memory_bytes"] for m in snap["models"]}
    assert got == want and got[MODEL_ID] > 0
    assert snap["memory_used_bytes"] == admin["memory"]["used_bytes"]
    assert snap["memory_budget_bytes"] == admin["memory"]["budget_bytes"]


def test_dashboard_settings_are_the_effective_defaults(server: ServerProcess) -> None:
    r = httpx.get(server.url + "/admin/dashboard/settings")
    assert r.status_code == 200
    d = r.json()
    assert d["default_model"] == MODEL_ID
    assert d["default_engine"] == "llama.cpp"
    assert d["context_length"] > 0
    assert d["port"] == server.port and d["host"] == "127.0.0.1"
    assert d["parallel"] >= 1 and d["memory_budget_bytes"] > 0
    assert d["max_body_bytes"] >= 1024 and d["max_upload_bytes"] >= 1024
    assert d["keep_alive"]
    assert "api_keys" not in d


def test_dashboard_settings_need_the_key() -> None:
    srv = ServerProcess("--api-key", "k-456")
    try:
        srv.wait_ready()
        assert httpx.get(srv.url + "/admin/dashboard/settings").status_code == 401
        r = httpx.get(srv.url + "/admin/dashboard/settings", headers={"x-api-key": "k-456"})
        assert r.status_code == 200
    finally:
        srv.stop()
