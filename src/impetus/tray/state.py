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
    started_at: float | None = None  # time.monotonic() at the server's start: tells restarts apart


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


MAX_TITLE = 127  # Windows' NOTIFYICONDATA.szTip holds 128 characters with the terminator


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 3] + "..."


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
    def headline(self) -> str:
        """Status and model: the menu's first line (the lines below it say the rest)."""
        return self._headline(MAX_TITLE)

    @property
    def title(self) -> str:
        """One line for the tooltip / icon title: the headline, then the activity or the error.

        Backends without a menu (pystray's plain X11 one) show nothing else, so the title
        carries what the menu's lines would: tokens/s and requests, or why it failed. At most
        MAX_TITLE characters (Windows' tooltip limit); the model name gives way first.
        """
        if self.status is Status.ERROR:
            reason = " ".join((self.error or "").split())  # one line: titles have no newlines
            head = self._headline(MAX_TITLE)
            return _clip(f"{head}: {reason}" if reason else head)
        tail = ""
        activity = self._activity(", ")
        if self.status in (Status.READY, Status.BUSY) and activity:
            tail = f" - {activity}"  # ASCII: X11 stores titles as Latin-1, tooltips vary
        return _clip(self._headline(MAX_TITLE - len(tail)) + tail)

    def _headline(self, room: int) -> str:
        words = {
            Status.STOPPED: "stopped",
            Status.STARTING: "starting...",
            Status.READY: "ready",
            Status.BUSY: "busy",
            Status.ERROR: "error",
        }
        head = f"Impetus: {words[self.status]}"
        model = self.model if self.status in (Status.READY, Status.BUSY) else None
        if not model:
            return head
        space = room - len(head) - len(" ()")
        if len(model) > space:
            model = model[: max(space - 3, 8)] + "..."
        return f"{head} ({model})"

    @property
    def activity(self) -> str | None:
        """Tokens/s and active requests as one menu line, or None when nothing is known."""
        return self._activity(" · ")

    def _activity(self, sep: str) -> str | None:
        parts = []
        if self.tokens_per_second is not None:
            parts.append(f"{self.tokens_per_second:.1f} tok/s")
        if self.active_requests is not None:
            parts.append(f"{self.active_requests} active")
        if self.queue_depth:
            parts.append(f"{self.queue_depth} queued")
        return sep.join(parts) or None

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


# How often the tray looks at the server: once a second while the menu is open or the server is
# busy or starting, else a 5 s heartbeat of `/health` alone, which notices crashes and external
# starts. Metrics are read on fast polls only, never on an idle heartbeat (actions.py decides;
# activity.py is how an idle tray notices work starting without them).
FAST_POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 5.0


def poll_interval(status: Status, menu_open: bool) -> float:
    if menu_open or status in (Status.BUSY, Status.STARTING):
        return FAST_POLL_SECONDS
    return HEARTBEAT_SECONDS


def wants_metrics(health: Health) -> bool:
    """Metrics only mean something once a model is serving."""
    return health.reachable and health.is_impetus and health.status == "ready"
