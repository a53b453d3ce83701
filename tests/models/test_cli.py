"""`impetus pull`, `impetus models ...` and `impetus ps` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import MODEL_ID, MODEL_PATH, ServerProcess, free_port
from tests.models.fake_hub import FakeHub
from tests.models.files import copy_model, truncated_model

REPO = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"


def run(*args: str, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "impetus", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


@pytest.fixture
def env(tmp_path):
    return {"IMPETUS_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}


def test_pull_list_show_rm(env, tmp_path):
    hub = FakeHub()
    hub.add(REPO, "smollm2-135m-instruct-q4_1.gguf", MODEL_PATH)
    hub.add("acme/broken", "broken.gguf", truncated_model(tmp_path / "b.gguf"))
    hub.start()
    try:
        env = {**env, "HF_ENDPOINT": hub.url}
        out = run("pull", REPO, env=env).stdout
        assert "smollm2-135m-instruct-q4_1" in out and "sha256:" in out
        bad = run("models", "pull", "acme/broken", env=env, check=False)
        assert bad.returncode == 1 and "truncated" in bad.stderr
    finally:
        hub.stop()
    listed = json.loads(run("models", "list", "--json", env=env).stdout)
    assert [m["name"] for m in listed] == ["smollm2-135m-instruct-q4_1"]
    shown = json.loads(run("models", "show", "smollm2:135m", env=env).stdout)
    assert shown["metadata"]["general.architecture"] == "llama"
    dead = f"http://127.0.0.1:{free_port()}"
    assert "deleted" in run("models", "rm", "smollm2:135m", "--url", dead, env=env).stdout
    assert json.loads(run("models", "list", "--json", env=env).stdout) == []
    missing = run("models", "show", "nope", env=env, check=False)
    assert missing.returncode == 1 and "no model named" in missing.stderr


def test_load_unload_ps_against_a_server(env, tmp_path):
    copy_model(tmp_path / "data" / "models" / "gamma.gguf")
    srv = ServerProcess("--ctx", "512", env=env)
    try:
        srv.wait_ready()
        out = run("models", "load", "gamma", "--keep-alive", "10m", "--url", srv.url, env=env)
        assert "loaded gamma" in out.stdout
        ps = run("ps", "--url", srv.url, env=env).stdout
        assert "gamma" in ps and MODEL_ID in ps and "pinned" in ps
        out = run("models", "unload", "gamma", "--url", srv.url, env=env).stdout
        assert "unloaded gamma" in out
        assert "gamma" not in run("ps", "--url", srv.url, env=env).stdout
    finally:
        srv.stop()


def test_ctrl_c_keeps_the_partial_download_and_the_next_pull_resumes(env, tmp_path):
    hub = FakeHub(throttle=4_000_000)
    hub.add(REPO, "smollm2-135m-instruct-q4_1.gguf", MODEL_PATH)
    hub.start()
    env = {**env, "HF_ENDPOINT": hub.url}
    partial_dir = tmp_path / "data" / "models" / ".partial"
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "impetus", "pull", REPO],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size for p in partial_dir.glob("*.partial")):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 130 and "the same command resumes it" in err
        sent = hub.bytes_sent
        time.sleep(0.5)
        assert hub.bytes_sent == sent and hub.active == 0
        (partial,) = partial_dir.glob("*.partial")
        kept = partial.stat().st_size
        assert kept > 0
        assert json.loads(run("models", "list", "--json", env=env).stdout) == []
        hub.throttle = None
        out = run("pull", REPO, env=env).stdout
        assert hub.ranges[-1] == f"bytes={kept}-"
        assert f"sha256:{hub.repos[REPO]['smollm2-135m-instruct-q4_1.gguf'].sha256}" in out
    finally:
        hub.stop()


def test_rm_of_a_derived_model_keeps_the_file(env):
    """Offline `models rm`: a model made by Ollama's create/copy only names another's file."""
    from pathlib import Path

    from impetus.models.registry import Registry

    models = copy_model(Path(env["IMPETUS_DATA_DIR"]) / "models" / "m.gguf")
    reg = Registry(models.parent.parent / "registry.sqlite3", [models.parent])
    reg.scan()
    reg.add_derived("mine", str(models.resolve()), "m", {"system": "hi"})
    reg.close()
    dead = f"http://127.0.0.1:{free_port()}"
    refused = run("models", "rm", "m", "--url", dead, env=env, check=False)
    assert refused.returncode == 1 and "mine" in refused.stderr and models.is_file()
    assert "deleted mine" in run("models", "rm", "mine", "--url", dead, env=env).stdout
    assert models.is_file()
    assert [m["name"] for m in json.loads(run("models", "list", "--json", env=env).stdout)] == ["m"]
