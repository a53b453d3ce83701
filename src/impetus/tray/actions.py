"""The action layer: every menu entry is an `Action`, and `TrayController.perform` runs it.

Backends build their menus from `actions()` and call `perform(id)`; tests and the control socket
do the same, so what is tested is what the menu does. Actions run one at a time on a worker
thread and return at once, so a slow stop or a dead server never freezes the menu.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from impetus.tray import desktop
from impetus.tray.activity import CpuWatch, listener_pid
from impetus.tray.catalog import Catalog, ModelChoice, folder_models
from impetus.tray.client import ServerClient
from impetus.tray.menu_items import Action, model_actions
from impetus.tray.server import ChildServer, ServerManager, port_is_free
from impetus.tray.state import (
    FAST_POLL_SECONDS,
    Health,
    Metrics,
    ProcessInfo,
    Snapshot,
    Status,
    derive,
    poll_interval,
    wants_metrics,
)
from impetus.tray.switching import switch_in_server

DASHBOARD_PATH = "/"  # the web dashboard's address on the server; "/" until it has its own
START_TIMEOUT_SECONDS = 30.0  # from spawn to an open socket; loading a model may take longer
MENU_OPEN_SECONDS = 10.0  # how long a click or menu-open keeps the fast poll going
RESTART_SLACK_SECONDS = 2.0  # started_at moves by rounding; more than this is a new server

Listener = Callable[[Snapshot], None]


class TrayController:
    def __init__(
        self,
        client: ServerClient,
        manager: ServerManager,
        *,
        model_dirs: Sequence[Path],
        log_path: Path,
        model: Path | None = None,
        keep_alive: str = "5m",
    ) -> None:
        self.client = client
        self.manager = manager
        self.model_dirs = list(model_dirs)
        self.log_path = log_path
        self.model = model  # what a server the tray starts loads (the last choice, once made)
        self.keep_alive = keep_alive  # the config's idle timeout, for a model the tray lets go
        self.notice: str | None = None  # feedback from the last action, shown in the menu
        self.selected: str | None = None  # the model switched to in the running server
        self.on_quit: Callable[[], None] = lambda: None
        self._snapshot = Snapshot(Status.STOPPED, url=client.base_url)
        self._shown: tuple | None = None  # what listeners last saw: snapshot, notice, catalog
        self._catalog = Catalog()
        self._catalog_due = True  # re-read the list at the next refresh that can
        self._server_started: float | None = None
        self._server_pid: int | None = None  # a server we did not start, found by its port
        self._cpu = CpuWatch()
        self.metrics_every = FAST_POLL_SECONDS
        self._metrics_read: tuple[float, Metrics | None] | None = None
        self._listeners: list[Listener] = []
        self._wake = threading.Event()
        self._refreshed = threading.Event()
        self._closed = threading.Event()
        self._launching_since: float | None = None
        self._menu_until = 0.0
        self._refresh_lock = threading.Lock()
        self._notify_lock = threading.Lock()
        self._switch_lock = threading.Lock()  # one model load at a time
        self._switches = 0  # finished switches, to tell a model list older than the last one
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

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    def menu_opened(self, wait: float = 0.0) -> None:
        """Someone is looking: poll fast (metrics included) for a while, and re-read the model
        list. With `wait`, block up to that long for the fresh snapshot, so a backend that
        shows a prebuilt menu can rebuild it first."""
        self._menu_until = time.monotonic() + MENU_OPEN_SECONDS
        self._catalog_due = True
        self._refreshed.clear()
        self.wake()
        if wait > 0:
            self._refreshed.wait(wait)

    def menu_closed(self) -> None:
        self._menu_until = 0.0

    @property
    def menu_open(self) -> bool:
        return time.monotonic() < self._menu_until

    def refresh(self) -> Snapshot:
        with self._refresh_lock:
            health = self.client.health()
            self._update_launching(health.reachable, health.status)
            proc = replace(self.manager.info(), launching=self._launching_since is not None)
            self._track_server(health)
            metrics = self._metrics() if self._wants_metrics(health, proc) else None
            self._update_catalog(health)
            snap = derive(self.url, health, metrics, proc)
            if self.selected and snap.status in (Status.READY, Status.BUSY):
                snap = replace(snap, model=self.selected)
            shown = (snap, self.notice, self._catalog)
            changed = shown != self._shown
            self._snapshot, self._shown = snap, shown
        self._refreshed.set()
        if changed:
            self.publish()
        return snap

    def publish(self) -> None:
        """Hand listeners the newest snapshot, one thread at a time. Refreshes run on several
        threads (poller, actions, control socket); delivering each its own snapshot could let
        an older one land last and stay on the icon until the next change."""
        with self._notify_lock:
            snap = self._snapshot
            for listener in list(self._listeners):
                try:
                    listener(snap)
                except Exception:  # a drawing bug must not stop the poller
                    pass

    def _metrics(self) -> Metrics | None:
        """/metrics at most once per `metrics_every`, whoever asks (the poller, a menu opening,
        the control socket's waits): a reading younger than that is served again."""
        now = time.monotonic()
        if self._metrics_read is None or now - self._metrics_read[0] >= self.metrics_every:
            self._metrics_read = (now, self.client.metrics())
        return self._metrics_read[1]

    def _track_server(self, health: Health) -> None:
        """Forget what belonged to a server that went away or restarted: its loaded model, its
        pid, its model list (the next one may have been started with another config)."""
        started = health.started_at if health.reachable and health.is_impetus else None
        old = self._server_started
        if started is None or old is None:
            same = started is old
        else:
            same = abs(started - old) <= RESTART_SLACK_SECONDS
        if not same:
            self.selected = None
            self._server_pid = None
            self._catalog_due = True
        self._server_started = started

    def _wants_metrics(self, health: Health, proc: ProcessInfo) -> bool:
        """Metrics only while someone looks or work runs; an idle heartbeat reads /health alone.

        Whether work started since the last look comes from the server's CPU time (free to
        read, see activity.py), so the icon still turns busy without the menu open.
        """
        if not wants_metrics(health):
            return False
        pid = proc.pid
        if pid is None:
            if self._server_pid is None:
                self._server_pid = listener_pid(self.client.port) or 0  # 0: looked, not found
            pid = self._server_pid or None
        working = self._cpu.working(pid)  # sampled every time, to keep its baseline fresh
        return self.menu_open or self._snapshot.status is Status.BUSY or working

    def _update_catalog(self, health: Health) -> None:
        """The server's registry when one answers; the folders only when none runs at all."""
        if not health.reachable:
            if self._catalog.source != "folder" or self._catalog_due:
                self._catalog = Catalog("folder", folder_models(self.model_dirs))
                self._catalog_due = False
            return
        if not health.is_impetus:
            self._catalog = Catalog()  # another program has the port: nothing to switch
            return
        if health.status not in ("ready", "error"):
            return  # loading: /admin/models would wait for it; keep what we have
        if self._catalog.source == "server" and not self._catalog_due:
            return
        self._catalog_due = False
        switches = self._switches
        self._catalog = self.client.models()
        # A switch that finished while the list was on its way is newer than the list.
        if self.selected and switches == self._switches:
            mine = self._catalog.find(self.selected)
            if mine is None or not mine.loaded:  # unloaded or evicted behind our back
                self.selected = None

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
            self._wake.wait(poll_interval(snap.status, self.menu_open))
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
        """The menu, from cached state only: backends call this on their GUI thread."""
        snap = self._snapshot
        running = snap.status in (Status.STARTING, Status.READY, Status.BUSY)
        serving = snap.status in (Status.READY, Status.BUSY)
        items = [
            Action("dashboard", "Open dashboard", enabled=serving, default=serving)
            if serving
            else Action("start", "Start server", enabled=not running, default=True),
            Action("stop", "Stop server", enabled=self._ours() and snap.status != Status.STOPPED),
        ]
        # A loading server cannot switch yet; with none, a choice starts one on that file.
        switchable = snap.status is not Status.STARTING
        items += model_actions(self._catalog, self._current_model(snap), enabled=switchable)
        items += [
            Action("logs", "Open logs"),
            Action("copy_url", "Copy API URL"),
            Action("quit", "Quit"),
        ]
        return items

    def _current_model(self, snap: Snapshot) -> str | None:
        """The ticked entry: what the server serves, else its default, else what we would
        start with."""
        if snap.model and snap.status in (Status.READY, Status.BUSY, Status.STARTING):
            return snap.model
        default = self._catalog.default
        if default is not None:
            return default.name
        return self.model.stem if self.model else None

    def _ours(self) -> bool:
        """Whether Stop (and a restart on another model) is the tray's to do."""
        return self.manager.info().owned or not isinstance(self.manager, ChildServer)

    def perform(self, action_id: str, arg: str | None = None, *, looking: bool = True) -> Future:
        """Queue an action; the future resolves when it is done (menus need not wait).

        `looking`: a person asked (menu, click, control socket), so poll fast for a while; the
        start at launch is not one.
        """
        handlers: dict[str, Callable[[], object]] = {
            "start": self._start,
            "stop": self._stop,
            "switch": lambda: self._switch(arg or ""),
            "dashboard": self._dashboard,
            "logs": self._logs,
            "copy_url": self._copy_url,
            "quit": self._quit,
            "refresh": lambda: None,
        }
        if action_id not in handlers:
            raise KeyError(f"unknown action: {action_id}")
        if looking:
            self.menu_opened()
        done: Future = Future()

        def run() -> None:
            try:
                result = handlers[action_id]()
            except BaseException as exc:
                done.set_exception(exc)
                return
            if isinstance(result, Future):  # a model load: done when the load is
                result.add_done_callback(lambda f: _settle(done, f))
            else:
                done.set_result(result)

        self._worker.submit(run)
        done.add_done_callback(lambda _: self.wake())
        return done

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

    def _switch(self, name: str) -> Future | None:
        """Over HTTP when a server answers (ours or not); by a restart only when that is the
        one way: no server runs, or ours failed to load its model (its /health stays "error"
        until it restarts, whatever it loads later)."""
        health = self.client.health()
        up = health.reachable and health.is_impetus
        if up and (health.status == "ready" or (health.status == "error" and not self._ours())):
            return self._load_in_server(name)
        if up and health.status != "error":
            self.notice = "the server is still starting; switch once it is ready"
            return None
        if health.reachable and not up:
            self.notice = f"port {self.client.port} is in use by another program"
            return None
        choice = self._catalog.find(name)
        path = choice.path if choice is not None else Path(name)
        if path is None or not path.exists():
            self.notice = f"no model file for {name}"
            return None
        self._restart(path)
        return None

    def _load_in_server(self, name: str) -> Future:
        """Load on a thread of its own: a big model takes a while, and Stop or Quit must not
        queue behind it. The returned future resolves when the load is done."""
        self.notice = f"loading {name}..."
        self.wake()  # show the notice now
        done: Future = Future()

        def run() -> None:
            try:
                with self._switch_lock:
                    result = switch_in_server(
                        self.client, name, self._catalog, self.selected, self.keep_alive
                    )
                    self.selected, self.notice = result.selected, result.notice
                    self._switches += 1
                    choice = self._catalog.find(name)
                    if result.notice is None and choice is not None:
                        self._remember(choice)
                done.set_result(None)
            except BaseException as exc:
                done.set_exception(exc)
            finally:
                self._catalog_due = True
                self.wake()

        threading.Thread(target=run, name="impetus-switch", daemon=True).start()
        return done

    def _remember(self, choice: ModelChoice) -> None:
        """A child server the tray starts later loads the last choice too. Not the login
        service: starting it with a model rewrites its unit, too lasting for a menu click. Nor
        a derived model: it has no file of its own to start with."""
        if isinstance(self.manager, ChildServer) and choice.path and not choice.derived:
            self.model = choice.path

    def _restart(self, model: Path) -> None:
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


def _settle(outer: Future, inner: Future) -> None:
    exc = inner.exception()
    if exc is not None:
        outer.set_exception(exc)
    else:
        outer.set_result(inner.result())
