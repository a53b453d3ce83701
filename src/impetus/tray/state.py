"""What the tray shows, derived from what it can observe. Pure: no I/O, no GUI.

Keeping the decision in one function means every backend (pystray, rumps, the control socket)
shows the same status for the same facts, and the bad states are unit-testable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    READY = "ready"
    BUSY = "busy"
    ERROR = "error"


@dataclass(frozen=True)
class Health:
    """One answer (or non-answer) from `GET /health`."""

    reachable: bool
    is_impetus: bool = False
    status: str | None = None  # the server's own word: starting, loading, ready, error, stopping
    model: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Metrics:
    """The few numbers the tray reads from `GET /metrics`; None means unknown."""

    tokens_per_second: float | None = None
    active_requests: int | None = None
    queue_depth: int | None = None


@dataclass(frozen=True)
class ProcessInfo:
    """What the server manager knows about a server process it started."""

    owned: bool = False  # a process we started is (or was) behind the port
    running: bool = False
    launching: bool = False  # asked to start and not yet seen ready or failed
    exit_code: int | None = None
    error: str | None = None  # why it failed: crash text, port taken, start timeout
    pid: int | None = None


@dataclass(frozen=True)
class Snapshot:
    status: Status
    url: str
    model: str | None = None
    tokens_per_second: float | None = None
    active_requests: int | None = None
    queue_depth: int | None = None
    error: str | None = None
    owned: bool = False
    pid: int | None = None
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def title(self) -> str:
        """One line for the tooltip / menubar title."""
        words = {
            Status.STOPPED: "stopped",
            Status.STARTING: "starting...",
            Status.READY: "ready",
            Status.BUSY: "busy",
            Status.ERROR: "error",
        }
        text = f"Impetus: {words[self.status]}"
        if self.model and self.status in (Status.READY, Status.BUSY):
            text += f" ({self.model})"
        return text

    @property
    def activity(self) -> str | None:
        """Tokens/s and active requests as one menu line, or None when nothing is known."""
        parts = []
        if self.tokens_per_second is not None:
            parts.append(f"{self.tokens_per_second:.1f} tok/s")
        if self.active_requests is not None:
            parts.append(f"{self.active_requests} active")
        if self.queue_depth:
            parts.append(f"{self.queue_depth} queued")
        return " · ".join(parts) or None

    def to_dict(self) -> dict:
        return {
            "status": self.status.value,
            "url": self.url,
            "model": self.model,
            "tokens_per_second": self.tokens_per_second,
            "active_requests": self.active_requests,
            "queue_depth": self.queue_depth,
            "error": self.error,
            "owned": self.owned,
            "pid": self.pid,
        }


def derive(url: str, health: Health, metrics: Metrics | None, proc: ProcessInfo) -> Snapshot:
    """The status for what we saw. The server's own answer wins; the process fills the gaps."""
    m = metrics or Metrics()
    common = {"url": url, "owned": proc.owned, "pid": proc.pid}
    if health.reachable and not health.is_impetus:
        port = url.rsplit(":", 1)[-1]
        error = proc.error or f"port {port} is in use by another program"
        return Snapshot(Status.ERROR, error=error, **common)
    if health.reachable:
        if health.status == "ready":
            busy = (m.active_requests or 0) > 0 or (m.queue_depth or 0) > 0
            return Snapshot(
                Status.BUSY if busy else Status.READY,
                model=health.model,
                tokens_per_second=m.tokens_per_second,
                active_requests=m.active_requests,
                queue_depth=m.queue_depth,
                **common,
            )
        if health.status == "error":
            error = health.error or "the server reported an error"
            return Snapshot(Status.ERROR, model=health.model, error=error, **common)
        if health.status == "stopping":
            return Snapshot(Status.STOPPED, **common)
        return Snapshot(Status.STARTING, model=health.model, **common)
    if proc.error:
        return Snapshot(Status.ERROR, error=proc.error, **common)
    if proc.running or proc.launching:
        return Snapshot(Status.STARTING, **common)
    return Snapshot(Status.STOPPED, **common)


# How often the tray looks at the server. Metrics are read at most once a second, and that fast
# only while the menu is open or the server is busy or starting; otherwise a slow heartbeat
# notices crashes, external starts and the onset of work.
FAST_POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 5.0


def poll_interval(status: Status, menu_open: bool) -> float:
    if menu_open or status in (Status.BUSY, Status.STARTING):
        return FAST_POLL_SECONDS
    return HEARTBEAT_SECONDS


def wants_metrics(health: Health) -> bool:
    """Metrics only mean something once a model is serving."""
    return health.reachable and health.is_impetus and health.status == "ready"
