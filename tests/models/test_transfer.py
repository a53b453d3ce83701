"""transfer.download on its own: a cancel wakes a read blocked on a stalled server."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from impetus.models.transfer import CancelToken, PullCancelled, RemoteFile, abort_hook, download
from tests.models.fake_hub import FakeHub


def test_cancel_interrupts_a_read_blocked_on_a_stalled_server(tmp_path):
    src = tmp_path / "weights.safetensors"
    src.write_bytes(bytes(range(256)) * 64)  # 16 KiB
    hub = FakeHub(throttle=200)  # 1 KiB blocks, 5 s apart: the reader waits inside recv()
    f = hub.add("acme/stall", "weights.safetensors", src)
    hub.start()
    try:
        cancel = CancelToken()
        got_bytes = threading.Event()
        outcome: list = []

        def progress(have: int, size: int | None) -> None:
            if have:
                got_bytes.set()

        def run() -> None:
            try:
                download(
                    f"{hub.url}/acme/stall/resolve/main/weights.safetensors",
                    tmp_path / "w.partial",
                    RemoteFile("weights.safetensors", f.size, f.sha256),
                    headers={},
                    on_progress=progress,
                    cancel=cancel,
                )
            except PullCancelled as exc:
                outcome.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        assert got_bytes.wait(30)
        time.sleep(0.3)  # now blocked on the next block, due in ~5 s
        t0 = time.monotonic()
        cancel.cancel()
        worker.join(10)
        took = time.monotonic() - t0
        assert not worker.is_alive() and outcome, "the download did not stop"
        assert took < 2.0, f"cancel took {took:.2f}s"
        assert (tmp_path / "w.partial").stat().st_size == 1024  # kept for a resume
    finally:
        hub.stop()


def test_an_aborted_socket_resets_the_server_even_after_its_queue_is_drained():
    """The server's write must fail once we abort, even if our reader empties the queue first.

    With shutdown() alone, the last read drains what the kernel queued, the close sends no
    reset, and a server that filled our window stays blocked writing (seen under load).
    """
    listener = socket.create_server(("127.0.0.1", 0))
    failed = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            while True:
                conn.send(b"x" * 65536)
        except OSError:
            failed.set()

    threading.Thread(target=serve, daemon=True).start()
    client = socket.create_connection(listener.getsockname())
    client.recv(1000)
    time.sleep(0.5)  # the server fills every buffer and blocks in send()
    abort_hook(client)()
    while client.recv(65536):  # what a reader woken by the shutdown does
        pass
    client.close()
    assert failed.wait(3), "the server is still blocked writing to a connection we left"
    listener.close()


def test_a_cancelled_token_stops_before_connecting(tmp_path):
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(PullCancelled):
        download(
            "http://127.0.0.1:9/never",
            tmp_path / "x.partial",
            RemoteFile("x", 10),
            headers={},
            on_progress=lambda have, size: None,
            cancel=cancel,
        )


def test_a_hub_on_this_machine_is_reached_without_the_proxy(tmp_path, monkeypatch):
    """HTTP(S)_PROXY pointing at nothing: a loopback mirror still downloads, directly."""
    src = tmp_path / "weights.safetensors"
    src.write_bytes(bytes(range(256)) * 64)
    hub = FakeHub()
    f = hub.add("acme/local", "weights.safetensors", src)
    hub.start()
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # the discard port: nothing listens
    try:
        digest = download(
            f"{hub.url}/acme/local/resolve/main/weights.safetensors",
            tmp_path / "w.partial",
            RemoteFile("weights.safetensors", f.size, f.sha256),
            headers={},
            on_progress=lambda have, size: None,
        )
    finally:
        hub.stop()
    assert digest == f.sha256 and hub.ranges == [""]
