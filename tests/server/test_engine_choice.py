"""Engine selection, and the MLX engine behind the same HTTP API (CPU MLX on Linux)."""

from __future__ import annotations

import platform
import sys

import pytest

from impetus.server.runtime import choose_engine
from tests.conftest import MODEL_ID, MODEL_PATH, ServerProcess


def test_auto_picks_llamacpp_for_gguf_off_apple_silicon(tmp_path):
    expected = "llama.cpp"
    if sys.platform == "darwin" and platform.machine() == "arm64":
        pytest.skip("auto picks MLX on Apple Silicon when installed")
    assert choose_engine(MODEL_PATH, "auto") == expected
    assert choose_engine(tmp_path, "auto") == "mlx"  # folders are MLX/HF checkpoints
    assert choose_engine(MODEL_PATH, "mlx") == "mlx"


def test_mlx_engine_serves_the_openai_api():
    pytest.importorskip("mlx.core")
    pytest.importorskip("mlx_lm")
    from openai import OpenAI

    srv = ServerProcess("--engine", "mlx", "--parallel", "2")
    try:
        srv.wait_ready(timeout=120)
        client = OpenAI(base_url=srv.url + "/v1", api_key="x", max_retries=0, timeout=300)
        reply = client.chat.completions.create(
            model=MODEL_ID,
            messages=[
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "What is the capital of France?"},
            ],
            temperature=0,
            max_tokens=8,
        )
        assert "Paris" in reply.choices[0].message.content
        chunks = list(
            client.chat.completions.create(
                model=MODEL_ID,
                messages=[{"role": "user", "content": "Say hello."}],
                max_tokens=4,
                stream=True,
            )
        )
        assert chunks[-1].choices[0].finish_reason in ("stop", "length")
        import httpx

        health = httpx.get(srv.url + "/health").json()
        assert health["model"]["engine"] == "mlx"
    finally:
        srv.stop()
