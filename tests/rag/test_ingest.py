"""Ingestion and search end to end: real files of every format, the real embedding model and
the real LanceDB store."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from impetus.rag.service import RagService
from impetus.rag.store import FilterError
from tests.rag.documents import BAD, CORPUS, write


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    """A real Chroma server process (`chroma run`), as the scale-out deployment uses."""
    from tests.conftest import free_port

    port = free_port()
    path = tmp_path_factory.mktemp("chroma")
    chroma = Path(sys.executable).with_name("chroma")
    log = (path / "log").open("w")
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(path / "db"), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    import httpx

    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/api/v2/heartbeat", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("chroma run did not start: " + (path / "log").read_text()[-2000:])
    yield url
    proc.terminate()
    proc.wait(15)


@pytest.fixture(scope="module", params=["lancedb", "chroma-server"])
def rag(request, tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("rag")
    store = None
    if request.param == "chroma-server":
        from impetus.rag.chroma_store import ChromaStore

        store = ChromaStore(request.getfixturevalue("chroma_server"))
    svc = RagService(root / "index", embedder, store=store)
    svc.create("kb")
    files = write(root / "docs", CORPUS)
    job = svc.wait(svc.ingest_paths("kb", [str(root / "docs")], tags=["corpus"]))
    assert job.status == "done", job.to_json()
    svc.folder = root / "docs"
    svc.files = {p.name: str(p) for p in files}
    yield svc
    svc.close()


def top(svc, query, mode, k=3, **kw):
    return svc.search(["kb"], query, k=k, mode=mode, **kw)


def chunk_doc_ids(coll) -> list[str]:
    """The doc_id of every stored chunk, straight from the store."""
    if hasattr(coll.chunks, "count_rows"):  # LanceDB
        table = coll.chunks.search().select(["doc_id"]).limit(None).to_arrow()
        return table.column("doc_id").to_pylist()
    return [m["doc_id"] for m in coll.chunks.get(include=["metadatas"])["metadatas"]]


def test_every_format_is_indexed_with_offsets_and_sections(rag) -> None:
    docs = {Path(d["source"]).name: d for d in rag.documents("kb")}
    assert set(docs) == set(CORPUS)
    assert {d["type"] for d in docs.values()} == {"pdf", "docx", "markdown", "html", "text", "code"}
    hit = top(rag, "How tall is the Eiffel Tower?", "vector")[0]
    assert Path(hit["source"]).name == "tower.pdf" and hit["page"] == 2
    hit = top(rag, "Phobos and Deimos", "keyword")[0]
    assert hit["section"] == "Moons of Mars"
    from impetus.rag.extract import extract

    full = extract("mars.md", CORPUS["mars.md"]).text
    assert full[hit["start"] : hit["end"]] == hit["text"]


@pytest.mark.parametrize(
    ("query", "want"),
    [
        ("How tall is the Eiffel Tower?", "tower.pdf"),
        ("How do I make pancakes?", "pancakes.docx"),
        ("Why is Mars red?", "mars.md"),
        ("When do emperor penguins breed?", "birds.html"),
        ("Which port does the zorblax protocol use?", "notes.txt"),
        ("function that computes fibonacci numbers", "fib.py"),
    ],
)
@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_the_right_passage_is_found(rag, query, want, mode) -> None:
    hits = top(rag, query, mode)
    assert hits and Path(hits[0]["source"]).name == want, [(h["source"], h["score"]) for h in hits]


def test_filters_exclude_inside_the_search(rag) -> None:
    q = "How tall is the Eiffel Tower?"
    for mode in ("vector", "keyword", "hybrid"):
        hits = top(rag, q, mode, k=10, filters={"type": {"in": ["markdown", "html"]}})
        assert {h["type"] for h in hits} <= {"markdown", "html"}
        assert hits or mode == "keyword"  # no query word occurs in those files
    assert all(h["page"] == 1 for h in top(rag, q, "vector", filters={"page": {"lt": 2}}))
    assert top(rag, q, "hybrid", filters={"tags": {"any": ["other"]}}) == []
    assert top(rag, q, "vector", filters={"date": {"gt": "2999-01-01"}}) == []
    only = top(rag, q, "vector", k=10, filters={"source": rag.files["notes.txt"]})
    assert {Path(h["source"]).name for h in only} == {"notes.txt"}
    with pytest.raises(FilterError):
        top(rag, q, "vector", filters={"colour": "red"})


def test_reingesting_unchanged_files_does_nothing(rag) -> None:
    before = rag.stats("kb")
    job = rag.wait(rag.ingest_paths("kb", [str(rag.folder)], tags=["corpus"]))
    assert job.to_json()["counts"] == {"unchanged": len(CORPUS)}
    assert rag.stats("kb")["chunks"] == before["chunks"]
    assert len(chunk_doc_ids(rag.store.open("kb"))) == before["chunks"]


def test_a_changed_file_replaces_only_its_chunks(rag) -> None:
    path = Path(rag.files["notes.txt"])
    coll = rag.store.open("kb")
    # content_hash, not ingested_at: Chroma keeps timestamps to the second, and a re-ingest
    # can land in the same second.
    before = {d.doc_id: d.content_hash for d in coll.documents()}
    path.write_text("Meeting notes.\n\nThe quuxinator daemon listens on port 9911.\n")
    job = rag.wait(rag.ingest_paths("kb", [str(rag.folder)], tags=["corpus"]))
    counts = job.to_json()["counts"]
    assert counts == {"indexed": 1, "unchanged": len(CORPUS) - 1}
    assert top(rag, "zorblax", "keyword") == []
    assert Path(top(rag, "quuxinator", "keyword")[0]["source"]).name == "notes.txt"
    after = {d.doc_id: d.content_hash for d in coll.documents()}
    changed = [d for d in after if after[d] != before.get(d)]
    assert len(changed) == 1


def test_delete_leaves_no_orphans(rag) -> None:
    coll = rag.store.open("kb")
    doc = next(d for d in coll.documents() if d.source.endswith("fib.py"))
    assert doc.doc_id in chunk_doc_ids(coll)
    assert rag.delete_document("kb", doc.doc_id)
    assert doc.doc_id not in chunk_doc_ids(coll)
    assert set(chunk_doc_ids(coll)) == {d.doc_id for d in coll.documents()}
    assert coll.document(doc.doc_id) is None
    assert not rag.delete_document("kb", doc.doc_id)
    hits = top(rag, "fibonacci", "keyword", k=10)
    assert all(h["doc_id"] != doc.doc_id for h in hits)


def test_bad_files_are_reported_and_the_rest_ingests(tmp_path, embedder) -> None:
    svc = RagService(tmp_path / "index", embedder)
    svc.ingestor.max_file_bytes = 4096
    svc.create("mixed")
    write(tmp_path / "in", {**BAD, "big.txt": b"word " * 2000, "notes.txt": CORPUS["notes.txt"]})
    (tmp_path / "in" / "unreadable.md").write_text("# x")
    os.chmod(tmp_path / "in" / "unreadable.md", 0)
    job = svc.wait(svc.ingest_paths("mixed", [str(tmp_path / "in"), str(tmp_path / "gone.txt")]))
    os.chmod(tmp_path / "in" / "unreadable.md", 0o644)
    files = {Path(f["source"]).name: f for f in job.to_json()["files"]}
    assert files["notes.txt"]["status"] == "indexed"
    errors = {n: f["error"] for n, f in files.items() if f["status"] == "error"}
    assert "encrypted" in errors["locked.pdf"]
    assert "corrupt" in errors["broken.pdf"] and "corrupt" in errors["broken.docx"]
    assert "unsupported format" in errors["picture.xyz"]
    assert "binary" in errors["binary.txt"]
    assert "limit" in errors["big.txt"]
    assert "cannot read" in errors["gone.txt"]
    if os.getuid() != 0:  # root reads mode-000 files
        assert "cannot read" in errors["unreadable.md"]
    assert svc.stats("mixed")["documents"] == 1 + (os.getuid() == 0)
    svc.close()


CRASH = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from impetus.rag.embed import Embedder
    from impetus.rag.lance_store import LanceCollection
    from impetus.rag.service import RagService

    real = LanceCollection.put_document
    def put_then_die(self, doc, chunks):
        if doc.source.endswith("mars.md"):
            # The chunks commit, then the process dies before the document row is written.
            self.chunks.add(self._chunk_table(chunks))
            os.kill(os.getpid(), signal.SIGKILL)
        real(self, doc, chunks)
    LanceCollection.put_document = put_then_die
    svc = RagService(Path(sys.argv[1]), Embedder(sys.argv[2], n_threads=1))
    svc.create("kb")
    svc.wait(svc.ingest_paths("kb", [sys.argv[3]]))
    """
)


