"""Uploads streamed into a job's folder: the per-file limit while the bytes arrive, and the
folders of uploads that never became a job."""

from __future__ import annotations

import asyncio
import fcntl
import time
from pathlib import Path

import pytest

from impetus.rag.service import RECEIVING, RagService
from impetus.rag.upload import UploadError, UploadReceiver, receive

BOUNDARY = "impetus-test-boundary"
CTYPE = f"multipart/form-data; boundary={BOUNDARY}"


def multipart(parts: list[tuple[str, str | None, bytes]]) -> bytes:
    """(field, file name or None for a plain field, content) as a multipart body."""
    out = b""
    for name, filename, content in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disp}\r\n".encode()
        if filename:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + content + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def test_a_file_over_the_limit_is_never_kept_and_the_others_are(tmp_path) -> None:
    limit = 1000
    body = multipart(
        [
            ("tags", None, b'["a"]'),
            ("files", "first.txt", b"one " * 50),
            ("files", "../../etc/big.txt", b"x" * 5000),
            ("other", "ignored.bin", b"z" * 3000),  # a file in another field: not stored
            ("files", "C:\\Users\\me\\last.md", b"# Last\n\ntext"),
        ]
    )
    rx = UploadReceiver(tmp_path, CTYPE, max_file_bytes=limit)
    most = 0
    for i in range(0, len(body), 97):  # small pieces, as a slow client sends them
        rx.feed(body[i : i + 97])
        most = max(most, folder_bytes(tmp_path))
        big = rx.upload.files[1] if len(rx.upload.files) > 1 else None
        if big is not None and big.size > limit:
            assert not big.path.exists()  # dropped at the byte that passed the limit
    got = rx.finish()
    assert most <= 200 + limit  # the disk never held more than the limit of the big file
    assert [f.name for f in got.files] == ["first.txt", "big.txt", "last.md"]
    first, big, last = got.files
    assert first.error is None and first.path.read_bytes() == b"one " * 50
    assert big.size == 5000 and "5000 bytes" in big.error and str(limit) in big.error
    assert not big.path.exists()
    assert last.path.read_bytes() == b"# Last\n\ntext"
    assert got.fields == {"tags": '["a"]'}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00000", "00002"]


def test_receive_streams_an_async_body(tmp_path) -> None:
    body = multipart([("files", "a.txt", b"alpha"), ("metadata", None, b'{"k": "v"}')])

    async def chunks():
        for i in range(0, len(body), 7):
            yield body[i : i + 7]

    got = asyncio.run(receive(chunks(), CTYPE, tmp_path, max_file_bytes=100))
    assert got.files[0].path.read_bytes() == b"alpha" and got.fields["metadata"] == '{"k": "v"}'


@pytest.mark.parametrize(
    ("ctype", "body"),
    [
        ("application/json", b"{}"),
        ("multipart/form-data", b""),  # no boundary
        (CTYPE, multipart([("files", "a.txt", b"alpha")])[:-30]),  # cut off inside a part
        (CTYPE, b"garbage without any boundary at all"),
        (CTYPE, multipart([("tags", None, b"x" * (2 << 20))])),  # a huge form field
    ],
)
def test_bad_bodies_are_refused(tmp_path, ctype: str, body: bytes) -> None:
    with pytest.raises(UploadError):
        rx = UploadReceiver(tmp_path, ctype, max_file_bytes=100)
        rx.feed(body)
        rx.finish()


def test_upload_folders_belong_to_their_job_or_are_removed(tmp_path, embedder) -> None:
    root = tmp_path / "ix"
    svc = RagService(root, embedder)
    svc.create("kb")
    with pytest.raises(FileNotFoundError):
        svc.begin_upload("missing")  # before a byte of the body is read
    kept = svc.begin_upload("kb")
    (kept.folder / "00000").write_bytes(b"The zorblax daemon listens on port 7411.")
    discarded = svc.begin_upload("kb")
    (discarded.folder / "00000").write_bytes(b"x")
    svc.discard_upload(discarded)
    assert not discarded.folder.exists()
    crashed = svc.begin_upload("kb")  # a crash mid-upload: its lock dies with the process
    crashed.lock.close()
    receiving = svc.begin_upload("kb")  # still arriving, in another process
    lock = (receiving.folder / RECEIVING).open("rb")
    receiving.lock.close()
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

    from impetus.rag.upload import UploadedFile

    files = [
        UploadedFile("notes.txt", kept.folder / "00000", 40),
        UploadedFile("huge.pdf", kept.folder / "00001", 10**9, error="the file is too big"),
    ]
    job = svc.wait(svc.ingest_uploads("kb", kept, files))
    report = {f["source"]: f for f in job.to_json()["files"]}
    assert report["notes.txt"]["status"] == "indexed"
    assert report["huge.pdf"] == {**report["huge.pdf"], "status": "error", "chunks": 0}
    assert report["huge.pdf"]["error"] == "the file is too big"
    deadline = time.monotonic() + 10
    while kept.folder.exists() and time.monotonic() < deadline:  # removed right after `done`
        time.sleep(0.02)
    assert not kept.folder.exists()
    svc.close()

    svc = RagService(root, embedder)  # the next start cleans what no job owns
    assert not crashed.folder.exists()
    assert receiving.folder.exists()
    lock.close()
    svc.close()
    svc = RagService(root, embedder)
    assert not receiving.folder.exists()
    assert [p.name for p in (root / "jobs").iterdir()] == []
    svc.close()
