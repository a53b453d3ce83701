"""The Linux and Windows tray, on pystray.

The menu is a generator over the controller's actions, so it is rebuilt from the current state
each time the backend asks. pystray picks its own backend: AppIndicator or GTK when PyGObject is
importable (full menus), else plain X11 (an icon whose click runs the default action: start the
server, or open the dashboard once it is ready).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pystray

from impetus.tray import icons
from impetus.tray.actions import Action, TrayController
from impetus.tray.menu_text import status_lines
from impetus.tray.state import Snapshot

log = logging.getLogger("impetus.tray")


class PystrayApp:
    def __init__(self, controller: TrayController) -> None:
        self.ctl = controller
        snap = controller.snapshot
        self.icon = pystray.Icon(
            "impetus",
            icon=icons.render(snap.status),
            title=snap.title,
            menu=pystray.Menu(self._items),
        )
        self._shown: Snapshot | None = None
        self._ready = False
        controller.on_quit = self.icon.stop
        controller.add_listener(self._on_change)

    @property
    def backend(self) -> str:
        return type(self.icon).__module__.rsplit("_", 1)[-1]

    def _callback(self, action: Action) -> Callable[[], None]:
        def run() -> None:
            self.ctl.perform(action.id, action.arg)

        return run

    def _items(self) -> Iterator[pystray.MenuItem]:
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

    def _on_change(self, snap: Snapshot) -> None:
        if not self._ready:
            return
        try:
            if self._shown is None or snap.status != self._shown.status:
                self.icon.icon = icons.render(snap.status)
            self.icon.title = snap.title
            if self.icon.HAS_MENU:
                self.icon.update_menu()
            self._shown = snap
        except Exception:
            log.exception("could not update the tray icon")

    def _setup(self, icon: pystray.Icon) -> None:
        icon.visible = True
        if self.backend == "xorg":
            _listen_for_clicks(icon)
        self._ready = True
        self.ctl.start_polling()
        log.info("tray icon shown (pystray backend: %s)", self.backend)

    def run(self) -> None:
        """Block in the GUI loop until Quit (or `stop`)."""
        self.icon.run(setup=self._setup)

    def stop(self) -> None:
        self.icon.stop()


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
