"""The macOS menubar app, on rumps (PyObjC).

AppKit must only be touched on the main thread: the controller's listener hands each snapshot to
`AppHelper.callAfter`, and the menu is rebuilt there. An NSMenu delegate tells the controller when
the menu opens, which is when the tray polls fast (live tokens/s while the user is looking).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import objc
import rumps
from Foundation import NSObject
from PyObjCTools import AppHelper

from impetus.tray import icons
from impetus.tray.actions import Action, TrayController
from impetus.tray.menu_text import status_lines
from impetus.tray.state import Snapshot, Status


class _MenuDelegate(NSObject):
    """Forwards menu open/close to the controller (rumps has no hook for it)."""

    def initWithController_(self, controller):
        self = objc.super(_MenuDelegate, self).init()
        if self is None:
            return None
        self.controller = controller
        return self

    def menuWillOpen_(self, menu):
        self.controller.menu_opened()

    def menuDidClose_(self, menu):
        self.controller.menu_closed()


def _icon_files() -> dict[Status, str]:
    """rumps wants icon files: render each status once into a private temp folder."""
    folder = Path(tempfile.mkdtemp(prefix="impetus-icons-"))
    paths = {}
    for status in Status:
        path = folder / f"{status.value}.png"
        icons.render(status, 44).save(path)
        paths[status] = str(path)
    return paths


class RumpsApp:
    def __init__(self, controller: TrayController) -> None:
        self.ctl = controller
        self._icons = _icon_files()
        self.app = rumps.App(
            "Impetus", icon=self._icons[controller.snapshot.status], quit_button=None
        )
        self._delegate = _MenuDelegate.alloc().initWithController_(controller)
        self.app.menu._menu.setDelegate_(self._delegate)
        controller.on_quit = lambda: AppHelper.callAfter(rumps.quit_application)
        controller.add_listener(lambda snap: AppHelper.callAfter(self._apply, snap))
        self._apply(controller.snapshot)

    def _callback(self, action: Action) -> Callable[[object], None]:
        def run(_sender: object) -> None:
            self.ctl.perform(action.id, action.arg)

        return run

    def _apply(self, snap: Snapshot) -> None:
        """Main thread only: set the icon and rebuild the menu from the current actions."""
        self.app.icon = self._icons[snap.status]
        self.app.title = None
        items: list = [rumps.MenuItem(line) for line in status_lines(snap, self.ctl.notice)]
        items.append(rumps.separator)
        models = rumps.MenuItem("Switch model")
        for action in self.ctl.actions():
            entry = rumps.MenuItem(
                action.label, callback=self._callback(action) if action.enabled else None
            )
            if action.checked:
                entry.state = 1
            if action.group == "models":
                models.add(entry)
                continue
            if action.id == "logs":
                items += [models, rumps.separator]
            if action.id == "quit":
                items.append(rumps.separator)
            items.append(entry)
        self.app.menu.clear()
        self.app.menu = items

    def run(self) -> None:
        self.ctl.start_polling()
        self.app.run()

    def stop(self) -> None:
        rumps.quit_application()
