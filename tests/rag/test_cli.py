"""`impetus rag create|ingest|search|ls|rm` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.rag.documents import CORPUS, write


def impetus(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "IMPETUS_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "impetus", "rag", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_rag_cli_round_trip(tmp_path) -> None:
    data = Path(os.environ["IMPETUS_DATA_DIR"]).parent / "cli-data"
    (data / "models").mkdir(parents=True, exist_ok=True)
    models = Path(os.environ["IMPETUS_DATA_DIR"]) / "models" / "embeddings"
    link = data / "models" / "embeddings"
    if not link.exists():
        link.symlink_to(models, target_is_directory=True)
    docs = tmp_path / "docs"
    write(docs, {"mars.md": CORPUS["mars.md"], "notes.txt": CORPUS["notes.txt"]})
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 nope")

    assert impetus("create", "notes", data_dir=data).returncode == 0
    assert impetus("create", "notes", data_dir=data).returncode == 1  # exists
    out = impetus("ingest", "notes", str(docs), "--tag", "cli", data_dir=data)
    assert out.returncode == 1  # one file failed, and says why
    assert "broken.pdf" in out.stdout + out.stderr and "indexed=2" in out.stdout
    again = impetus("ingest", "notes", str(docs / "mars.md"), data_dir=data)
    assert again.returncode == 0 and "indexed=1" in again.stdout  # new tags: re-indexed
    found = impetus("search", "notes", "zorblax port", "--mode", "keyword", "--json", data_dir=data)
    hits = json.loads(found.stdout)
    assert hits[0]["source"].endswith("notes.txt")
    listing = impetus("ls", "notes", data_dir=data).stdout.splitlines()
    assert len(listing) == 2
    doc_id = next(line.split("\t")[0] for line in listing if line.endswith("notes.txt"))
    assert impetus("rm", "notes", "--doc", doc_id, data_dir=data).returncode == 0
    assert "1 documents" in impetus("ls", data_dir=data).stdout
    assert impetus("rm", "notes", data_dir=data).returncode == 0
    assert impetus("search", "notes", "x", data_dir=data).returncode == 1
