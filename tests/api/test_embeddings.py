"""/v1/embeddings, /api/embed and /api/embeddings against the real server and model."""

from __future__ import annotations

import base64
import shutil

import numpy as np
import pytest

EMBED_MODEL = "all-MiniLM-L6-v2"
SHORT = "minilm-short"  # a second embedding GGUF: the bundled one, told to take 16 tokens


def test_openai_client_embeds_a_batch(openai_client) -> None:
    texts = ["What is the capital of France?", "Paris is the capital of France.", "Guitars."]
    res = openai_client.embeddings.create(model=EMBED_MODEL, input=texts)
    assert res.model == EMBED_MODEL and len(res.data) == 3
    vecs = np.array([d.embedding for d in res.data])
    assert vecs.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2] + 0.2
    assert res.usage.prompt_tokens == res.usage.total_tokens > 10


def test_base64_encoding_matches_floats(client) -> None:
    body = {"model": EMBED_MODEL, "input": "hello world"}
    floats = client.post("/v1/embeddings", json=body).json()["data"][0]["embedding"]
    b64 = client.post("/v1/embeddings", json={**body, "encoding_format": "base64"}).json()
    raw = np.frombuffer(base64.b64decode(b64["data"][0]["embedding"]), "<f4")
    np.testing.assert_allclose(raw, floats, atol=1e-6)


def test_ollama_embed_and_legacy_agree_with_openai(client) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    openai = client.post("/v1/embeddings", json={"input": text}).json()["data"][0]["embedding"]
    new = client.post("/api/embed", json={"model": EMBED_MODEL, "input": [text, "x"]}).json()
    assert len(new["embeddings"]) == 2 and new["prompt_eval_count"] > 0
    assert new["total_duration"] >= new["load_duration"] >= 0
    legacy = client.post("/api/embeddings", json={"model": EMBED_MODEL, "prompt": text}).json()
    np.testing.assert_allclose(new["embeddings"][0], openai, atol=1e-5)
    np.testing.assert_allclose(legacy["embedding"], openai, atol=1e-5)


def test_long_input_truncates_unless_told_not_to(client) -> None:
    long = "word " * 2000
    ok = client.post("/api/embed", json={"input": long})
    assert ok.status_code == 200
    refused = client.post("/api/embed", json={"input": long, "truncate": False})
    assert refused.status_code == 400 and "limit" in refused.json()["error"]


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/v1/embeddings", {"input": []}, 400),
        ("/v1/embeddings", {"input": ""}, 400),
        ("/v1/embeddings", {"input": [[1, 2, 3]]}, 400),
        ("/v1/embeddings", {"input": "x", "dimensions": 12}, 400),
        ("/v1/embeddings", {"input": "x", "model": "no-such-model"}, 404),
        ("/v1/embeddings", {}, 400),
        ("/api/embed", {"input": []}, 400),
        ("/api/embeddings", {"prompt": ""}, 400),
    ],
)
def test_bad_requests_get_clear_errors(client, path, body, status) -> None:
    resp = client.post(path, json=body)
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err if path.startswith("/api/") else err["message"]


@pytest.fixture(scope="module")
def two_embedders(tmp_path_factory):
    """A server whose models folder holds, besides the bundled embedder, another embedding
    GGUF: a copy whose metadata caps inputs at 16 tokens, so answers show which one ran."""
    import httpx
    from gguf import GGUFReader

    from impetus.rag import bundled_embedder
    from impetus.rag.convert import MAX_SEQ_KEY
    from tests.conftest import ServerProcess, _link_embedding_model

    data = tmp_path_factory.mktemp("embed-data")
    models = data / "models"
    _link_embedding_model(models)
    copy = models / f"{SHORT}.gguf"
    shutil.copyfile(bundled_embedder.gguf_path(models).resolve(), copy)  # a real copy, not a link
    reader = GGUFReader(copy, "r+")
    field = reader.fields[MAX_SEQ_KEY]
    field.parts[field.data[0]][0] = 16
    del reader  # flushes the memory map
    srv = ServerProcess(env={"IMPETUS_DATA_DIR": str(data)})
    try:
        srv.wait_ready()
        with httpx.Client(base_url=srv.url, timeout=120) as c:
            yield c
    finally:
        srv.stop()


LONG_TEXT = "The quick brown fox jumps over the lazy dog near the quiet river bank at dawn today."


def test_a_registered_embedding_gguf_serves_every_endpoint(two_embedders) -> None:
    c = two_embedders
    text = "hello world"
    default = c.post("/v1/embeddings", json={"input": text}).json()
    assert default["model"] == EMBED_MODEL
    res = c.post("/v1/embeddings", json={"model": SHORT, "input": [text, LONG_TEXT]})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["model"] == SHORT and len(body["data"]) == 2
    # Same weights, so the same vector for a short text...
    np.testing.assert_allclose(
        body["data"][0]["embedding"], default["data"][0]["embedding"], atol=1e-4
    )
    # ...but its own limit: it was loaded from its own file, with its own metadata.
    assert body["usage"]["prompt_tokens"] == 4 + 16
    strict = {"input": LONG_TEXT, "truncate": False}
    assert c.post("/v1/embeddings", json=strict).status_code == 200
    refused = c.post("/v1/embeddings", json={**strict, "model": SHORT})
    assert refused.status_code == 400 and "16 tokens" in refused.json()["error"]["message"]

    ollama = c.post("/api/embed", json={"model": f"{SHORT}:latest", "input": text})
    assert ollama.status_code == 200, ollama.text
    assert ollama.json()["model"] == f"{SHORT}:latest"
    np.testing.assert_allclose(
        ollama.json()["embeddings"][0], body["data"][0]["embedding"], atol=1e-5
    )
    refused = c.post("/api/embed", json={"model": SHORT, "input": LONG_TEXT, "truncate": False})
    assert refused.status_code == 400 and "16 tokens" in refused.json()["error"]
    legacy = c.post("/api/embeddings", json={"model": SHORT, "prompt": text})
    assert legacy.status_code == 200
    np.testing.assert_allclose(legacy.json()["embedding"], body["data"][0]["embedding"], atol=1e-5)


def test_unknown_and_chat_models_fail_in_each_api_shape(two_embedders) -> None:
    from tests.conftest import MODEL_ID

    c = two_embedders
    missing = c.post("/v1/embeddings", json={"model": "no-such-model", "input": "x"})
    assert missing.status_code == 404
    err = missing.json()["error"]
    assert err["code"] == "model_not_found" and err["param"] == "model"
    assert SHORT in err["message"] and EMBED_MODEL in err["message"]
    for path, body in [
        ("/api/embed", {"model": "no-such-model", "input": "x"}),
        ("/api/embeddings", {"model": "no-such-model", "prompt": "x"}),
    ]:
        resp = c.post(path, json=body)
        assert resp.status_code == 404 and "no-such-model" in resp.json()["error"]
    chat = c.post("/v1/embeddings", json={"model": MODEL_ID, "input": "x"})
    assert chat.status_code == 400 and "not an embedding model" in chat.json()["error"]["message"]
    chat = c.post("/api/embed", json={"model": MODEL_ID, "input": "x"})
    assert chat.status_code == 400 and "not an embedding model" in chat.json()["error"]
