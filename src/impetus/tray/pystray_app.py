"""The Linux and Windows tray, on pystray.

The menu is a generator over the controller's actions, so it is rebuilt from the current state
each time the backend asks. pystray picks its own backend: AppIndicator or GTK when PyGObject is
importable (full menus), else plain X11 (an icon whose click runs the default action: start the
server, or open the dashboard once it is ready; its title says the status, the activity and any
error). Opening a menu is reported to the controller by pystray_hooks, not by the generator.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

import pystray

from impetus.tray import icons
from impetus.tray.actions import Action, TrayController
from impetus.tray.menu_text import status_lines
from impetus.tray.pystray_hooks import with_open_hook
from impetus.tray.state import Snapshot
from impetus.tray.xorg_bridge import XorgBridge

log = logging.getLogger("impetus.tray")

OPEN_WAIT_SECONDS = 0.25  # how long a click may wait for fresh numbers before the menu shows
QUIT_GRACE_SECONDS = 10.0  # after Quit, how long the GUI loop gets to end before we exit anyway
# Plain X11: how often to check that the tray host really embedded the icon (fast at first).
DOCK_CHECKS = (2.0,) * 15 + (10.0,)


class PystrayApp:
    def __init__(self, controller: TrayController) -> None:
        self.ctl = controller
        snap = controller.snapshot
        icon_class = with_open_hook(
            pystray.Icon, lambda: controller.menu_opened(wait=OPEN_WAIT_SECONDS)
        )
        self.icon = icon_class(
            "impetus",
            icon=icons.render(snap.status),
            title=self._title(snap),
            menu=pystray.Menu(self._items),
        )
        self._latest = snap  # the newest snapshot; drawn by _apply on the GUI side
        self._applied: Snapshot | None = None
        self._lock = threading.Lock()
        self._scheduled = False  # an _apply is queued on the X thread already
        self._wanted = threading.Event()  # other backends: wakes the updater thread
        self._stopping = False
        self._bridge: XorgBridge | None = None
        self._ready = False
        controller.on_quit = self.stop
        controller.add_listener(self._on_change)

    @property
    def backend(self) -> str:
        return pystray.Icon.__module__.rsplit("_", 1)[-1]

    def _callback(self, action: Action) -> Callable[[], None]:
        def run() -> None:
            self.ctl.perform(action.id, action.arg)

        return run

    @staticmethod
    def _title(snap: Snapshot) -> str:
        """X11 stores the title as Latin-1 (WM_NAME): anything else would raise in pystray's
        loop, so a model name in another script shows with "?" rather than break the icon."""
        if pystray.Icon.__module__.endswith("_xorg"):  # the backend pystray chose
            return snap.title.encode("latin-1", "replace").decode("latin-1")
        return snap.title

    def _items(self) -> Iterator[pystray.MenuItem]:
        """The menu, from cached state only: pystray calls this to build its native menu (and
        on plain X11 to find the default action), so it must not block or count as an open."""
        item = pystray.MenuItem
        snap = self.ctl.snapshot
        for line in status_lines(snap, self.ctl.notice):
            yield item(line, None, enabled=False)
        yield pystray.Menu.SEPARATOR
        models = []
        for action in self.ctl.actions():
            entry = item(
                action.label,
                self._callback(action),
                enabled=action.enabled,
                default=action.default,
                checked=None if action.checked is None else (lambda _, c=action.checked: c),
                radio=action.group == "models",
            )
            if action.group == "models":
                models.append(entry)
                continue
            if action.id == "logs":
                yield item("Switch model", pystray.Menu(*models), enabled=bool(models))
                yield pystray.Menu.SEPARATOR
            if action.id == "quit":
                yield pystray.Menu.SEPARATOR
            yield entry

    # ----- drawing: the controller's threads never call into pystray ---------------------

    def _on_change(self, snap: Snapshot) -> None:
        """Any thread: keep the newest snapshot and have the GUI side draw it. Never waits,
        so a stuck GUI cannot stall the poller, the actions or the control socket."""
        self._latest = snap
        if self._ready:
            self._schedule()

    def _schedule(self) -> None:
        if self._bridge is None:
            self._wanted.set()
            return
        with self._lock:  # one queued _apply at a time: it draws whatever is newest then
            if self._scheduled:
                return
            self._scheduled = True
        self._bridge.call(self._apply)

    def _apply(self) -> None:
        """On the X thread (plain X11) or the updater thread (the others)."""
        with self._lock:
            self._scheduled = False
        snap = self._latest
        try:
            if self._applied is None or snap.status != self._applied.status:
                self.icon.icon = icons.render(snap.status)
            self.icon.title = self._title(snap)
            if self.icon.HAS_MENU:
                self.icon.update_menu()
            self._applied = snap
        except Exception:
            log.exception("could not update the tray icon")

    def _updater(self) -> None:
        """GTK, AppIndicator and Windows marshal pystray calls themselves; this thread only
        keeps their occasional slowness off the controller's threads."""
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stopping:
                return
            self._apply()

    def _setup(self, icon: pystray.Icon) -> None:
        """pystray's setup thread, once its loop runs."""
        if self.backend == "xorg":
            try:
                self._bridge = XorgBridge(icon)
            except Exception:  # pystray internals moved: fall back to its own cross-thread calls
                log.exception("no X11 bridge; updating the icon through pystray")
        if self._bridge is not None:
            self._bridge.call(self._show)
        else:
            self._show()
            threading.Thread(target=self._updater, name="impetus-draw", daemon=True).start()
        self._ready = True
        self._schedule()  # whatever changed before the icon was up
        self.ctl.start_polling()

    def _show(self) -> None:
        self.icon.visible = True
        if self.backend == "xorg":
            _listen_for_clicks(self.icon)
            threading.Thread(target=self._watch_dock, name="impetus-dock", daemon=True).start()
        log.info("tray icon shown (pystray backend: %s)", self.backend)

    def _watch_dock(self) -> None:
        """Plain X11: pystray sends its dock request once. A tray host that has just taken the
        tray selection can drop it (trayer did, about one start in fifteen under load), and a
        panel that restarts never sees it; then the icon is an unmapped window nobody shows.
        So check now and then, on the X thread, and ask again while the icon is not embedded."""
        checks = iter(DOCK_CHECKS)
        interval = next(checks)
        while not self._stopping:
            time.sleep(interval)
            interval = next(checks, interval)
            if self._bridge is not None and not self._stopping:
                self._bridge.call(lambda: _redock_if_loose(self.icon))

    def run(self) -> None:
        """Block in the GUI loop until Quit (or `stop`)."""
        self.icon.run(setup=self._setup)

    def stop(self) -> None:
        """Any thread: end the GUI loop. Should the GUI thread be stuck, exit anyway after a
        grace period (the server the tray started has been stopped by then): Quit must quit."""
        self._stopping = True
        self._wanted.set()
        watchdog = threading.Timer(QUIT_GRACE_SECONDS, os._exit, args=(0,))
        watchdog.daemon = True
        watchdog.start()
        if self._bridge is not None:
            self._bridge.call(self.icon.stop)
        else:
            threading.Thread(target=self.icon.stop, name="impetus-stop", daemon=True).start()


def _redock_if_loose(icon: pystray.Icon) -> None:
    """On the X thread: re-send the dock request if the icon's parent is still the root."""
    try:
        display, window = icon._display, icon._window
        if window.query_tree().parent.id != display.screen().root.id:
            return  # embedded
        log.warning("the tray host has not embedded the icon; asking again")
        icon._systray_manager = None
        icon._assert_docked()
    except Exception:  # no tray host right now, or pystray internals moved: try again later
        log.debug("dock check failed", exc_info=True)


def _listen_for_clicks(icon: pystray.Icon) -> None:
    """Work around pystray 0.19's X11 backend, which never asks for ButtonPress events.

    Without this a click on the icon does nothing (pystray issue #151), and on a plain X11 tray
    the click is the only way in. Private attributes: guarded, and a no-op if they change.
    """
    window = getattr(icon, "_window", None)
    display = getattr(icon, "_display", None)
    if window is None or display is None:
        return
    from Xlib import X

    try:
        window.change_attributes(
            event_mask=X.ExposureMask | X.StructureNotifyMask | X.ButtonPressMask
        )
        display.flush()
    except Exception:
        log.exception("could not enable clicks on the tray icon")
