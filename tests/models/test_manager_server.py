"""Model management against a real server: upload, two models at once, eviction under a
budget, keep_alive, delete while busy, and a registry that survives a restart."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.conftest import MODEL_ID, MODEL_PATH, ServerProcess
from tests.models.files import copy_model, corrupt_header, tiny_gguf, truncated_model

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("mm-data")
    copy_model(d / "models" / "alpha.gguf")
    copy_model(d / "models" / "beta.gguf")
    return d


def _start(data_dir, **env) -> ServerProcess:
    srv = ServerProcess(
        "--ctx",
        "512",
        "--parallel",
        "2",
        env={
            "IMPETUS_DATA_DIR": str(data_dir),
            # The pinned default plus one more model (~110 MiB each at ctx 512).
            "IMPETUS_MEMORY_BUDGET_BYTES": str(250 * MIB),
            **env,
        },
    )
    srv.wait_ready()
    return srv


@pytest.fixture(scope="module")
def srv(data_dir):
    s = _start(data_dir)
    yield s
    s.stop()


@pytest.fixture
def http(srv):
    with httpx.Client(base_url=srv.url, timeout=120) as c:
        yield c


def chat(http, model: str, text: str = "Say hi.") -> dict:
    resp = http.post(
        "/v1/chat/completions",
        json={
            "model": model,
            "messages": [{"role": "user", "content": text}],
            "max_tokens": 4,
            "temperature": 0,
        },
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def loaded(http) -> list[str]:
    return [m["name"] for m in http.get("/admin/models").json()["loaded"]]


def test_lists_the_registry_with_metadata(http):
    body = http.get("/admin/models").json()
    names = {m["name"]: m for m in body["models"]}
    assert {"alpha", "beta", MODEL_ID} <= set(names)
    alpha = names["alpha"]
    assert alpha["architecture"] == "llama" and alpha["quantization"] == "Q4_1"
    assert alpha["kind"] == "chat" and alpha["context_length"] == 8192
    assert names[MODEL_ID]["default"] and names[MODEL_ID]["loaded"]["pinned"]
    assert body["memory"]["budget_bytes"] == 250 * MIB
    shown = http.get("/admin/models/smollm2:135m").json()
    assert len(shown["sha256"]) == 64 and "im_start" in shown["chat_template"]
    assert http.get("/admin/models/nope").status_code == 404


def test_two_models_at_once_then_lru_eviction(http):
    a = chat(http, "alpha")
    assert a["model"] == "alpha"
    assert set(loaded(http)) == {MODEL_ID, "alpha"}
    assert chat(http, MODEL_ID)["model"] == MODEL_ID  # both serve
    assert chat(http, "alpha")["model"] == "alpha"
    chat(http, "beta")  # over budget: alpha (LRU, unpinned) goes, the default stays
    assert set(loaded(http)) == {MODEL_ID, "beta"}
    metrics = http.get("/metrics").text
    assert 'impetus_model_load_seconds{model="beta"}' in metrics
    assert 'impetus_model_memory_bytes{model="beta"}' in metrics
    entry = next(m for m in http.get("/admin/models").json()["loaded"] if m["name"] == "beta")
    assert entry["load_seconds"] > 0 and entry["memory_bytes"] > 90 * MIB


def test_metrics_cover_every_loaded_model(http):
    chat(http, "alpha")
    text = http.get("/metrics").text
    for model in ("alpha", MODEL_ID):
        assert f'impetus_slots_total{{model="{model}"}}' in text
        assert f'impetus_engine_steps_total{{model="{model}"}}' in text


def test_keep_alive_unloads_idle_models(http):
    resp = http.post("/admin/models/alpha/load", json={"keep_alive": "1s"})
    assert resp.status_code == 200, resp.text
    assert "alpha" in loaded(http)
    deadline = time.monotonic() + 10
    while "alpha" in loaded(http) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "alpha" not in loaded(http)
    assert MODEL_ID in loaded(http)  # pinned: never expires


def test_ollama_keep_alive_per_request_and_the_unload_request(http):
    """A chat's own keep_alive expires its model; an empty prompt with keep_alive 0 unloads."""
    body = {"model": "alpha", "prompt": "hi", "stream": False, "keep_alive": "1s"}
    body["options"] = {"num_predict": 2}
    assert http.post("/api/generate", json=body).status_code == 200
    assert "alpha" in loaded(http)
    deadline = time.monotonic() + 10
    while "alpha" in loaded(http) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "alpha" not in loaded(http)

    chat(http, "beta")
    assert "beta" in loaded(http)
    resp = http.post("/api/chat", json={"model": "beta", "messages": [], "keep_alive": 0})
    assert resp.status_code == 200 and resp.json()["done_reason"] == "unload", resp.text
    assert "beta" not in loaded(http)
    resp = http.post("/api/generate", json={"model": "beta", "keep_alive": 0})
    assert resp.json()["done_reason"] == "unload" and "beta" not in loaded(http)
    resp = http.post("/api/generate", json={"model": "beta"})  # no keep_alive: a load
    assert resp.json()["done_reason"] == "load" and "beta" in loaded(http)
    bad = http.post("/api/generate", json={"model": "beta", "keep_alive": "soon"})
    assert bad.status_code == 400 and "keep_alive" in bad.json()["error"]


