"""Shared fixtures: real server processes with the real bundled model, isolated from user state."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from impetus.config import Settings
from impetus.models import bundled

# Every test talks to servers on this machine: never through an HTTP(S)_PROXY the environment
# may set (a proxy in the middle hides a client's disconnect from the server, and buffers).
_LOOPBACK = "127.0.0.1,localhost,::1"
for _var in ("NO_PROXY", "no_proxy"):
    os.environ[_var] = ",".join(x for x in (os.environ.get(_var), _LOOPBACK) if x)

# Resolved once, before tests point IMPETUS_* at temp dirs: `make install` put it here.
MODEL_PATH = bundled.default_model_path(Settings().models_dir)
MODEL_ID = MODEL_PATH.stem


@pytest.fixture(scope="session", autouse=True)
def _isolated_user_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test reads the user's config or writes into the user's data folder."""
    root = tmp_path_factory.mktemp("impetus-home")
    saved = {k: os.environ.get(k) for k in ("IMPETUS_CONFIG", "IMPETUS_DATA_DIR")}
    os.environ["IMPETUS_CONFIG"] = str(root / "no-config.toml")
    os.environ["IMPETUS_DATA_DIR"] = str(root / "data")
    if not MODEL_PATH.is_file():
        bundled.install(MODEL_PATH.parent)
    _link_embedding_model(root / "data" / "models")
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _link_embedding_model(models_dir: Path) -> None:
    """The converted embedding model, linked into the isolated data folder, so servers under
    test find it without converting it again."""
    from impetus.rag import bundled_embedder

    src = bundled_embedder.install(MODEL_PATH.parent)
    dst = bundled_embedder.gguf_path(models_dir)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not dst.exists():
        dst.symlink_to(src)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`impetus serve` as a child process, exactly as a user starts it."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, model: bool = True) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (lives as long as the server)
            prefix="impetus-serve-", suffix=".log", delete=False
        )
        cmd = [sys.executable, "-m", "impetus", "serve", "--port", str(self.port)]
        if model:
            cmd += ["--model", str(MODEL_PATH)]
        cmd += list(args)
        full_env = {**os.environ, **(env or {})}
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=full_env)

    def wait_ready(self, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return time.perf_counter() - self.started_at
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        raise TimeoutError(f"server not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def __enter__(self) -> ServerProcess:
        """Ready to serve; stopped on leaving (or if it never gets ready)."""
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    with ServerProcess() as srv:
        yield srv


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as c:
        yield c


@pytest.fixture
def openai_client(server: ServerProcess):
    from openai import OpenAI

    return OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=120)


MLX_SPARE = "mlx-spare"  # a second name for the bundled model in `mlx_server`'s data folder


@pytest.fixture(scope="session")
def mlx_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The bundled model served by the MLX engine (mlx[cpu] on Linux: ~0.1-0.3 s per token,
    prompt tokens included, so tests keep prompts and outputs short). Its data folder also
    holds the model as `mlx-spare`, for load/unload tests that must not touch the default."""
    pytest.importorskip("mlx.core")
    pytest.importorskip("mlx_lm")
    data = tmp_path_factory.mktemp("mlx-data")
    models = data / "models"
    models.mkdir()
    try:
        os.link(MODEL_PATH, models / f"{MLX_SPARE}.gguf")
    except OSError:
        (models / f"{MLX_SPARE}.gguf").symlink_to(MODEL_PATH)
    _link_embedding_model(models)
    srv = ServerProcess(
        "--engine", "mlx", "--parallel", "2", "--ctx", "1024", env={"IMPETUS_DATA_DIR": str(data)}
    )
    try:
        srv.wait_ready(timeout=180)
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def mlx_openai(mlx_server: ServerProcess):
    from openai import OpenAI

    return OpenAI(base_url=mlx_server.url + "/v1", api_key="unused", max_retries=0, timeout=600)
