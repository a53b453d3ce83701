"""A local HTTP server that speaks the parts of the Hugging Face Hub file API a pull uses.

`GET /api/models/{org}/{repo}/tree/{rev}` lists files (with LFS sha256 and size);
`HEAD|GET /{org}/{repo}/resolve/{rev}/{path}` serves them with Range support. Knobs simulate
trouble: `cut_after` closes the connection mid-body for the next `cuts` transfers, and
`wrong_sha` advertises a checksum the bytes do not have.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0" * 40


@dataclass
class HubFile:
    path: Path
    sha256: str = ""

    def __post_init__(self) -> None:
        if not self.sha256:
            h = hashlib.sha256()
            with self.path.open("rb") as fh:
                while block := fh.read(1 << 20):
                    h.update(block)
            self.sha256 = h.hexdigest()


@dataclass
class FakeHub:
    repos: dict[str, dict[str, HubFile]] = field(default_factory=dict)
    cut_after: int | None = None  # bytes sent before the connection drops
    cuts: int = 0  # how many transfers to cut
    wrong_sha: bool = False
    ranges: list[str] = field(default_factory=list)  # Range headers seen on GETs
    url: str = ""

    def add(self, repo: str, name: str, path: Path) -> HubFile:
        f = HubFile(path)
        self.repos.setdefault(repo, {})[name] = f
        return f

    def start(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _json(self, body: str) -> None:
                data = body.encode()
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

            def _serve(self, body: bool) -> None:
                path = self.path.split("?", 1)[0]
                m = re.match(r"^/api/models/([^/]+/[^/]+)/tree/([^/]+)", path)
                if m:
                    files = hub.repos.get(m.group(1))
                    if files is None:
                        return self._missing()
                    import json

                    return self._json(
                        json.dumps(
                            [
                                {
                                    "type": "file",
                                    "oid": "1" * 40,
                                    "size": f.path.stat().st_size,
                                    "path": name,
                                    "lfs": {
                                        "oid": ("f" * 64) if hub.wrong_sha else f.sha256,
                                        "size": f.path.stat().st_size,
                                        "pointerSize": 134,
                                    },
                                }
                                for name, f in files.items()
                            ]
                        )
                    )
                m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
                f = hub.repos.get(m.group(1), {}).get(m.group(3)) if m else None
                if f is None:
                    return self._missing()
                data = f.path.read_bytes()
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
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("ETag", f'"{sha}"')
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
                    self.wfile.write(payload[: hub.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
