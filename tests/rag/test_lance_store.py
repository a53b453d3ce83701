"""LanceCollection with its ANN index: IVF_SQ with exact re-ranking, and the exact path for
selective filters, checked against numpy's exact answers."""

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
    rows, vecs = _rows(8000)
    coll = LanceCollection("t", tmp_path, DIM)
    coll.chunks.add(coll._chunk_table(rows))
    coll.optimize()  # scalar indexes only: 8,000 rows are below the ANN threshold
    assert not coll.has_ann
    coll.build_vector_index()
    assert LanceCollection("t", tmp_path).has_ann  # a reopened collection finds the index
    kinds = {i.columns[0]: i.index_type for i in coll.chunks.list_indices()}
    assert kinds["vector"] == "IvfSq" and kinds["source"] == "Bitmap"
    assert LanceCollection("t", tmp_path).refine == 2

    coll.nprobes = 128  # every partition: only the 8-bit codes' ranking (re-ranked exactly) errs
    source = [int(r.source[1:]) for r in rows]
    hits_total = hits_filtered = hits_wide = 0
    for q in vecs[:20]:
        exact = set(np.argsort(-(vecs @ q))[:10].tolist())
        got = coll.search(vector=q, k=10, mode="vector")
        hits_total += len(exact & {int(h.chunk_id) for h in got})
        # source == s3 matches 320 rows: selective, so searched exactly through the bitmap.
        mask = np.array(source) == 3
        ids = np.flatnonzero(mask)
        exact_f = set(ids[np.argsort(-(vecs[mask] @ q))[:10]].tolist())
        got_f = coll.search(
            vector=q, k=10, mode="vector", filters=[Condition("source", "eq", "s3")]
        )
        assert {h.source for h in got_f} == {"s3"}
        hits_filtered += len(exact_f & {int(h.chunk_id) for h in got_f})
        # page < 4 matches 6,400 rows: through the IVF index, filtered inside the partitions.
        wide = np.array([r.page < 4 for r in rows])
        ids = np.flatnonzero(wide)
        exact_w = set(ids[np.argsort(-(vecs[wide] @ q))[:10]].tolist())
        got_w = coll.search(vector=q, k=10, mode="vector", filters=[Condition("page", "lt", 4)])
        assert all(h.page < 4 for h in got_w)
        hits_wide += len(exact_w & {int(h.chunk_id) for h in got_w})
    assert hits_total == hits_filtered == hits_wide == 200


def test_a_collection_written_before_the_hit_column_still_reads_and_writes(tmp_path: Path):
    import lancedb
    import pyarrow as pa

    from impetus.rag.lance_store import DOC_SCHEMA, chunk_schema
    from impetus.rag.store import DocumentRow

    old = pa.schema([f for f in chunk_schema(DIM) if f.name != "hit"])
    db = lancedb.connect(str(tmp_path))
    db.create_table("chunks", schema=old)
    db.create_table("documents", schema=DOC_SCHEMA)
    coll = LanceCollection("t", tmp_path)
    assert not coll.packed
    rows, vecs = _rows(30)
    doc = DocumentRow("d0", "s0", "text", "h", 10, 100, rows[0].date, rows[0].date)
    coll.put_document(doc, [r for r in rows if r.doc_id == "d0"])
    (hit,) = coll.search(vector=vecs[3], k=1, mode="vector")
    assert (hit.chunk_id, hit.doc_id, hit.page, hit.date) == ("3", "d0", 3, rows[3].date)
    (kw,) = coll.search(text="word3", k=1, mode="keyword")
    assert kw.chunk_id == "3" and kw.text == rows[3].text


def test_hits_come_back_whole_from_the_packed_column(tmp_path: Path):
    from impetus.rag.store import DocumentRow

    coll = LanceCollection("t", tmp_path, DIM)
    assert coll.packed and coll.columns == ["text", "hit"]
    rows, vecs = _rows(30)
    row = rows[4]
    row.tags, row.meta, row.section = ["a", "b"], {"author": "ann"}, "Intro"
    doc = DocumentRow("d0", "s0", "text", "h", 10, 100, row.date, row.date)
    coll.put_document(doc, [r for r in rows if r.doc_id == "d0"])
    hits = coll.search(vector=vecs[4], text="row 4", k=3, mode="hybrid")
    got = next(h for h in hits if h.chunk_id == "4")
    assert (got.doc_id, got.text, got.source, got.type, got.page) == (
        "d0",
        row.text,
        "s4",
        "text",
        4,
    )
    assert (got.section, got.start, got.end, got.date) == ("Intro", 0, 5, row.date)
    assert (got.tags, got.meta) == (["a", "b"], {"author": "ann"})
