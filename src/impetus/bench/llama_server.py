"""llama.cpp's own `llama-server`, the baseline we must beat under concurrency.

Built from the llama.cpp source vendored in the llama-cpp-python sdist of the exact version we
run, so both sides use the same kernels. The build (a few minutes on 2 cores) is cached in the
user cache dir, outside the repository.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import httpx
import platformdirs


def _version() -> str:
    """The release we run, without the local label of our patched build (`0.3.36+impetus.…`):
    llama-server is built from that release's stock sdist."""
    from importlib.metadata import version

    return version("llama-cpp-python").split("+", 1)[0]


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("impetus")) / f"llama-server-{_version()}"


def binary_path() -> Path:
    return cache_dir() / "llama-server"


def _no_amx() -> list[str]:
    """Build as `make install` builds llama-cpp-python: without the AMX kernels that
    -march=native enables on a Xeon with AMX, where they crash (llama.cpp PR #26954)."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return []
    flags = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    return [f"-DCMAKE_C_FLAGS={flags}", f"-DCMAKE_CXX_FLAGS={flags}"]


def ensure_built(log=print) -> Path:
    """Return the llama-server binary, building it from the sdist the first time."""
    target = binary_path()
    if target.is_file():
        return target
    if shutil.which("cmake") is None:
        raise RuntimeError("cmake is needed to build llama-server (apt-get install cmake)")
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="impetus-llama-src-") as tmp:
        log(f"downloading the llama-cpp-python {_version()} sdist ...")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"llama-cpp-python=={_version()}",
                "-d",
                tmp,
            ],
            check=True,
        )
        sdist = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        with tarfile.open(sdist) as tar:
            tar.extractall(tmp, filter="data")
        src = next(Path(tmp).glob("llama_cpp_python-*/vendor/llama.cpp"))
        build = Path(tmp) / "build"
        log("building llama-server (a few minutes) ...")
        t0 = time.perf_counter()
        subprocess.run(
            [
                "cmake",
                "-S",
                str(src),
                "-B",
                str(build),
                "-DCMAKE_BUILD_TYPE=Release",
                "-DLLAMA_BUILD_SERVER=ON",
                "-DLLAMA_BUILD_TESTS=OFF",
                "-DLLAMA_BUILD_EXAMPLES=OFF",
                "-DLLAMA_CURL=OFF",
                "-DLLAMA_OPENSSL=OFF",
                "-DBUILD_SHARED_LIBS=OFF",
                *_no_amx(),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        subprocess.run(
            [
                "cmake",
                "--build",
                str(build),
                "--target",
                "llama-server",
                "-j",
                str(os.cpu_count() or 2),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        built = next(build.rglob("llama-server"))
        partial = target.with_suffix(".partial")
        shutil.copy2(built, partial)
        os.replace(partial, target)
        log(f"llama-server built in {time.perf_counter() - t0:.0f}s: {target}")
    return target


class LlamaServer:
    """A running llama-server on loopback, configured like Impetus (same slots, KV, threads)."""

    def __init__(
        self, model: Path, *, port: int, parallel: int, ctx: int, threads: int | None = None
    ) -> None:
        cmd = [
            str(ensure_built()),
            "-m",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "-np",
            str(parallel),
            "-c",
            str(ctx),
            "--kv-unified",
            "--no-webui",
            "-t",
            str(threads or os.cpu_count() or 2),
        ]
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama-server exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError("llama-server did not become ready")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
