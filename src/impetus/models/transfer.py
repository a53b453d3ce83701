"""One file from the Hub onto disk: resumable, verified, cancellable.

`hf_hub_download` deletes its partial file when a transfer fails, so the transfer is ours: the
partial file survives failures, restarts and cancellation and resumes with an HTTP Range
request. Bytes are hashed as they are written and checked against the Hub's metadata: the LFS
sha256 for large files, the git blob id (sha1 of "blob <size>\\0" + content) for small ones
kept in git, and the size always.

Cancellation has to be prompt even when the server stalls mid-body: a flag checked per block
stops a flowing transfer, and `shutdown()` on the socket wakes a read blocked in another thread
(closing the file descriptor would not); see `abort_hook`.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

_RETRIES = 5
# Resumed bytes are re-hashed from disk in blocks of this size.
_CHUNK = 1 << 20


class PullError(Exception):
    """A pull failed; the message is safe to show. `status` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class PullCancelled(PullError):
    """The pull was cancelled (client gone, Ctrl-C); partial files are kept for a resume."""

    def __init__(self, message: str = "pull cancelled; pull again to resume") -> None:
        super().__init__(message, 499)


class CancelToken:
    """Set from any thread; the downloading thread checks it and its hooks break blocked reads."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._hooks: list[Callable[[], None]] = []

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            hooks = list(self._hooks)
        for hook in hooks:
            hook()

    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise PullCancelled()

    def wait(self, seconds: float) -> bool:
        return self._event.wait(seconds)

    @contextlib.contextmanager
    def hook(self, fn: Callable[[], None]) -> Iterator[None]:
        """Run `fn` on cancel while the block runs (at once if already cancelled)."""
        with self._lock:
            self._hooks.append(fn)
            already = self._event.is_set()
        if already:
            fn()
        try:
            yield
        finally:
            with self._lock:
                self._hooks.remove(fn)


@dataclass(frozen=True)
class RemoteFile:
    """A file in a Hub repo as its tree listing describes it."""

    path: str
    size: int | None
    sha256: str | None = None  # LFS files
    git_oid: str | None = None  # files kept in git: sha1 of the git blob

    @property
    def label(self) -> str:
        if self.sha256:
            return f"sha256:{self.sha256}"
        return self.path


class _Verifier:
    def __init__(self, remote: RemoteFile) -> None:
        self.remote = remote
        self.reset()

    def reset(self) -> None:
        self.sha256 = hashlib.sha256()
        self.sha1 = None
        if self.remote.git_oid and not self.remote.sha256 and self.remote.size is not None:
            self.sha1 = hashlib.sha1(f"blob {self.remote.size}\0".encode())

    def update(self, block: bytes) -> None:
        self.sha256.update(block)
        if self.sha1 is not None:
            self.sha1.update(block)

    def check(self, have: int, size: int | None) -> str:
        """The sha256 of what was downloaded; PullError if it is not what the Hub announced."""
        r = self.remote
        if size is not None and have != size:
            raise PullError(f"{r.path}: size mismatch: expected {size} bytes, got {have}", 502)
        digest = self.sha256.hexdigest()
        if r.sha256 and digest != r.sha256:
            raise PullError(f"{r.path}: sha256 mismatch: expected {r.sha256}, got {digest}", 502)
        if self.sha1 is not None and self.sha1.hexdigest() != r.git_oid:
            raise PullError(
                f"{r.path}: checksum mismatch: git blob {self.sha1.hexdigest()}, the Hub says"
                f" {r.git_oid}",
                502,
            )
        return digest


def _is_loopback(url: str) -> bool:
    host = httpx.URL(url).host
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _socket_of(resp: httpx.Response) -> socket.socket | None:
    stream = resp.extensions.get("network_stream")
    try:
        return stream.get_extra_info("socket") if stream is not None else None
    except Exception:
        return None


def abort_hook(sock: socket.socket | None) -> Callable[[], None]:
    """What a cancel does to the socket of a transfer another thread is reading.

    `shutdown()` wakes that thread's blocked read. It is not enough on its own: a read after it
    still returns what the kernel had queued, and a socket closed with nothing left to read
    goes quietly to FIN-WAIT-2 while still advertising the zero window a slow reader left,
    so the server's write blocks for good (seen on a loaded machine). A zero linger makes the
    close a reset, which the server sees at once.
    """

    def abort() -> None:
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)

    return abort


def download(
    url: str,
    partial: Path,
    remote: RemoteFile,
    *,
    headers: dict[str, str],
    on_progress: Callable[[int, int | None], None],
    on_retry: Callable[[int, int | None], None] = lambda have, size: None,
    cancel: CancelToken | None = None,
) -> str:
    """Download `url` into `partial` (appending to what is already there) and verify it.

    `on_progress(bytes_on_disk, size)` is called for every block. Returns the sha256. On a
    checksum or size mismatch the partial file is deleted and PullError raised; on cancel
    (PullCancelled) or a transfer that keeps failing, it is kept for the next pull.
    """
    cancel = cancel or CancelToken()
    headers = {**headers, "Accept-Encoding": "identity"}
    # A Hub mirror on this machine is reached directly, never through HTTP(S)_PROXY: a proxy
    # in between keeps reading from the mirror after we cancel (our socket shutdown stops only
    # the proxy's side), and buffers megabytes we never see.
    trust_env = not _is_loopback(url)
    size = remote.size
    verifier = _Verifier(remote)
    have = 0
    if partial.exists():  # resume: hash what we already have
        with partial.open("rb") as fh:
            while block := fh.read(_CHUNK):
                verifier.update(block)
                have += len(block)
        if size is not None and have > size:
            partial.unlink()
            verifier.reset()
            have = 0
    on_progress(have, size)
    failures = 0
    while size is None or have < size:
        cancel.check()
        req_headers = dict(headers)
        if have:
            req_headers["Range"] = f"bytes={have}-"
        try:
            with (
                httpx.stream(
                    "GET",
                    url,
                    headers=req_headers,
                    follow_redirects=True,
                    timeout=30,
                    trust_env=trust_env,
                ) as resp,
                cancel.hook(abort_hook(_socket_of(resp))),
                partial.open("ab") as out,
            ):
                if resp.status_code == 416 and size is not None and have == size:
                    break
                if resp.status_code >= 400:
                    raise PullError(
                        f"{remote.path}: download failed: HTTP {resp.status_code}",
                        404 if resp.status_code == 404 else 502,
                    )
                if have and resp.status_code == 200:  # the server ignored our Range
                    out.truncate(0)
                    verifier.reset()
                    have = 0
                if size is None:
                    total = resp.headers.get("content-length")
                    size = have + int(total) if total and total.isdigit() else None
                for block in resp.iter_bytes():
                    cancel.check()
                    out.write(block)
                    verifier.update(block)
                    have += len(block)
                    failures = 0
                    on_progress(have, size)
            if size is None:
                break
            if have < size:
                raise httpx.RemoteProtocolError("connection closed early")
        except httpx.TransportError as exc:
            cancel.check()  # a shut-down socket surfaces as a transport error
            failures += 1
            if failures > _RETRIES:
                raise PullError(
                    f"{remote.path}: download interrupted ({have} of {size} bytes kept; pull"
                    f" again to resume): {exc}",
                    502,
                ) from None
            on_retry(have, size)
            if cancel.wait(min(2.0, 0.2 * failures)):
                cancel.check()
    try:
        return verifier.check(have, size)
    except PullError:
        partial.unlink(missing_ok=True)
        raise
