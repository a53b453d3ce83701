"""Who runs the server: a child process we start, or the user service.

Both managers have the same small surface (`start`, `stop`, `info`), so the action layer does not
care which one it has. A child server writes to the same log file as the service would, so
"Open logs" and `impetus service logs` show one history.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from impetus.tray.state import ProcessInfo

STOP_TIMEOUT_SECONDS = 10.0


class ServerManager(Protocol):
    def start(self, model: Path | None) -> None: ...
    def stop(self) -> None: ...
    def info(self) -> ProcessInfo: ...
    def fail(self, error: str) -> None: ...
    def clear(self) -> None: ...


def port_is_free(host: str, port: int) -> bool:
    """Whether the server could bind `host:port` (with SO_REUSEADDR, as uvicorn does)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def last_error_line(log_path: Path, since: int = 0) -> str | None:
    """The most telling line the server wrote after byte `since`: its last ERROR, else its last."""
    try:
        with log_path.open("rb") as f:
            f.seek(max(since, log_path.stat().st_size - 16384))
            lines = [ln.strip() for ln in f.read().decode("utf-8", "replace").splitlines()]
    except OSError:
        return None
    lines = [ln for ln in lines if ln]
    for line in reversed(lines):
        if "level=ERROR" in line or line.startswith(("ERROR", "Error", "error")):
            return _message(line)
    return _message(lines[-1]) if lines else None


def _message(line: str) -> str:
    """Drop our log prefix (`… level=X logger=Y `) to keep the text a human reads."""
    if " logger=" in line:
        rest = line.split(" logger=", 1)[1]
        return rest.split(" ", 1)[1] if " " in rest else rest
    return line


class ChildServer:
    """`impetus serve` as a child process, logging to `log_path`."""

    def __init__(
        self,
        host: str,
        port: int,
        log_path: Path,
        *,
        on_change: Callable[[], None] = lambda: None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.host = host
        self.port = port
        self.log_path = log_path
        self.extra_args = extra_args
        self._on_change = on_change
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._stopping = False
        self._exit_code: int | None = None
        self._error: str | None = None
        self._log_offset = 0

    def command(self, model: Path | None) -> list[str]:
        cmd = [sys.executable, "-m", "impetus", "serve", "--host", self.host]
        cmd += ["--port", str(self.port), *self.extra_args]
        if model is not None:
            cmd += ["--model", str(model)]
        return cmd

    def start(self, model: Path | None) -> None:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return
            self._stopping = False
            self._exit_code = None
            self._error = None
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("ab") as log:
                self._log_offset = log.tell()
                stamp = time.strftime("%Y-%m-%d %H:%M:%S")
                log.write(f"--- {stamp} impetus tray starts the server ---\n".encode())
                log.flush()
                self._proc = subprocess.Popen(
                    self.command(model),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                    # Its own session: a Ctrl-C in the tray's terminal is for the tray alone.
                    start_new_session=os.name != "nt",
                )
            proc = self._proc
        threading.Thread(
            target=self._watch, args=(proc,), name="impetus-child", daemon=True
        ).start()
        self._on_change()

    def _watch(self, proc: subprocess.Popen) -> None:
        """Block on the child (no polling) and record how it ended."""
        code = proc.wait()
        with self._lock:
            if proc is not self._proc:
                return
            self._exit_code = code
            if not self._stopping:
                why = last_error_line(self.log_path, self._log_offset) or "no output"
                self._error = f"the server exited (code {code}): {why}"
        self._on_change()

    def stop(self) -> None:
        with self._lock:
            proc = self._proc
            self._stopping = True
            self._error = None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM if os.name != "nt" else signal.CTRL_BREAK_EVENT)
        try:
            proc.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._on_change()

    def fail(self, error: str) -> None:
        """Record a failure found before or instead of starting (port taken, start timeout)."""
        with self._lock:
            self._error = error
        self._on_change()

    def clear(self) -> None:
        with self._lock:
            self._error = None

    def info(self) -> ProcessInfo:
        with self._lock:
            proc = self._proc
            running = proc is not None and proc.poll() is None
            return ProcessInfo(
                owned=running,
                running=running,
                exit_code=self._exit_code,
                error=self._error,
                pid=proc.pid if running and proc is not None else None,
            )


class ServiceServer:
    """The login service (`impetus service install`) as the thing the tray starts and stops."""

    def __init__(self, *, port: int | None = None, on_change: Callable[[], None] = lambda: None):
        self.port = port
        self._on_change = on_change
        self._error: str | None = None

    def start(self, model: Path | None) -> None:
        from impetus import service

        try:
            if model is not None:
                service.install(
                    port=self.port, model=str(model), tray=service.tray_installed(), activate=False
                )
                service.reload()
            service.restart() if model is not None else service.start()
        except service.ServiceError as exc:
            self._error = str(exc)
        self._on_change()

    def stop(self) -> None:
        from impetus import service

        try:
            service.stop()
        except service.ServiceError as exc:
            self._error = str(exc)
        self._on_change()

    def fail(self, error: str) -> None:
        self._error = error
        self._on_change()

    def clear(self) -> None:
        self._error = None

    def info(self) -> ProcessInfo:
        return ProcessInfo(owned=True, running=False, error=self._error)
