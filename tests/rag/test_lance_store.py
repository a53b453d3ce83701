"""LanceCollection with its ANN index: IVF_FLAT, and the exact path for selective filters,
checked against numpy's exact answers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from impetus.rag.lance_store import LanceCollection
from impetus.rag.store import ChunkRow, Condition

DIM = 16


def _rows(n: int) -> tuple[list[ChunkRow], np.ndarray]:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, DIM))
    vecs = centres[rng.integers(0, 20, n)] + 0.3 * rng.standard_normal((n, DIM))
    vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
    when = dt.datetime(2026, 1, 1)
    rows = [
        ChunkRow(
            id=str(i),
            doc_id=f"d{i // 10}",
            text=f"row {i} word{i % 7}",
            vector=v,
            source=f"s{i % 25}",
            type="text",
            page=i % 5,
            section=None,
            start=0,
            end=5,
            date=when,
            ingested_at=when,
        )
        for i, v in enumerate(vecs)
    ]
    return rows, vecs


def test_ivf_index_answers_like_exact_search(tmp_path: Path) -> None:
    rows, vecs = _rows(4000)
    coll = LanceCollection("t", tmp_path, DIM)
    coll.chunks.add(coll._chunk_table(rows))
    coll.optimize()  # scalar indexes only: 4,000 rows are below the ANN threshold
    assert not coll.has_ann
    coll.build_vector_index()
    assert LanceCollection("t", tmp_path).has_ann  # a reopened collection finds the index
    kinds = {i.columns[0]: i.index_type for i in coll.chunks.list_indices()}
    assert kinds["vector"] == "IvfFlat" and kinds["source"] == "Bitmap"

    coll.nprobes = 64  # every partition: IVF_FLAT is then exact
    source = [int(r.source[1:]) for r in rows]
    hits_total = hits_filtered = hits_wide = 0
    for q in vecs[:20]:
        exact = set(np.argsort(-(vecs @ q))[:10].tolist())
        got = coll.search(vector=q, k=10, mode="vector")
        hits_total += len(exact & {int(h.chunk_id) for h in got})
        # source == s3 matches 160 rows: selective, so searched exactly through the bitmap.
        mask = np.array(source) == 3
        ids = np.flatnonzero(mask)
        exact_f = set(ids[np.argsort(-(vecs[mask] @ q))[:10]].tolist())
        got_f = coll.search(
            vector=q, k=10, mode="vector", filters=[Condition("source", "eq", "s3")]
        )
        assert {h.source for h in got_f} == {"s3"}
        hits_filtered += len(exact_f & {int(h.chunk_id) for h in got_f})
        # page < 3 matches 2,400 rows: through the IVF index, filtered inside the partitions.
        wide = np.array([r.page < 3 for r in rows])
        ids = np.flatnonzero(wide)
        exact_w = set(ids[np.argsort(-(vecs[wide] @ q))[:10]].tolist())
        got_w = coll.search(vector=q, k=10, mode="vector", filters=[Condition("page", "lt", 3)])
        assert all(h.page < 3 for h in got_w)
        hits_wide += len(exact_w & {int(h.chunk_id) for h in got_w})
    assert hits_total == hits_filtered == hits_wide == 200
