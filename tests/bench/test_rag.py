"""`impetus bench rag` smoke test: one real cell (LanceDB, 2,000 rows, build and query processes)
through the runner, resumed from its JSON file, rendered and plotted. Seconds, not the bench."""

from __future__ import annotations

import json
from pathlib import Path

from impetus.bench import rag, rag_report


def test_one_cell_measures_resumes_and_renders(tmp_path: Path) -> None:
    n = 2000
    cell = rag.run_cell(
        "lancedb", n, tmp_path, build_timeout=240, query_timeout=240, log=lambda m: None
    )
    assert "error" not in cell, cell
    # Below the ANN threshold the store scans every row: exact, so recall must be 1.0.
    assert cell["vector"]["recall"] == 1.0
    assert cell["vector_filter"]["recall"] == 1.0
    for kind in ("vector", "vector_filter", "keyword", "hybrid_filter"):
        assert 0 < cell[kind]["p50"] <= cell[kind]["p95"]
    assert cell["load_build"]["other_cores"] >= 0 and cell["disk_mb"] >= 1
    assert not (tmp_path / f"lancedb-{n}").exists()  # the store's folder is removed

    saved = json.loads((tmp_path / "results" / f"lancedb-{n}.json").read_text())
    assert saved == cell
    resumed = rag.run(["lancedb"], [n], tmp_path, log=lambda m: None)  # kept, not re-measured
    assert resumed == [cell]

    second = {**cell, "n": 20_000}
    body = rag_report.render([cell, second], None)
    assert "| lancedb | 2,000 |" in body and "no ANN index" in body
    assert rag_report.plot([cell, second], tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"


def test_timeout_is_recorded_not_raised(tmp_path: Path) -> None:
    cell = rag.run_cell(
        "lancedb", 2000, tmp_path, build_timeout=0.5, query_timeout=1, log=lambda m: None
    )
    assert cell["error"] == "build did not finish in 0.5 s"
    assert json.loads((tmp_path / "results" / "lancedb-2000.json").read_text())["error"]
