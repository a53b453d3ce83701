"""Secure defaults: API keys, the Host allowlist (DNS rebinding), CORS, refusing open binds."""

from __future__ import annotations

import subprocess
import sys

import httpx
import openai
import pytest

from tests.conftest import MODEL_ID, ServerProcess

KEY = "sk-test-0123456789"
CHAT = {"model": MODEL_ID, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


@pytest.fixture(scope="module")
def keyed_server():
    srv = ServerProcess("--api-key", KEY, "--api-key", "second-key")
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def test_missing_or_wrong_key_is_401(keyed_server):
    url = keyed_server.url + "/v1/chat/completions"
    for headers in (
        {},
        {"authorization": "Bearer nope"},
        {"x-api-key": "nope"},
        {"authorization": f"Basic {KEY}"},
    ):
        resp = httpx.post(url, json=CHAT, headers=headers)
        assert resp.status_code == 401
        assert resp.json()["error"]["code"] == "invalid_api_key"
    resp = httpx.get(keyed_server.url + "/v1/models")
    assert resp.status_code == 401


def test_right_key_passes_as_bearer_or_x_api_key(keyed_server):
    url = keyed_server.url + "/v1/chat/completions"
    assert httpx.post(url, json=CHAT, headers={"authorization": f"Bearer {KEY}"}).status_code == 200
    assert httpx.post(url, json=CHAT, headers={"x-api-key": "second-key"}).status_code == 200


def test_openai_sdk_with_and_without_key(keyed_server):
    good = openai.OpenAI(base_url=keyed_server.url + "/v1", api_key=KEY, max_retries=0)
    assert good.chat.completions.create(**CHAT).choices
    bad = openai.OpenAI(base_url=keyed_server.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(**CHAT)


def test_health_stays_public(keyed_server):
    assert httpx.get(keyed_server.url + "/health").status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "attacker.com:8080", "127.0.0.1.nip.io", ""])
def test_foreign_host_header_is_refused(server, host):
    resp = httpx.get(server.url + "/v1/models", headers={"host": host})
    assert resp.status_code == 403


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "LOCALHOST:1234", "[::1]:8080"])
def test_local_host_headers_are_fine(server, host):
    assert httpx.get(server.url + "/v1/models", headers={"host": host}).status_code == 200


def test_cors_allows_only_listed_origins(server):
    port = server.port
    ok = httpx.options(
        server.url + "/v1/chat/completions",
        headers={
            "origin": f"http://localhost:{port}",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,authorization",
        },
    )
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == f"http://localhost:{port}"
    evil = httpx.options(
        server.url + "/v1/chat/completions",
        headers={"origin": "http://evil.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in evil.headers
    simple = httpx.get(server.url + "/v1/models", headers={"origin": "http://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_non_loopback_bind_without_key_is_refused():
    proc = subprocess.run(
        [sys.executable, "-m", "impetus", "serve", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "without an API key" in proc.stderr
    assert "--insecure" in proc.stderr


def test_api_key_compare_is_constant_time_over_all_keys():
    """Every configured key is compared (no early exit), via hmac.compare_digest."""
    import inspect

    from impetus.server.middleware import ApiKeyMiddleware

    source = inspect.getsource(ApiKeyMiddleware._accepts)
    assert "compare_digest" in source and "break" not in source


def test_non_loopback_bind_with_a_dashboard_key_is_allowed(tmp_path):
    """Keys created at run time (/admin/keys) protect an open bind as config keys do."""
    from impetus.server.keys import KeyStore

    store = KeyStore(tmp_path / "keys.sqlite3")
    _, secret = store.create("lan")
    store.close()
    srv = ServerProcess(
        "--host", "0.0.0.0", "--ctx", "512", env={"IMPETUS_DATA_DIR": str(tmp_path)}
    )
    try:
        srv.wait_ready()
        assert httpx.get(srv.url + "/v1/models").status_code == 401
        assert httpx.get(srv.url + "/v1/models", headers={"x-api-key": secret}).status_code == 200
    finally:
        srv.stop()
