"""Notice that an idle server started working, without asking the server anything.

At idle the tray reads only `/health` (every 5 s), which says nothing about requests, and it
reads `/metrics` only while its menu is open or the server is busy. To see work start (and turn
the icon blue) in between, it watches the server process's CPU time, a counter the OS keeps for
free: a server that decodes uses whole cores, an idle one about 0.3% of one. Crossing
`BUSY_CPU_CORES` is a hint only; `/metrics` then says whether requests are really running.
"""

from __future__ import annotations

import time

BUSY_CPU_CORES = 0.2  # a fifth of a core: far above idle, far below any decode
MIN_WINDOW_SECONDS = 1.0  # rates over shorter windows are noise (refreshes come in bursts)


def _cpu_seconds(pid: int) -> float | None:
    try:
        import psutil  # already a dependency; imported only once a server process is known

        times = psutil.Process(pid).cpu_times()
    except Exception:  # gone, not ours to read, or no psutil support on this platform
        return None
    return times.user + times.system


def listener_pid(port: int) -> int | None:
    """The process listening on `port` (a server the tray attached to, or the login service).

    One scan of the machine's TCP sockets; callers cache the answer per server. None where the
    OS does not tell (macOS without root) or the listener belongs to another user.
    """
    try:
        import psutil

        for conn in psutil.net_connections(kind="tcp"):
            listening = conn.status == psutil.CONN_LISTEN and conn.laddr
            if listening and conn.laddr.port == port and conn.pid:
                return conn.pid
    except Exception:
        return None
    return None


class CpuWatch:
    """`working(pid)`: whether that process used more than BUSY_CPU_CORES since the last look."""

    def __init__(self, threshold: float = BUSY_CPU_CORES) -> None:
        self.threshold = threshold
        self._pid: int | None = None
        self._cpu = 0.0
        self._at = 0.0
        self._verdict = False

    def working(self, pid: int | None) -> bool:
        if pid is None:
            self._pid = None
            return False
        now = time.monotonic()
        cpu = _cpu_seconds(pid)
        if cpu is None:
            self._pid = None
            return False
        if pid != self._pid:  # a new process: this look is only the baseline
            self._pid, self._cpu, self._at, self._verdict = pid, cpu, now, False
            return False
        if now - self._at >= MIN_WINDOW_SECONDS:
            self._verdict = (cpu - self._cpu) / (now - self._at) >= self.threshold
            self._cpu, self._at = cpu, now
        return self._verdict
