"""The benchmark's data: seeded synthetic rows and queries, and exact ground truth.

384-d unit vectors around 1,000 Gaussian centres; `source` (50 values, ~2% each) and `year`;
30 words of text per row from a 5,000-word Zipf vocabulary; 200 queries drawn the same way;
exact top-10 by brute force over all rows and over the rows with `source == FILTER_SOURCE`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DIM = 384
CENTRES = 1000
SOURCES = 50
VOCAB = 5000
WORDS = 30
QUERIES = 200
FILTER_SOURCE = "src-7"
SEED = 7
BLOCK = 20_000  # rows generated per random stream


# -- data -------------------------------------------------------------------------------------
def vocabulary() -> list[str]:
    rng = np.random.default_rng(SEED + 1)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, size=rng.integers(4, 9))) for _ in range(VOCAB)]


def _word_probs() -> np.ndarray:
    p = 1.0 / np.arange(1, VOCAB + 1) ** 0.8
    return p / p.sum()


def _centres() -> np.ndarray:
    return np.random.default_rng(SEED).standard_normal((CENTRES, DIM)).astype(np.float32)


def _vectors(rng: np.random.Generator, n: int, centres: np.ndarray) -> np.ndarray:
    v = centres[rng.integers(0, CENTRES, n)] + 0.6 * rng.standard_normal((n, DIM)).astype(
        np.float32
    )
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def rows(n: int, batch: int = 20_000):
    """Batches of (ids, vectors, texts, sources, years), the same rows for every store and
    every batch size (rows are generated in fixed blocks, then split into `batch`es)."""
    vocab = np.array(vocabulary())
    probs = _word_probs()
    centres = _centres()
    for lo in range(0, n, BLOCK):
        hi = min(n, lo + BLOCK)
        rng = np.random.default_rng([SEED, lo])
        vecs = _vectors(rng, hi - lo, centres)
        words = vocab[rng.choice(VOCAB, size=(hi - lo, WORDS), p=probs)]
        texts = [" ".join(w) for w in words]
        sources = [f"src-{i % SOURCES}" for i in range(lo, hi)]
        years = (2000 + (np.arange(lo, hi) * 7919) % 25).tolist()
        ids = list(range(lo, hi))
        for a in range(0, hi - lo, batch):
            b = a + batch
            yield ids[a:b], vecs[a:b], texts[a:b], sources[a:b], years[a:b]


def queries() -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(SEED + 99)
    vecs = _vectors(rng, QUERIES, _centres())
    vocab = vocabulary()
    # Mid-frequency words: common enough to match, rare enough to rank.
    words = rng.integers(50, 1000, size=(QUERIES, 2))
    return vecs, [f"{vocab[a]} {vocab[b]}" for a, b in words]


def ground_truth(n: int, cache: Path) -> dict:
    path = cache / f"truth-{n}.npz"
    if path.exists():
        z = np.load(path)
        return {"all": z["all"], "filtered": z["filtered"]}
    qv, _ = queries()
    best = np.full((QUERIES, 10), -1, np.int64)
    best_s = np.full((QUERIES, 10), -np.inf, np.float32)
    fbest = best.copy()
    fbest_s = best_s.copy()
    for ids, vecs, _, sources, _ in rows(n):
        ids_a = np.array(ids)
        s = qv @ vecs.T
        mask = np.array([src == FILTER_SOURCE for src in sources])
        for out, out_s, scores, idx in (
            (best, best_s, s, ids_a),
            (fbest, fbest_s, s[:, mask], ids_a[mask]),
        ):
            cat_s = np.concatenate([out_s, scores], axis=1)
            cat_i = np.concatenate([out, np.broadcast_to(idx, (QUERIES, len(idx)))], axis=1)
            top = np.argsort(-cat_s, axis=1)[:, :10]
            out[:] = np.take_along_axis(cat_i, top, 1)
            out_s[:] = np.take_along_axis(cat_s, top, 1)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, all=best, filtered=fbest)
    return {"all": best, "filtered": fbest}
