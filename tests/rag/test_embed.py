"""llama.cpp embeddings against an independent numpy reference, batching, limits, threads."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import pytest

from impetus.rag import Embedder, InputTooLong
from tests.rag.fixtures import LONG_TEXT, SENTENCES

# Texts where llama.cpp's own WordPiece normalizer differs from Hugging Face's (see wordpiece.py).
HARD = [
    "안녕하세요, 만나서 반갑습니다.",
    "मैं हिंदी में लिखता हूँ और यह एक वाक्य है।",
    "a" * 150 + " then a normal tail",
]


def test_tokenization_matches_hf_tokenizers(embedder: Embedder, reference) -> None:
    for text in [*SENTENCES, *HARD]:
        assert embedder.tokenize(text)[0] == reference.tokenize(text), text


def test_vectors_match_the_numpy_reference(embedder: Embedder, reference) -> None:
    texts = [*SENTENCES, *HARD]
    got = embedder.embed(texts)
    want = np.stack([reference.embed(t) for t in texts])
    cos = np.sum(got * want, axis=1)  # both are unit vectors
    print(f"cosine vs reference: min {cos.min():.6f} mean {cos.mean():.6f}")
    assert cos.min() >= 0.99
    assert cos.mean() >= 0.999


def test_similar_sentences_are_closer(embedder: Embedder) -> None:
    q, good, bad = embedder.embed(
        ["What is the capital of France?", SENTENCES[2], "A man is playing a guitar."]
    )
    assert q @ good > q @ bad + 0.2


def test_batch_equals_single(embedder: Embedder) -> None:
    batched = embedder.embed(SENTENCES)
    single = np.stack([embedder.embed([t])[0] for t in SENTENCES])
    np.testing.assert_allclose(batched, single, atol=2e-4)
    assert np.sum(batched * single, axis=1).min() > 0.99999


def test_batches_split_by_token_budget(minilm_gguf: Path, embedder: Embedder) -> None:
    texts = [LONG_TEXT, *SENTENCES[:6], LONG_TEXT[:500]] * 3
    with Embedder(minilm_gguf, batch_tokens=256, max_batch_seqs=4, n_threads=1) as small:
        assert small.ctx.n_batch == 256
        got = small.embed(texts)
    np.testing.assert_allclose(got, embedder.embed(texts), atol=2e-4)


def test_vectors_are_normalized_when_the_model_says_so(
    minilm_gguf: Path, embedder: Embedder
) -> None:
    assert embedder.normalize is True
    vecs = embedder.embed(SENTENCES)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    with Embedder(minilm_gguf, normalize=False, n_threads=1) as raw:
        pooled = raw.embed(SENTENCES)
    norms = np.linalg.norm(pooled, axis=1)
    assert (np.abs(norms - 1) > 0.1).all()
    np.testing.assert_allclose(pooled / norms[:, None], vecs, atol=2e-4)


def test_result_shape_dtype_and_usage(embedder: Embedder, reference) -> None:
    res = embedder.encode(SENTENCES)
    assert res.vectors.shape == (len(SENTENCES), 384) and res.vectors.dtype == np.float32
    assert res.token_counts == [len(reference.tokenize(t)) for t in SENTENCES]
    assert res.truncated == [t is LONG_TEXT for t in SENTENCES]
    assert res.total_tokens == sum(res.token_counts)
    assert embedder.dim == 384 and embedder.max_tokens == 256 and embedder.pooling == "mean"


def test_empty_inputs(embedder: Embedder, reference) -> None:
    assert embedder.embed([]).shape == (0, 384)
    res = embedder.encode(["", "   ", "\n"])
    assert res.token_counts == [2, 2, 2]  # [CLS] [SEP]
    assert np.sum(res.vectors[0] * reference.embed("")) > 0.99
    with pytest.raises(TypeError):
        embedder.encode("a string, not a list")  # type: ignore[arg-type]


def test_huge_input_is_truncated_like_sentence_transformers(embedder: Embedder, reference) -> None:
    huge = LONG_TEXT * 40  # ~140 kB
    tokens, cut = embedder.tokenize(huge)
    assert cut and len(tokens) == 256 and tokens == reference.tokenize(huge)
    assert tokens[0] == 101 and tokens[-1] == 102
    res = embedder.encode([huge, "short"])
    assert res.truncated == [True, False] and res.token_counts[0] == 256
    assert np.sum(res.vectors[0] * reference.embed(huge)) > 0.99
    nospace = "x" * 300_000  # no space to cut at: one word, [UNK] as in HF
    assert embedder.tokenize(nospace) == ([101, 100, 102], False)


def test_truncation_can_be_refused(embedder: Embedder) -> None:
    with pytest.raises(InputTooLong):
        embedder.encode(["fine", LONG_TEXT], truncate=False)
    assert embedder.encode(["fine"], truncate=False).truncated == [False]


def test_concurrent_callers_get_their_own_results(embedder: Embedder) -> None:
    expected = embedder.embed(SENTENCES)
    results: dict[int, np.ndarray] = {}

    def worker(k: int) -> None:
        order = SENTENCES[k:] + SENTENCES[:k]
        results[k] = np.roll(embedder.embed(order), k, axis=0)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got in results.values():
        np.testing.assert_allclose(got, expected, atol=2e-4)


def test_async_encode(embedder: Embedder) -> None:
    res = asyncio.run(embedder.aencode(["hello", "world"]))
    assert res.vectors.shape == (2, 384)


def test_a_decoder_gguf_embeds_too() -> None:
    """Any GGUF works: a chat model (causal, KV cache, no pooling key) gets mean pooling."""
    from tests.conftest import MODEL_PATH

    with Embedder(MODEL_PATH, n_threads=1) as e:
        assert e.pooling == "mean" and e.max_tokens == 2048
        a = e.embed(["The cat sat on the mat.", "hello"])
        b = e.embed(["The cat sat on the mat."])
    assert a.shape == (2, e.dim)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.sum(a[0] * b[0]) > 0.999  # batch == single with a KV cache as well


def test_closed_embedder_refuses_work(minilm_gguf: Path) -> None:
    e = Embedder(minilm_gguf, n_threads=1)
    e.close()
    with pytest.raises(RuntimeError):
        e.embed(["x"])
