"""`impetus bench --engine mlx`: both engines' rows from one run, through the model's template."""

from __future__ import annotations

import pytest

from tests.conftest import MODEL_PATH

pytest.importorskip("mlx_lm")


def test_mlx_bench_rows_beside_llamacpp():
    from impetus.bench.mlx import bench_mlx, markdown

    result = bench_mlx(MODEL_PATH, concurrency=(1, 2), max_tokens=4)
    rows = {(b.engine, b.concurrency): b for b in result.batches}
    assert set(rows) == {("mlx", 1), ("mlx", 2), ("llama.cpp", 1), ("llama.cpp", 2)}
    for (_, n), b in rows.items():
        assert b.tokens == 4 * n and b.seconds > 0 and b.decode_tokens_per_second > 0
    text = markdown(result)
    assert "| mlx | 2 | 8 |" in text and "| llama.cpp | 1 | 4 |" in text
    assert "> 50 tok/s on an M1" in text
