"""`impetus rag ingest --watch`: the loop's handling of watchfiles' change batches, driven
with the batches watchfiles reports (no watcher, no sleeping)."""

from __future__ import annotations

from pathlib import Path

from watchfiles import Change

from impetus.rag.ingest import source_path
from impetus.rag.service import RagService
from impetus.rag.watch import apply_changes, gone_documents, plan_changes
from tests.rag.documents import CORPUS, write


def sources(svc: RagService) -> set[str]:
    return {d["source"] for d in svc.documents("kb")}


def test_change_then_delete_through_a_symlinked_folder(tmp_path, embedder) -> None:
    real = tmp_path / "real"
    write(real, {"notes.txt": CORPUS["notes.txt"], "mars.md": CORPUS["mars.md"]})
    write(real / "sub", {"fib.py": CORPUS["fib.py"]})
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    watched = str(tmp_path / "link")  # what the user typed, and what watchfiles reports under
    svc = RagService(tmp_path / "ix", embedder)
    svc.create("kb")
    jobs = []

    def ingest(batch: list[str]) -> None:
        jobs.append(svc.wait(svc.ingest_paths("kb", batch)).to_json()["counts"])

    ingest([watched])
    assert sources(svc) == {
        str(real / "notes.txt"),
        str(real / "mars.md"),
        str(real / "sub" / "fib.py"),
    }

    notes = Path(watched) / "notes.txt"
    notes.write_text("Meeting notes.\n\nThe quuxinator daemon listens on port 9911.\n")
    apply_changes(svc, "kb", {(Change.modified, str(notes))}, [watched], ingest)
    assert jobs[-1] == {"indexed": 1}
    hits = svc.search(["kb"], "quuxinator", mode="keyword")
    assert hits and hits[0]["source"] == str(real / "notes.txt")
    assert not svc.search(["kb"], "zorblax", mode="keyword")  # the old text is gone

    notes.unlink()
    apply_changes(svc, "kb", {(Change.deleted, str(notes))}, [watched], ingest)
    assert str(real / "notes.txt") not in sources(svc)  # found through the resolved path
    assert not svc.search(["kb"], "quuxinator", mode="keyword")
    assert len(jobs) == 2  # a delete runs no ingest job

    # A folder removed at once: every document under it goes, the rest stays.
    fib = Path(watched) / "sub" / "fib.py"
    fib.unlink()
    (Path(watched) / "sub").rmdir()
    batch = {(Change.deleted, str(fib)), (Change.deleted, str(Path(watched) / "sub"))}
    apply_changes(svc, "kb", batch, [watched], ingest)
    assert sources(svc) == {str(real / "mars.md")}

    # Saved by rename (deleted + added in one batch) and a relative spelling: one document.
    mars = real / "mars.md"
    tmp = real / "mars.md.new"
    tmp.write_bytes(CORPUS["mars.md"] + b"\n\nOlympus Mons is the tallest volcano.\n")
    tmp.replace(mars)
    batch = {(Change.deleted, str(mars)), (Change.added, str(mars)), (Change.deleted, str(tmp))}
    apply_changes(svc, "kb", batch, [watched], ingest)
    assert jobs[-1] == {"indexed": 1} and sources(svc) == {str(mars)}
    assert svc.search(["kb"], "Olympus Mons", mode="keyword")[0]["source"] == str(mars)
    svc.close()


def test_the_plan_skips_hidden_paths_and_resolves_spellings(tmp_path, monkeypatch) -> None:
    root = tmp_path / "docs"
    write(root, {"a.md": b"# A", ".hidden.md": b"# H"})
    write(root / ".git", {"HEAD": b"ref"})
    monkeypatch.chdir(tmp_path)
    changes = {
        (Change.modified, "docs/a.md"),  # relative, as `impetus rag ingest docs --watch` gives
        (Change.modified, str(root / ".hidden.md")),
        (Change.modified, str(root / ".git" / "HEAD")),
        (Change.deleted, "docs/../docs/gone.txt"),
    }
    plan = plan_changes(changes, ["docs"])
    assert plan.ingest == [str(root / "a.md")]
    assert plan.gone == [root / "gone.txt"]
    assert source_path("docs/../docs/gone.txt") == root / "gone.txt"


def test_gone_documents_match_whole_path_segments() -> None:
    docs = [("1", "/d/sub/a.txt"), ("2", "/d/subway.txt"), ("3", "/d/sub"), ("4", "/e/x")]
    assert gone_documents(docs, [Path("/d/sub")]) == ["1", "3"]
    assert gone_documents(docs, [Path("/e/x"), Path("/d/subway.txt")]) == ["2", "4"]
