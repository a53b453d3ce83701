"""`impetus bench tray`: the tray process's memory and idle CPU, next to a ready server.

The tray must stay light (under 60 MB RSS, about 0% CPU at idle), so this runs the real thing:
a headless X display with a tray host, `impetus tray` with its child server, then 60 s of
watching the tray process alone (not the server).
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

RSS_BUDGET_MB = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
            cpu0 = sum(tray.cpu_times()[:2])
            t0 = time.monotonic()
            rss = []
            while time.monotonic() - t0 < seconds:
                rss.append(tray.memory_info().rss)
                time.sleep(1)
            elapsed = time.monotonic() - t0
            cpu = (sum(tray.cpu_times()[:2]) - cpu0) / elapsed * 100
            return {
                "seconds": round(elapsed, 1),
                "rss_mb_max": round(max(rss) / 2**20, 1),
                "rss_mb_mean": round(sum(rss) / len(rss) / 2**20, 1),
                "cpu_percent": round(cpu, 3),
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
    verdict = "ok" if result["rss_mb_max"] < RSS_BUDGET_MB else "OVER BUDGET"
    return (
        "| tray process | RSS max | RSS mean | idle CPU | budget |\n|---|---|---|---|---|\n"
        f"| {result['seconds']} s idle, server ready | {result['rss_mb_max']} MB "
        f"| {result['rss_mb_mean']} MB | {result['cpu_percent']} % "
        f"| < {RSS_BUDGET_MB:.0f} MB, ~0 %: {verdict} |"
    )


def write_section(path: Path, table: str) -> None:
    """Replace (or append) the tray section of BENCHMARKS.md, leaving the rest alone."""
    from impetus.bench.report import stamp
    from impetus.bench.report import write_section as write

    write(path, "tray", f"## Tray\n\n{stamp('impetus bench tray')}\n\n{table}")


def tray(
    seconds: Annotated[float, typer.Option(help="How long to watch the idle tray.")] = 60.0,
    write: Annotated[
        Path | None, typer.Option(help="Also update the Tray section of this markdown file.")
    ] = None,
) -> None:
    """Measure the tray's RSS and idle CPU (headless X display when one is available)."""
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
    table = report(result)
    typer.echo(table)
    if write is not None:
        write_section(write, table)
