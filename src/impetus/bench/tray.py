"""`impetus bench tray`: the tray process's memory and idle CPU, next to a ready server.

The tray must stay light (under 60 MB RSS, about 0% CPU at idle, metrics read only while its
menu is open or the server is busy), so this runs the real thing: a headless X display with a
tray host, `impetus tray` with its child server, then 60 s of watching the tray process alone
(not the server), and counting the requests it sent in that time (the server logs each one).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

RSS_BUDGET_BYTES = 60_000_000  # the "under 60 MB"; RSS is reported in MiB


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_log() -> Path:
    """Where the tray's child server logs (the same settings the tray process reads)."""
    from impetus.config import Settings

    return Settings().logs_dir / "server.log"


def _requests_since(log: Path, offset: int) -> dict[str, int]:
    """GET /health and GET /metrics lines the server logged after byte `offset`."""
    counts = {"health": 0, "metrics": 0}
    try:
        with log.open("rb") as f:
            f.seek(offset)
            for line in f.read().decode("utf-8", "replace").splitlines():
                for name in counts:
                    if f"method=GET path=/{name} " in line:
                        counts[name] += 1
    except OSError:
        pass
    return counts


def measure(seconds: float = 60.0, display: str | None = None) -> dict:
    """Start a tray (and its server), wait for ready, then sample the tray for `seconds`."""
    import psutil

    from impetus.tray.control import send

    with tempfile.TemporaryDirectory(prefix="impetus-bench-tray-") as tmp:
        sock = Path(tmp) / "control.sock"
        env = {**os.environ, "DISPLAY": display or os.environ.get("DISPLAY", "")}
        cmd = [sys.executable, "-m", "impetus.tray", "--port", str(_free_port())]
        proc = subprocess.Popen(
            [*cmd, "--control", str(sock)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        tray = psutil.Process(proc.pid)
        try:
            deadline = time.monotonic() + 30
            while not sock.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the tray did not start (is there a display?)")
                time.sleep(0.1)
            ready = send(sock, {"action": "snapshot", "wait_for": ["ready"], "timeout": 60})
            if ready["snapshot"]["status"] != "ready":
                raise RuntimeError(f"the server did not become ready: {ready['snapshot']}")
            time.sleep(2)  # let start-up work settle
            log = _server_log()
            offset = log.stat().st_size if log.exists() else 0
            cpu0 = sum(tray.cpu_times()[:2])
            t0 = time.monotonic()
            rss = []
            while time.monotonic() - t0 < seconds:
                rss.append(tray.memory_info().rss)
                time.sleep(1)
            elapsed = time.monotonic() - t0
            cpu = (sum(tray.cpu_times()[:2]) - cpu0) / elapsed * 100
            requests = _requests_since(log, offset)
            return {
                "seconds": round(elapsed, 1),
                "rss_mb_max": round(max(rss) / 2**20, 1),
                "rss_mb_mean": round(sum(rss) / len(rss) / 2**20, 1),
                "cpu_percent": round(cpu, 3),
                "health_requests": requests["health"],
                "metrics_requests": requests["metrics"],
            }
        finally:
            children = tray.children(recursive=True) if tray.is_running() else []
            try:
                send(sock, {"action": "quit"}, timeout=15)
                proc.wait(15)
            except Exception:
                proc.kill()
                proc.wait()
            for child in children:
                if child.is_running():
                    child.kill()


def report(result: dict) -> str:
    from impetus.bench.report import table

    budget_mib = RSS_BUDGET_BYTES / 2**20
    rss_ok = "ok" if result["rss_mb_max"] < budget_mib else "OVER BUDGET"
    metrics_ok = "ok" if result["metrics_requests"] == 0 else "polled while idle"
    intro = (
        f"The `impetus tray` process alone (not its server), for {result['seconds']} s after"
        " its child server became ready, with nobody looking at the menu: a headless X display"
        " (Xvfb) with a tray host, pystray's X11 backend. Requests are the server's access-log"
        " lines for that window."
    )
    rows = [
        ["RSS max", f"{result['rss_mb_max']} MiB", f"< 60 MB ({budget_mib:.1f} MiB): {rss_ok}"],
        ["RSS mean", f"{result['rss_mb_mean']} MiB", ""],
        ["idle CPU", f"{result['cpu_percent']} %", "~0 %"],
        ["GET /health while idle", result["health_requests"], "a 5 s heartbeat"],
        ["GET /metrics while idle", result["metrics_requests"], f"0: {metrics_ok}"],
    ]
    return intro + "\n\n" + table(["metric", "value", "target"], rows)


def write_section(path: Path, body: str) -> None:
    """Replace (or append) the tray section of BENCHMARKS.md, leaving the rest alone."""
    from impetus.bench.report import stamp
    from impetus.bench.report import write_section as write

    write(path, "tray", f"## Tray\n\n{stamp('impetus bench tray')}\n\n{body}")


def tray(
    seconds: Annotated[float, typer.Option(help="How long to watch the idle tray.")] = 60.0,
    out: Annotated[Path, typer.Option("--out", help="Markdown file to update.")] = Path(
        "BENCHMARKS.md"
    ),
    write: Annotated[
        Path | None, typer.Option(hidden=True, help="Same as --out (older spelling).")
    ] = None,
) -> None:
    """Measure the tray's RSS, idle CPU and idle requests; update BENCHMARKS.md (like the
    other benchmarks). Uses a headless X display when Xvfb and a tray host are installed."""
    from impetus.bench.display import HeadlessDisplay, missing_tools

    missing = missing_tools()
    try:
        if not missing:
            with HeadlessDisplay() as display:
                result = measure(seconds, display.name)
        elif os.environ.get("DISPLAY"):
            result = measure(seconds)
        else:
            typer.secho(f"error: no display, and missing {', '.join(missing)}", fg="red", err=True)
            raise typer.Exit(1)
    except RuntimeError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    body = report(result)
    typer.echo(body)
    write_section(write or out, body)
