"""Pull over the API (SSE on /admin/models/pull, NDJSON on Ollama's /api/pull) and the Ollama
model routes (/api/tags, /api/ps, /api/delete), all on one manager."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import MODEL_ID, MODEL_PATH, ServerProcess
from tests.models.fake_hub import FakeHub

REPO = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"


@pytest.fixture(scope="module")
def hub():
    h = FakeHub()
    h.add(REPO, "one-Q4_1.gguf", MODEL_PATH)
    h.add("acme/other", "two-Q4_1.gguf", MODEL_PATH)
    h.start()
    yield h
    h.stop()


@pytest.fixture(scope="module")
def srv(hub, tmp_path_factory):
    s = ServerProcess(
        "--ctx",
        "512",
        env={
            "IMPETUS_DATA_DIR": str(tmp_path_factory.mktemp("pull-data")),
            "HF_ENDPOINT": hub.url,
        },
    )
    s.wait_ready()
    yield s
    s.stop()


def test_admin_pull_streams_progress_as_sse(srv, hub):
    hub.cut_after, hub.cuts = 20_000_000, 1  # interrupted once, resumed
    events = []
    with httpx.stream(
        "POST", srv.url + "/admin/models/pull", json={"model": REPO}, timeout=120
    ) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert events[0]["status"] == "pulling manifest"
    assert events[-1] == {"status": "success", "model": "one-Q4_1"}
    assert any(e["status"] == "retrying" for e in events)
    assert hub.ranges[-1] == "bytes=20000000-"
    reply = httpx.post(
        srv.url + "/v1/chat/completions",
        json={
            "model": f"{REPO}:one-Q4_1.gguf",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 2,
        },
        timeout=120,
    )
    assert reply.status_code == 200 and reply.json()["model"] == "one-Q4_1"


def test_admin_pull_errors(srv, hub):
    resp = httpx.post(
        srv.url + "/admin/models/pull", json={"model": "acme/none", "stream": False}, timeout=60
    )
    assert resp.status_code == 404 and resp.json()["error"]["message"]
    hub.wrong_sha = True
    try:
        resp = httpx.post(
            srv.url + "/admin/models/pull",
            json={"model": "acme/other", "stream": False},
            timeout=60,
        )
    finally:
        hub.wrong_sha = False
    assert resp.status_code == 502 and "sha256 mismatch" in resp.json()["error"]["message"]


def test_ollama_pull_tags_ps_delete(srv):
    lines = []
    with httpx.stream(
        "POST", srv.url + "/api/pull", json={"model": "acme/other"}, timeout=120
    ) as r:
        assert r.status_code == 200
        lines = [json.loads(x) for x in r.iter_lines() if x]
    assert lines[-1] == {"status": "success"}
    assert any("completed" in x for x in lines)
    tags = httpx.get(srv.url + "/api/tags").json()["models"]
    names = {m["name"]: m for m in tags}
    assert {"two-Q4_1", MODEL_ID} <= set(names)
    assert names["two-Q4_1"]["details"]["quantization_level"] == "Q4_1"
    assert len(names["two-Q4_1"]["digest"]) == 64
    ps = httpx.get(srv.url + "/api/ps").json()["models"]
    assert [m["name"] for m in ps] == [MODEL_ID] or MODEL_ID in [m["name"] for m in ps]
    resp = httpx.request("DELETE", srv.url + "/api/delete", json={"model": "two-Q4_1"})
    assert resp.status_code == 200
    resp = httpx.request("DELETE", srv.url + "/api/delete", json={"model": "two-Q4_1"})
    assert resp.status_code == 404 and "error" in resp.json()
    bad = httpx.post(srv.url + "/api/pull", json={"model": "llama3.2", "stream": False}, timeout=30)
    assert bad.status_code == 400 and "error" in bad.json()
