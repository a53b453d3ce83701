"""The dashboard as the server ships it: files, SPA fallback, cache headers, and API 404s in JSON."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from impetus.server.static import IMMUTABLE, STATIC_DIR, StaticUIMiddleware
from tests.conftest import ServerProcess


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><div id=root></div>")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    (tmp_path.parent / "secret.txt").write_text("no")
    return tmp_path


def _client(directory: Path) -> TestClient:
    async def ping(request):
        return JSONResponse({"pong": True})

    app = Starlette(
        routes=[Route("/health", ping)],
        middleware=[Middleware(StaticUIMiddleware, directory=directory)],
    )
    return TestClient(app)


def test_index_and_client_routes_get_the_shell_uncached(site: Path) -> None:
    with _client(site) as c:
        for path in ("/", "/chat", "/models/some/deep/link"):
            r = c.get(path)
            assert r.status_code == 200, path
            assert "id=root" in r.text
            assert r.headers["cache-control"] == "no-cache"


def test_hashed_assets_are_immutable_and_revalidate(site: Path) -> None:
    with _client(site) as c:
        r = c.get("/assets/index-abc123.js")
        assert r.status_code == 200
        assert r.headers["cache-control"] == IMMUTABLE
        again = c.get("/assets/index-abc123.js", headers={"if-none-match": r.headers["etag"]})
        assert again.status_code == 304
        assert c.get("/favicon.svg").headers["cache-control"] == "no-cache"


def test_routes_api_paths_missing_files_and_traversal_pass_through(site: Path) -> None:
    with _client(site) as c:
        assert c.get("/health").json() == {"pong": True}
        for path in (
            "/v1/nope",
            "/admin/nope",
            "/api/nope",
            "/assets/gone-123.js",
            "/../secret.txt",
        ):
            r = c.get(path)
            assert r.status_code == 404, path
            assert "id=root" not in r.text
        assert c.post("/chat").status_code == 404


def test_unbuilt_ui_says_how_to_build(tmp_path: Path) -> None:
    with _client(tmp_path / "missing") as c:
        r = c.get("/")
        assert r.status_code == 503
        assert "make web" in r.text


def test_real_server_serves_the_built_dashboard(client: httpx.Client) -> None:
    assert (STATIC_DIR / "index.html").is_file(), "run `make web`"
    r = client.get("/settings")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-cache"
    asset = next((STATIC_DIR / "assets").glob("index-*.js")).name
    r = client.get(f"/assets/{asset}")
    assert r.status_code == 200
    assert r.headers["cache-control"] == IMMUTABLE
    for path in ("/v1/nope", "/admin/nope", "/api/nope"):
        r = client.get(path)
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/json"
        assert "error" in r.json()


def test_metrics_stream_sends_a_snapshot_per_second(server: ServerProcess) -> None:
    snaps = []
    with httpx.stream("GET", server.url + "/admin/metrics/stream", timeout=10) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                snaps.append(json.loads(line[6:]))
            if len(snaps) == 2:
                break
    assert 0.8 < snaps[1]["time"] - snaps[0]["time"] < 1.5
    s = snaps[1]
    assert s["status"] == "ready"
    assert s["rss_bytes"] > 10 * 2**20
    assert s["slots_total"] >= 1
    for key in (
        "tokens_per_second",
        "ttft_ms",
        "active_requests",
        "queued_requests",
        "cpu_percent",
    ):
        assert key in s
    (model,) = s["models"]
    assert model["size_bytes"] > 0


def test_keyed_server_serves_the_page_but_not_the_data() -> None:
    srv = ServerProcess("--api-key", "k-123")
    try:
        srv.wait_ready()
        assert httpx.get(srv.url + "/").status_code == 200
        assert httpx.get(srv.url + "/chat").status_code == 200
        r = httpx.get(srv.url + "/admin/metrics/stream")
        assert r.status_code == 401
        assert httpx.get(srv.url + "/v1/nope").status_code == 401
    finally:
        srv.stop()
