"""Pull over the API (SSE on /admin/models/pull, NDJSON on Ollama's /api/pull) and the Ollama
model routes (/api/tags, /api/ps, /api/delete), all on one manager."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from tests.conftest import MODEL_ID, MODEL_PATH, ServerProcess
from tests.models.fake_hub import FakeHub
from tests.models.files import tiny_mlx_folder

REPO = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"
MLX_REPO = "mlx-community/Tiny-Llama-4bit"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    h = FakeHub()
    h.add(REPO, "one-Q4_1.gguf", MODEL_PATH)
    h.add("acme/other", "two-Q4_1.gguf", MODEL_PATH)
    h.add("acme/slow", "slow-Q4_1.gguf", MODEL_PATH)
    h.add("acme/shared", "shared-Q4_1.gguf", MODEL_PATH)
    h.add_folder(MLX_REPO, tiny_mlx_folder(tmp_path_factory.mktemp("hub") / "tiny"))
    h.start()
    yield h
    h.stop()


@pytest.fixture(scope="module")
def srv(hub, tmp_path_factory):
    data = tmp_path_factory.mktemp("pull-data")
    s = ServerProcess("--ctx", "512", env={"IMPETUS_DATA_DIR": str(data), "HF_ENDPOINT": hub.url})
    s.models_dir = data / "models"
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
    # The pull's alias holds a '/': every admin route takes it.
    alias = f"{REPO}:one-Q4_1.gguf"
    shown = httpx.get(f"{srv.url}/admin/models/{alias}")
    assert shown.status_code == 200 and shown.json()["name"] == "one-Q4_1", shown.text
    resp = httpx.post(f"{srv.url}/admin/models/{alias}/unload", timeout=60)
    assert resp.status_code == 200 and resp.json()["unloaded"] is True


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


def _first_progress(lines) -> dict:
    for line in lines:
        line = line.removeprefix("data: ")
        if line.startswith("{"):
            e = json.loads(line)
            if e.get("completed"):
                return e
    raise AssertionError("the stream ended without progress")


def _settles(hub: FakeHub, within: float) -> float:
    """Seconds until the hub has no transfer running and its byte count stops growing."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        sent = hub.bytes_sent
        time.sleep(0.1)
        if hub.active == 0 and hub.bytes_sent == sent:
            return time.monotonic() - t0
    raise AssertionError(f"the download still runs {within}s after the client left")


@pytest.mark.parametrize("route", ["/admin/models/pull", "/api/pull"])
def test_client_disconnect_cancels_the_pull_and_the_next_pull_resumes(srv, hub, route):
    hub.throttle = 4_000_000  # the 90 MB file would take ~20 s
    dropped = hub.dropped
    try:
        with (
            httpx.Client(timeout=60) as client,
            client.stream("POST", srv.url + route, json={"model": "acme/slow"}) as resp,
        ):
            assert resp.status_code == 200
            first = _first_progress(resp.iter_lines())
        assert 0 < first["completed"] < first["total"]
        # ~0.1 s on a quiet machine; the bound is loose for a loaded one (2 cores, many tests).
        _settles(hub, within=5)
        assert hub.dropped == dropped + 1  # the hub saw the connection go
    finally:
        hub.throttle = None
    (partial,) = (srv.models_dir / ".partial").glob("*.partial")
    kept = partial.stat().st_size
    assert 0 < kept < first["total"]
    names = [m["name"] for m in httpx.get(srv.url + "/admin/models").json()["models"]]
    assert "slow-Q4_1" not in names  # nothing half-done is registered
    resp = httpx.post(
        srv.url + "/admin/models/pull", json={"model": "acme/slow", "stream": False}, timeout=120
    )
    assert resp.status_code == 200, resp.text
    assert hub.ranges[-1] == f"bytes={kept}-"  # resumed where the cancelled pull stopped
    assert resp.json()["sha256"] == hub.repos["acme/slow"]["slow-Q4_1.gguf"].sha256
    assert not list((srv.models_dir / ".partial").glob("*.partial"))
    httpx.request("DELETE", srv.url + "/api/delete", json={"model": "slow-Q4_1"})


def test_a_second_client_joins_the_running_pull(srv, hub):
    """Two clients, one download; the first leaving does not stop it for the second."""
    hub.throttle = 20_000_000
    gets = len(hub.ranges)
    second: list[dict] = []
    try:
        with (
            httpx.Client(timeout=120) as client,
            client.stream(
                "POST", srv.url + "/admin/models/pull", json={"model": "acme/shared"}
            ) as first,
        ):
            # Keep the iterator: dropping it would close the connection (httpcore does).
            lines = first.iter_lines()
            _first_progress(lines)

            def watch() -> None:
                with httpx.stream(
                    "POST", srv.url + "/api/pull", json={"model": "acme/shared"}, timeout=120
                ) as r:
                    for x in r.iter_lines():
                        second.append(json.loads(x))
                        joined.set()

            joined = threading.Event()
            t = threading.Thread(target=watch)
            t.start()
            assert joined.wait(30)
        t.join(60)  # the first client has left; the second sees the pull to its end
    finally:
        hub.throttle = None
    assert second[-1] == {"status": "success"}
    assert second[0]["status"] == "pulling manifest" and second[1]["completed"] > 0
    assert hub.ranges[gets:] == [""]  # one transfer, never restarted


def test_pull_an_mlx_folder_over_the_api_and_chat_with_it(srv, hub):
    pytest.importorskip("mlx_lm")
    events = []
    with httpx.stream(
        "POST", srv.url + "/admin/models/pull", json={"model": MLX_REPO}, timeout=120
    ) as resp:
        events = [json.loads(x[6:]) for x in resp.iter_lines() if x.startswith("data: ")]
    assert events[-1] == {"status": "success", "model": "Tiny-Llama-4bit"}
    progress = [e for e in events if e.get("total")]
    assert progress[-1]["completed"] == progress[-1]["total"] and progress[-1]["files_total"] == 8
    shown = httpx.get(srv.url + "/admin/models/Tiny-Llama-4bit").json()
    assert shown["format"] == "mlx" and shown["architecture"] == "llama"
    reply = httpx.post(
        srv.url + "/v1/chat/completions",
        json={
            "model": MLX_REPO,
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 3,
        },
        timeout=120,
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["model"] == "Tiny-Llama-4bit"
    assert reply.json()["usage"]["completion_tokens"] > 0
    loaded = {m["name"]: m for m in httpx.get(srv.url + "/admin/models").json()["loaded"]}
    assert loaded["Tiny-Llama-4bit"]["engine"] == "mlx"
