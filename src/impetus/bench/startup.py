"""Start-to-ready time and idle memory of `impetus serve` with the default model."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import httpx
import psutil

from impetus.bench.report import table


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure_once(model: str | None) -> tuple[float, float]:
    port = _free_port()
    cmd = [sys.executable, "-m", "impetus", "serve", "--port", str(port), "--log-level", "warning"]
    if model:
        cmd += ["--model", model]
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("server exited during start-up")
            time.sleep(0.005)
        ready = time.perf_counter() - t0
        # Idle after real use: one chat, then let it settle.
        httpx.post(
            url + "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 32},
            timeout=60,
        )
        time.sleep(2)
        rss = psutil.Process(proc.pid).memory_info().rss / 2**20
        return ready, rss
    finally:
        proc.terminate()
        proc.wait(10)


def run(model: str | None = None, repeats: int = 5) -> tuple[dict, str]:
    results = [measure_once(model) for _ in range(repeats)]
    ready = [r[0] for r in results]
    rss = [r[1] for r in results]
    out = {
        "ready_s_median": round(statistics.median(ready), 3),
        "ready_s_max": round(max(ready), 3),
        "rss_mb_median": round(statistics.median(rss), 1),
        "rss_mb_max": round(max(rss), 1),
    }
    body = table(
        ["metric", "median", "worst", "target (ours)", "plan's target"],
        [
            [
                "start → /health ready",
                f"{out['ready_s_median']} s",
                f"{out['ready_s_max']} s",
                "< 1.5 s",
                "< 3 s",
            ],
            [
                "idle RSS, default model loaded",
                f"{out['rss_mb_median']} MiB",
                f"{out['rss_mb_max']} MiB",
                "< 300 MB",
                "< 500 MB",
            ],
        ],
    )
    return out, body
