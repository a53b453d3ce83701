"""The action layer: every menu entry is an `Action`, and `TrayController.perform` runs it.

Backends build their menus from `actions()` and call `perform(id)`; tests and the control socket
do the same, so what is tested is what the menu does. Actions run one at a time on a worker
thread and return at once, so a slow stop or a dead server never freezes the menu.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from impetus.tray import desktop
from impetus.tray.catalog import available_models
from impetus.tray.client import ServerClient
from impetus.tray.server import ChildServer, ServerManager, port_is_free
from impetus.tray.state import (
    Snapshot,
    Status,
    derive,
    poll_interval,
    wants_metrics,
)

DASHBOARD_PATH = "/"  # the web dashboard's address on the server; "/" until it has its own
START_TIMEOUT_SECONDS = 30.0  # from spawn to an open socket; loading a model may take longer
MENU_OPEN_SECONDS = 10.0  # how long a click or menu-open keeps the fast poll going

Listener = Callable[[Snapshot], None]


@dataclass(frozen=True)
class Action:
    id: str
    label: str
    enabled: bool = True
    default: bool = False  # what a plain click on the icon does, where the backend has that
    arg: str | None = None
    checked: bool | None = None
    group: str | None = None  # "models": shown in the "Switch model" submenu


class TrayController:
    def __init__(
        self,
        client: ServerClient,
        manager: ServerManager,
        *,
        models_dir: Path,
        log_path: Path,
        model: Path | None = None,
    ) -> None:
        self.client = client
        self.manager = manager
        self.models_dir = models_dir
        self.log_path = log_path
        self.model = model
        self.notice: str | None = None  # feedback from the last action, shown in the menu
        self.on_quit: Callable[[], None] = lambda: None
        self._snapshot = Snapshot(Status.STOPPED, url=client.base_url)
        self._listeners: list[Listener] = []
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._launching_since: float | None = None
        self._menu_until = 0.0
        self._refresh_lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="impetus-action")
        self._poller: threading.Thread | None = None

    # ----- observing -------------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def url(self) -> str:
        return self.client.base_url

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def wake(self) -> None:
        """Look at the server now (a child exited, an action finished, the menu opened)."""
        self._wake.set()

    def menu_opened(self) -> None:
        self._menu_until = time.monotonic() + MENU_OPEN_SECONDS
        self.wake()

    def menu_closed(self) -> None:
        self._menu_until = 0.0

    def refresh(self) -> Snapshot:
        with self._refresh_lock:
            health = self.client.health()
            metrics = self.client.metrics() if wants_metrics(health) else None
            self._update_launching(health.reachable, health.status)
            proc = replace(self.manager.info(), launching=self._launching_since is not None)
            snap = derive(self.url, health, metrics, proc)
            changed = snap != self._snapshot
            self._snapshot = snap
        if changed:
            for listener in list(self._listeners):
                try:
                    listener(snap)
                except Exception:  # a drawing bug must not stop the poller
                    pass
        return snap

    def _update_launching(self, reachable: bool, status: str | None) -> None:
        if self._launching_since is None:
            return
        if (reachable and status in ("ready", "error")) or self.manager.info().error:
            self._launching_since = None
        elif not reachable and time.monotonic() - self._launching_since > START_TIMEOUT_SECONDS:
            self._launching_since = None
            self.manager.fail(f"the server did not open its port in {START_TIMEOUT_SECONDS:.0f} s")

    def start_polling(self) -> None:
        self._poller = threading.Thread(target=self._poll_loop, name="impetus-poll", daemon=True)
        self._poller.start()

    def _poll_loop(self) -> None:
        while not self._closed.is_set():
            snap = self.refresh()
            menu_open = time.monotonic() < self._menu_until
            self._wake.wait(poll_interval(snap.status, menu_open))
            self._wake.clear()

    def wait_for(self, *statuses: Status, timeout: float = 30.0) -> Snapshot:
        """Refresh until the status is one of `statuses` (or time runs out); the last snapshot."""
        deadline = time.monotonic() + timeout
        while True:
            snap = self.refresh()
            if snap.status in statuses or time.monotonic() > deadline:
                return snap
            time.sleep(0.1)

    # ----- the menu ---------------------------------------------------------------------------

    def actions(self) -> list[Action]:
        snap = self._snapshot
        running = snap.status in (Status.STARTING, Status.READY, Status.BUSY)
        can_stop = self.manager.info().owned or not isinstance(self.manager, ChildServer)
        serving = snap.status in (Status.READY, Status.BUSY)
        items = [
            Action("dashboard", "Open dashboard", enabled=serving, default=serving)
            if serving
            else Action("start", "Start server", enabled=not running, default=True),
            Action("stop", "Stop server", enabled=can_stop and snap.status != Status.STOPPED),
        ]
        current = (snap.model or (self.model.stem if self.model else "")).lower()
        for choice in available_models(self.models_dir):
            items.append(
                Action(
                    "switch",
                    choice.name,
                    arg=str(choice.path),
                    checked=choice.name.lower() == current,
                    group="models",
                )
            )
        items += [
            Action("logs", "Open logs"),
            Action("copy_url", "Copy API URL"),
            Action("quit", "Quit"),
        ]
        return items

    def perform(self, action_id: str, arg: str | None = None) -> Future:
        """Queue an action; the future resolves when it is done (menus need not wait)."""
        handlers: dict[str, Callable[[], None]] = {
            "start": self._start,
            "stop": self._stop,
            "switch": lambda: self._switch(Path(arg or "")),
            "dashboard": self._dashboard,
            "logs": self._logs,
            "copy_url": self._copy_url,
            "quit": self._quit,
            "refresh": lambda: None,
        }
        if action_id not in handlers:
            raise KeyError(f"unknown action: {action_id}")
        self.menu_opened()  # a user is looking: poll fast for a while
        future = self._worker.submit(handlers[action_id])
        future.add_done_callback(lambda _: self.wake())
        return future

    # ----- the actions ------------------------------------------------------------------------

    def _start(self, model: Path | None = None) -> None:
        self.notice = None
        health = self.client.health()
        if health.reachable and health.is_impetus:
            return  # already running (perhaps not ours): attach to it
        self.manager.clear()
        if health.reachable or not port_is_free(self.client.host, self.client.port):
            self.manager.fail(f"port {self.client.port} is in use by another program")
            return
        if model is not None:
            self.model = model
        self._launching_since = time.monotonic()
        self.manager.start(self.model)
        self.wake()

    def _stop(self) -> None:
        self.notice = None
        self._launching_since = None
        self.manager.stop()
        self.manager.clear()

    def _switch(self, model: Path) -> None:
        """Restart our server on another model. Issue #7 will do this through the registry API."""
        health = self.client.health()
        ours = self.manager.info().owned or not isinstance(self.manager, ChildServer)
        if health.reachable and not ours:
            self.model = model
            self.notice = "this server was not started here: stop it, then start it from the tray"
            return
        self._stop()
        deadline = time.monotonic() + 5
        while not port_is_free(self.client.host, self.client.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._start(model)

    def _dashboard(self) -> None:
        url = self.url + DASHBOARD_PATH
        self.notice = None if desktop.open_url(url) else f"no browser found; open {url}"

    def _logs(self) -> None:
        target = self.log_path
        if not target.exists():
            target = self.log_path.parent
            target.mkdir(parents=True, exist_ok=True)
        self.notice = None if desktop.open_path(target) else f"logs are in {target}"

    def _copy_url(self) -> None:
        url = self.url + "/v1"
        self.notice = f"copied {url}" if desktop.copy_text(url) else f"API URL: {url}"

    def _quit(self) -> None:
        self.close()
        self.on_quit()

    def close(self) -> None:
        """Stop polling, and stop the server if we started it as a child (a service stays up)."""
        self._closed.set()
        self._wake.set()
        if isinstance(self.manager, ChildServer):
            self.manager.stop()
        self._worker.shutdown(wait=False)
