"""A local HTTP server that speaks the parts of the Hugging Face Hub file API a pull uses.

`GET /api/models/{org}/{repo}/tree/{rev}[/{path}]?recursive=` lists files (LFS sha256 and size
for LFS files, the git blob id for every file; folders when not recursive);
`POST /api/models/{org}/{repo}/paths-info/{rev}` describes given paths;
`HEAD|GET /{org}/{repo}/resolve/{rev}/{path}` serves files with Range support.

Knobs simulate trouble: `cut_after` closes the connection mid-body for the next `cuts`
transfers, `wrong_sha` advertises LFS checksums the bytes do not have, `corrupt` serves other
bytes than listed for some paths, and `throttle` (bytes/s) slows bodies so a test can act
mid-transfer. Counters tell what the server saw: `ranges` (Range headers of GETs),
`bytes_sent`, `dropped` (transfers whose client went away) and `active` transfers.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote

COMMIT = "0" * 40
_LFS_SUFFIXES = (".gguf", ".safetensors", ".bin")


@dataclass
class HubFile:
    path: Path
    lfs: bool = True
    sha256: str = ""
    git_oid: str = ""

    def __post_init__(self) -> None:
        data = self.path.read_bytes()
        self.sha256 = self.sha256 or hashlib.sha256(data).hexdigest()
        # What git stores: an LFS pointer for LFS files, the bytes themselves otherwise.
        blob = data
        if self.lfs:
            blob = (
                f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\n"
                f"size {len(data)}\n"
            ).encode()
        self.git_oid = hashlib.sha1(f"blob {len(blob)}\0".encode() + blob).hexdigest()

    @property
    def size(self) -> int:
        return self.path.stat().st_size


@dataclass
class FakeHub:
    repos: dict[str, dict[str, HubFile]] = field(default_factory=dict)
    cut_after: int | None = None  # bytes sent before the connection drops
    cuts: int = 0  # how many transfers to cut
    wrong_sha: bool = False
    corrupt: set[str] = field(default_factory=set)  # paths served with one byte changed
    throttle: int | None = None  # bytes per second for file bodies
    ranges: list[str] = field(default_factory=list)  # Range headers seen on GETs
    requests: list[str] = field(default_factory=list)  # "METHOD path" of every request
    bytes_sent: int = 0
    dropped: int = 0
    active: int = 0
    url: str = ""

    def add(self, repo: str, name: str, path: Path, lfs: bool | None = None) -> HubFile:
        if lfs is None:
            lfs = name.endswith(_LFS_SUFFIXES) or path.stat().st_size > 1 << 20
        f = HubFile(path, lfs=lfs)
        self.repos.setdefault(repo, {})[name] = f
        return f

    def add_folder(self, repo: str, folder: Path) -> None:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                self.add(repo, p.relative_to(folder).as_posix(), p)

    def entry(self, name: str, f: HubFile) -> dict:
        e: dict = {"type": "file", "oid": f.git_oid, "size": f.size, "path": name}
        if f.lfs:
            sha = ("f" * 64) if self.wrong_sha else f.sha256
            e["lfs"] = {"oid": sha, "size": f.size, "pointerSize": 134}
        return e

    def tree(self, repo: str, under: str, recursive: bool) -> list[dict]:
        prefix = f"{under.strip('/')}/" if under.strip("/") else ""
        out, folders = [], set()
        for name, f in sorted(self.repos[repo].items()):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix) :]
            if "/" in rest and not recursive:
                folders.add(prefix + rest.split("/", 1)[0])
                continue
            out.append(self.entry(name, f))
        if recursive:
            for name in self.repos[repo]:
                if name.startswith(prefix):
                    parts = name[len(prefix) :].split("/")[:-1]
                    folders.update(prefix + "/".join(parts[: i + 1]) for i in range(len(parts)))
        dirs = [{"type": "directory", "oid": "2" * 40, "path": d} for d in sorted(folders)]
        return dirs + out

    def start(self) -> FakeHub:
        hub = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _json(self, payload: object) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _missing(self) -> None:
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Error-Code", "RepoNotFound")
                body = b'{"error": "Repository not found"}'
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self) -> None:
                self._serve(body=True)

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_POST(self) -> None:
                hub.requests.append(f"POST {self.path}")
                path = self.path.split("?", 1)[0]
                m = re.match(r"^/api/models/([^/]+/[^/]+)/paths-info/([^/]+)$", path)
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                if not m or m.group(1) not in hub.repos:
                    return self._missing()
                files = hub.repos[m.group(1)]
                wanted = form.get("paths", [])
                out = [hub.entry(p, files[p]) for p in wanted if p in files]
                out += [
                    {"type": "directory", "oid": "2" * 40, "path": p}
                    for p in wanted
                    if p not in files and any(n.startswith(p + "/") for n in files)
                ]
                self._json(out)

            def _serve(self, body: bool) -> None:
                hub.requests.append(f"{self.command} {self.path}")
                path, _, query = self.path.partition("?")
                m = re.match(r"^/api/models/([^/]+/[^/]+)/tree/([^/]+)(/.*)?$", path)
                if m:
                    if m.group(1) not in hub.repos:
                        return self._missing()
                    recursive = parse_qs(query).get("recursive", ["false"])[0].lower() == "true"
                    under = unquote(m.group(3) or "")
                    return self._json(hub.tree(m.group(1), under, recursive))
                m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
                f = hub.repos.get(m.group(1), {}).get(unquote(m.group(3))) if m else None
                if f is None:
                    return self._missing()
                data = f.path.read_bytes()
                if unquote(m.group(3)) in hub.corrupt:
                    data = bytes([data[0] ^ 1]) + data[1:]
                start = 0
                rng = self.headers.get("Range")
                if body:
                    hub.ranges.append(rng or "")
                if rng:
                    start = int(re.match(r"bytes=(\d+)-", rng).group(1))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                sha = ("f" * 64) if hub.wrong_sha else f.sha256
                etag = sha if f.lfs else f.git_oid
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("ETag", f'"{etag}"')
                if f.lfs:
                    self.send_header("X-Linked-Etag", f'"{sha}"')
                    self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if not body:
                    return
                payload = data[start:]
                if hub.cuts > 0 and hub.cut_after is not None:
                    hub.cuts -= 1
                    payload = payload[: hub.cut_after]
                    self.close_connection = True
                self._send_body(payload)

            def _send_body(self, payload: bytes) -> None:
                with lock:
                    hub.active += 1
                try:
                    step = 1 << 16
                    if hub.throttle:
                        step = max(1024, hub.throttle // 20)
                    for i in range(0, len(payload), step):
                        block = payload[i : i + step]
                        self.wfile.write(block)
                        self.wfile.flush()
                        with lock:
                            hub.bytes_sent += len(block)
                        if hub.throttle:
                            time.sleep(len(block) / hub.throttle)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                    with lock:
                        hub.dropped += 1
                finally:
                    with lock:
                        hub.active -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
