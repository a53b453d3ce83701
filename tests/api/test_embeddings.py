"""/v1/embeddings, /api/embed and /api/embeddings against the real server and model."""

from __future__ import annotations

import base64

import numpy as np
import pytest

EMBED_MODEL = "all-MiniLM-L6-v2"


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