def test_kill_9_mid_ingest_leaves_a_consistent_index_that_resumes(tmp_path, embedder) -> None:
    write(tmp_path / "docs", CORPUS)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            CRASH,
            str(tmp_path / "ix"),
            str(embedder.path),
            str(tmp_path / "docs"),
        ],
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    svc = RagService(tmp_path / "ix", embedder)  # resumes the unfinished job
    job = next(iter(svc.jobs.values()))
    svc.wait(job, timeout=120)
    assert job.status == "done"
    coll = svc.store.open("kb")
    docs = {d.doc_id: d for d in coll.documents()}
    assert {Path(d.source).name for d in docs.values()} == set(CORPUS)
    per_doc: dict[str, int] = {}
    for d in chunk_doc_ids(coll):
        per_doc[d] = per_doc.get(d, 0) + 1
    assert per_doc == {d: docs[d].chunks for d in docs}  # no duplicates, no orphans
    assert not list((tmp_path / "ix" / "jobs").glob("*.json"))
    svc.close()


@pytest.mark.parametrize("backend", ["lancedb", "chroma-server"])
def test_a_delete_cut_short_is_repaired_when_the_collection_next_opens(
    request, tmp_path, embedder, monkeypatch, backend
) -> None:
    def service() -> RagService:
        store = None
        if backend == "chroma-server":
            from impetus.rag.chroma_store import ChromaStore

            store = ChromaStore(request.getfixturevalue("chroma_server"))
        return RagService(tmp_path / "ix", embedder, store=store)

    name = f"crash-{secrets.token_hex(4)}"  # the Chroma server is shared by the module
    svc = service()
    svc.create(name)
    write(tmp_path / "docs", {n: CORPUS[n] for n in ("fib.py", "notes.txt", "mars.md")})
    assert svc.wait(svc.ingest_paths(name, [str(tmp_path / "docs")])).status == "done"
    coll = svc.store.open(name)
    doc = next(d for d in coll.documents() if d.source.endswith("fib.py"))
    # The crash: `delete_document` removed the document's row, then the process died before
    # it removed the chunks.
    if backend == "lancedb":
        coll.docs.delete(f"doc_id = '{doc.doc_id}'")
    else:
        coll.docs.delete(ids=[doc.doc_id])
    orphans = [h["doc_id"] for h in svc.search([name], "fibonacci", mode="keyword")]
    assert doc.doc_id in orphans  # what the half-done delete left searchable
    svc.close()

    repairs: list[str] = []
    store_cls = type(coll)
    real = store_cls.repair
    monkeypatch.setattr(store_cls, "repair", lambda self: repairs.append(self.name) or real(self))
    svc = service()  # the next process
    for mode in ("keyword", "vector", "hybrid"):
        ids = [h["doc_id"] for h in svc.search([name], "fibonacci numbers", mode=mode, k=10)]
        assert doc.doc_id not in ids, mode
        assert ids or mode == "keyword"  # only fib.py has those words
    assert doc.doc_id not in chunk_doc_ids(svc.store.open(name))
    assert svc.stats(name)["documents"] == 2
    assert repairs == [name]  # once, on the first open, not per search
    svc.close()

    svc = service()  # consistent now: the check finds nothing to repair
    svc.search([name], "fibonacci", mode="keyword")
    assert repairs == [name]
    svc.close()
