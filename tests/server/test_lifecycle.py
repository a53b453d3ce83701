"""Start-up, readiness, structured logs and clean shutdown of the real server process."""

from __future__ import annotations

import re
import signal

import httpx
import pytest

from tests.conftest import MODEL_ID, ServerProcess


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_ready_then_clean_shutdown(sig):
    srv = ServerProcess()
    try:
        srv.wait_ready()
        health = httpx.get(srv.url + "/health").json()
        assert health["status"] == "ready"
        assert health["model"]["id"] == MODEL_ID
        assert health["model"]["context_length"] > 0
        r = httpx.post(
            srv.url + "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3},
            timeout=60,
        )
        assert r.status_code == 200
    finally:
        code = srv.stop(sig)
    assert code == 0, srv.log()
    log = srv.log()
    assert "Traceback" not in log
    assert "Application shutdown complete" in log
    line = next(ln for ln in log.splitlines() if "path=/v1/chat/completions" in ln)
    assert re.search(
        r"method=POST path=/v1/chat/completions status=200 latency_ms=[\d.]+ "
        r"prompt_tokens=\d+ completion_tokens=3",
        line,
    )


def test_health_reports_a_model_that_failed_to_load(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    srv = ServerProcess("--model", str(bad), model=False)
    try:
        for _ in range(200):
            try:
                body = httpx.get(srv.url + "/health", timeout=1).json()
                if body["status"] == "error":
                    break
            except httpx.HTTPError:
                pass
            import time

            time.sleep(0.05)
        resp = httpx.get(srv.url + "/health")
        assert resp.status_code == 503
        assert resp.json()["status"] == "error"
        assert "broken.gguf" in resp.json()["error"]
        chat = httpx.post(
            srv.url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]}
        )
        assert chat.status_code == 503
        assert chat.json()["error"]["message"]
    finally:
        srv.stop()


def test_port_in_use_exits_with_error(server):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "impetus", "serve", "--port", str(server.port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "address already in use" in (proc.stderr + proc.stdout).lower()