def test_unload_and_unknown_model(http):
    chat(http, "beta")
    assert http.post("/admin/models/beta/unload").json()["unloaded"] is True
    assert "beta" not in loaded(http)
    card = http.get("/v1/models/beta")  # described from the registry, not loaded by a GET
    assert card.status_code == 200 and card.json()["loaded"] is False
    assert card.json()["architecture"] == "llama" and "beta" not in loaded(http)
    resp = http.post("/v1/chat/completions", json={"model": "nope", "messages": []})
    assert resp.status_code in (400, 404)


def test_upload_good_and_bad(http, tmp_path):
    good = copy_model(tmp_path / "uploaded-model.gguf")
    with good.open("rb") as fh:
        resp = http.post("/admin/models", files={"file": ("uploaded-model.gguf", fh)})
    assert resp.status_code == 201, resp.text
    assert resp.json()["name"] == "uploaded-model" and resp.json()["source"] == "upload"
    assert chat(http, "uploaded-model")["model"] == "uploaded-model"
    # Same name again: conflict.
    with good.open("rb") as fh:
        assert (
            http.post("/admin/models", files={"file": ("uploaded-model.gguf", fh)}).status_code
            == 409
        )
    bad = {
        "half.gguf": truncated_model(tmp_path / "half.gguf").read_bytes(),
        "garbage.gguf": corrupt_header(tmp_path / "g.gguf").read_bytes(),
        "text.gguf": b"just some text, not a model at all" * 10,
        "../../escape.gguf": MODEL_PATH.read_bytes()[:1024],
        "model.bin": b"GGUF",
        # A well-formed header that llama.cpp cannot serve (no vocabulary): never registered.
        "headeronly.gguf": tiny_gguf(tmp_path / "headeronly.gguf").read_bytes(),
    }
    for name, data in bad.items():
        resp = http.post("/admin/models", files={"file": (name, data)})
        assert resp.status_code == 400, (name, resp.text)
        assert resp.json()["error"]["message"]
    names = {m["name"] for m in http.get("/admin/models").json()["models"]}
    assert not names & {"half", "garbage", "text", "escape", "headeronly"}
    assert chat(http, MODEL_ID)["model"] == MODEL_ID  # still serving


def test_upload_size_limit(data_dir, tmp_path):
    s = ServerProcess(
        env={"IMPETUS_DATA_DIR": str(tmp_path / "d"), "IMPETUS_MAX_UPLOAD_BYTES": "1000000"}
    )
    try:
        s.wait_ready()
        with MODEL_PATH.open("rb") as fh:
            resp = httpx.post(s.url + "/admin/models", files={"file": ("big.gguf", fh)}, timeout=60)
        assert resp.status_code == 413

        # Streamed with no Content-Length: refused by counting, never held whole.
        def chunks():
            with MODEL_PATH.open("rb") as fh:
                while block := fh.read(1 << 16):
                    yield block

        resp = httpx.post(
            s.url + "/admin/models?filename=big2.gguf",
            content=chunks(),
            headers={"content-type": "application/octet-stream"},
            timeout=60,
        )
        assert resp.status_code == 413, resp.text
        assert not list((tmp_path / "d" / "models").glob("big*"))
        assert not list((tmp_path / "d" / "models").rglob("*.partial"))
    finally:
        s.stop()


def test_json_routes_beside_the_upload_keep_the_body_limit(http):
    big = {"keep_alive": "x" * (9 * MIB)}
    resp = http.post("/admin/models/alpha/load", json=big)
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "request_too_large"
    resp = http.post("/admin/models/pull", json={"model": "y" * (9 * MIB)})
    assert resp.status_code == 413


def test_delete_refuses_while_generating_then_deletes(http, srv):
    chat(http, "beta")
    result: dict = {}

    def long_generation():
        with httpx.Client(base_url=srv.url, timeout=120) as c:
            result["resp"] = c.post(
                "/v1/chat/completions",
                json={
                    "model": "beta",
                    "messages": [{"role": "user", "content": "Tell me a long story."}],
                    "max_tokens": 400,
                    "ignore_eos": True,
                },
            )

    t = threading.Thread(target=long_generation)
    t.start()
    deadline = time.monotonic() + 10
    busy = False
    while time.monotonic() < deadline and not busy:
        entry = [m for m in http.get("/admin/models").json()["loaded"] if m["name"] == "beta"]
        busy = bool(entry and entry[0]["slots_active"])
        time.sleep(0.02)
    if busy:
        resp = http.delete("/admin/models/beta")
        assert resp.status_code == 409 and resp.json()["error"]["code"] == "model_in_use"
    t.join()
    assert result["resp"].status_code == 200
    assert http.delete("/admin/models/beta").status_code == 200
    assert http.get("/admin/models/beta").status_code == 404
    pinned = http.delete(f"/admin/models/{MODEL_ID}")
    assert pinned.status_code == 409


def test_registry_survives_restart(srv, data_dir):
    with httpx.Client(base_url=srv.url) as c:
        before = {m["name"]: m["sha256"] for m in c.get("/admin/models").json()["models"]}
    srv.stop()
    again = _start(data_dir)
    try:
        after = {
            m["name"]: m["sha256"] for m in httpx.get(again.url + "/admin/models").json()["models"]
        }
        assert after == before
        assert "uploaded-model" in after and "beta" not in after
    finally:
        again.stop()
