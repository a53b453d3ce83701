"""/v1/rag and RAG chat against the real server, embedding model, chat model and store."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.rag.documents import BAD, CORPUS


def _name() -> str:
    return "t-" + secrets.token_hex(4)


def _wait(client, job: dict) -> dict:
    events = []
    with client.stream("GET", f"/v1/rag/jobs/{job['id']}/events") as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if events[-1]["type"] == "done":
                    break
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "done" and kinds.count("file") == job["total"]
    status = client.get(f"/v1/rag/jobs/{job['id']}").json()
    assert status["status"] == "done" and status["done"] == job["total"]
    return status


@pytest.fixture(scope="module")
def kb(server) -> str:
    import httpx

    name = _name()
    with httpx.Client(base_url=server.url, timeout=120) as c:
        assert c.post("/v1/rag/collections", json={"name": name}).status_code == 201
        files = [("files", (n, d)) for n, d in {**CORPUS, **BAD}.items()]
        resp = c.post(f"/v1/rag/upload/{name}", files=files, data={"tags": '["kb"]'})
        assert resp.status_code == 202, resp.text
        status = _wait(c, resp.json())
    by_name = {f["source"]: f for f in status["files"]}
    assert all(by_name[n]["status"] == "indexed" for n in CORPUS)
    assert all(by_name[n]["status"] == "error" and by_name[n]["error"] for n in BAD)
    return name


def test_server_start_imports_no_rag_libraries() -> None:
    code = (
        "import sys; from impetus.config import Settings; from impetus.server.app import create_app;"
        "create_app(Settings());"
        "print([m for m in ('lancedb', 'pyarrow', 'pypdf', 'docx', 'impetus.rag.embed')"
        " if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_collection_lifecycle(client) -> None:
    name = _name()
    created = client.post("/v1/rag/collections", json={"name": name})
    assert created.status_code == 201 and created.json()["chunks"] == 0
    assert client.post("/v1/rag/collections", json={"name": name}).status_code == 409
    assert client.post("/v1/rag/collections", json={"name": "../x"}).status_code == 400
    names = [c["name"] for c in client.get("/v1/rag/collections").json()["data"]]
    assert name in names
    assert client.get(f"/v1/rag/collections/{name}").json()["dim"] == 384
    assert client.delete(f"/v1/rag/collections/{name}").json()["deleted"] is True
    assert client.get(f"/v1/rag/collections/{name}").status_code == 404
    assert client.delete(f"/v1/rag/collections/{name}").status_code == 404


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_search_finds_the_passage(client, kb, mode) -> None:
    body = {"query": "When do emperor penguins breed?", "k": 3, "mode": mode}
    hits = client.post(f"/v1/rag/collections/{kb}/search", json=body).json()["data"]
    assert hits[0]["source"] == "birds.html" and hits[0]["section"] == "Penguins"
    assert {"score", "chunk_id", "doc_id", "start", "end", "tags"} <= set(hits[0])
    filtered = {**body, "filters": {"type": {"in": ["pdf"]}}}
    hits = client.post(f"/v1/rag/collections/{kb}/search", json=filtered).json()["data"]
    assert all(h["type"] == "pdf" for h in hits)


def test_search_errors(client, kb) -> None:
    url = f"/v1/rag/collections/{kb}/search"
    bad_filter = client.post(url, json={"query": "x", "filters": {"nope": 1}})
    assert bad_filter.status_code == 400 and bad_filter.json()["error"]["param"] == "filters"
    assert client.post(url, json={"query": "x", "mode": "magic"}).status_code == 400
    assert client.post(url, json={"query": ""}).status_code == 400
    missing = client.post("/v1/rag/collections/no-such/search", json={"query": "x"})
    assert missing.status_code == 404


def test_path_ingest_documents_and_delete(client, tmp_path) -> None:
    name = _name()
    client.post("/v1/rag/collections", json={"name": name})
    (tmp_path / "notes.txt").write_bytes(CORPUS["notes.txt"])
    (tmp_path / "mars.md").write_bytes(CORPUS["mars.md"])
    body = {"paths": [str(tmp_path)], "metadata": {"team": "infra"}}
    job = client.post(f"/v1/rag/collections/{name}/ingest", json=body).json()
    assert _wait(client, job)["counts"] == {"indexed": 2}
    again = client.post(f"/v1/rag/collections/{name}/ingest", json=body).json()
    assert _wait(client, again)["counts"] == {"unchanged": 2}
    docs = client.get(f"/v1/rag/collections/{name}/documents").json()["data"]
    notes = next(d for d in docs if d["source"].endswith("notes.txt"))
    assert notes["meta"] == {"team": "infra"}
    search = {"query": "zorblax port", "mode": "keyword", "filters": {"meta.team": "infra"}}
    assert client.post(f"/v1/rag/collections/{name}/search", json=search).json()["data"]
    gone = client.delete(f"/v1/rag/collections/{name}/documents/{notes['doc_id']}")
    assert gone.status_code == 200
    hits = client.post(f"/v1/rag/collections/{name}/search", json=search).json()["data"]
    assert all(h["doc_id"] != notes["doc_id"] for h in hits)
    assert client.get(f"/v1/rag/collections/{name}").json()["documents"] == 1


def test_an_oversized_upload_is_reported_and_never_kept(client) -> None:
    from impetus.rag.ingest import MAX_FILE_BYTES

    name = _name()
    client.post("/v1/rag/collections", json={"name": name})
    big = b"a" * (MAX_FILE_BYTES + 1)  # one byte over the real limit (64 MiB)
    files = [
        ("files", ("notes.txt", CORPUS["notes.txt"])),
        ("files", ("big.txt", big)),
        ("files", ("mars.md", CORPUS["mars.md"])),  # after the big one: still read and indexed
    ]
    resp = client.post(f"/v1/rag/upload/{name}", files=files, data={"tags": '["up"]'})
    assert resp.status_code == 202, resp.text
    status = _wait(client, resp.json())
    by_name = {f["source"]: f for f in status["files"]}
    assert by_name["notes.txt"]["status"] == by_name["mars.md"]["status"] == "indexed"
    assert by_name["big.txt"]["status"] == "error"
    assert f"{MAX_FILE_BYTES + 1} bytes" in by_name["big.txt"]["error"]
    assert str(MAX_FILE_BYTES) in by_name["big.txt"]["error"]
    assert client.get(f"/v1/rag/collections/{name}").json()["documents"] == 2
    folder = Path(os.environ["IMPETUS_DATA_DIR"]) / "rag" / "jobs" / status["id"]
    deadline = time.monotonic() + 10
    while folder.exists() and time.monotonic() < deadline:  # removed right after `done`
        time.sleep(0.05)
    assert not folder.exists()


def test_upload_errors_leave_nothing_behind(client) -> None:
    name = _name()
    client.post("/v1/rag/collections", json={"name": name})
    jobs = Path(os.environ["IMPETUS_DATA_DIR"]) / "rag" / "jobs"
    before = set(jobs.iterdir())
    one = [("files", ("a.txt", b"alpha"))]
    missing = client.post("/v1/rag/upload/no-such-collection", files=one)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "collection_not_found"
    not_multipart = client.post(f"/v1/rag/upload/{name}", json={"files": []})
    assert not_multipart.status_code == 400
    no_files = client.post(f"/v1/rag/upload/{name}", files={"other": ("a.txt", b"x")})
    assert no_files.status_code == 400 and no_files.json()["error"]["param"] == "files"
    bad_tags = client.post(f"/v1/rag/upload/{name}", files=one, data={"tags": '{"a": 1}'})
    assert bad_tags.status_code == 400 and bad_tags.json()["error"]["param"] == "tags"
    assert set(jobs.iterdir()) == before


QUESTION = [{"role": "user", "content": "How tall is the Eiffel Tower?"}]


def test_chat_completion_with_rag_cites_the_right_document(client, kb) -> None:
    body = {"messages": QUESTION, "max_tokens": 24, "rag": {"collections": [kb], "k": 3}}
    resp = client.post("/v1/chat/completions", json=body)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["choices"][0]["message"]["content"]
    first = out["citations"][0]
    assert first["source"] == "tower.pdf" and first["page"] == 2 and first["index"] == 1
    assert first["chunk_id"].startswith(first["doc_id"])
    assert "330 metres" in first["text"]  # the passage itself, for the UI to show
    assert out["usage"]["prompt_tokens"] > 40  # the passages are in the prompt


def test_streamed_rag_chat_sends_citations_first(client, kb) -> None:
    body = {
        "messages": QUESTION,
        "max_tokens": 16,
        "stream": True,
        "collections": [kb],
        "mode": "vector",
    }
    events = []
    with client.stream("POST", "/v1/rag/chat", json=body) as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():
            if line.startswith("data: "):
                events.append(line[6:])
    assert events[-1] == "[DONE]"
    first = json.loads(events[0])
    assert first["choices"] == [] and first["citations"][0]["source"] == "tower.pdf"
    text = "".join(
        c["delta"].get("content") or "" for e in events[1:-1] for c in json.loads(e)["choices"]
    )
    assert text


def test_rag_chat_errors(client, kb) -> None:
    base = {"messages": QUESTION, "max_tokens": 4}
    missing = client.post("/v1/chat/completions", json={**base, "rag": {"collections": ["nope"]}})
    assert missing.status_code == 404
    empty = client.post("/v1/chat/completions", json={**base, "rag": {"collections": []}})
    assert empty.status_code == 400
    assert client.post("/v1/rag/chat", json=base).status_code == 400
