"""Tell the controller when a pystray menu is about to open, so it is fresh when it shows.

pystray has no such event: every backend builds its native menu ahead of time, in
`update_menu()`, and shows that prebuilt menu on a click. Its menu generator runs at build
time, not at open time, so a hook there would fire on every rebuild instead (and, since a
rebuild follows each change, keep the fast poll going forever). So the hook goes where each
backend handles the click that opens the menu; there it asks for a fresh snapshot (waiting a
moment at most) and rebuilds the menu before it is shown.

The overridden methods are pystray 0.19 internals; a backend without them keeps its plain
class. AppIndicator exports its menu over D-Bus and gets no signal when a panel opens it, and
plain X11 has no menu at all: there the title carries the activity instead (Snapshot.title).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

WM_RBUTTONUP = 0x0205  # win32: the right click that makes pystray show its popup menu


def with_open_hook(base: type, on_open: Callable[[], None]) -> type:
    """A subclass of pystray's backend Icon class `base` that calls `on_open()` (on the GUI
    thread, which it may block briefly) and rebuilds the menu just before showing it."""
    backend = base.__module__.rsplit(".", 1)[-1]
    if backend == "_win32" and hasattr(base, "_on_notify"):

        class Win32Icon(base):  # type: ignore[misc, valid-type]
            def _on_notify(self, wparam: Any, lparam: Any) -> Any:
                if lparam == WM_RBUTTONUP and getattr(self, "_menu_handle", None):
                    on_open()
                    self._update_menu()  # synchronous here: we are on the message loop
                return super()._on_notify(wparam, lparam)

        return Win32Icon
    if backend == "_gtk" and hasattr(base, "_on_status_icon_popup_menu"):

        class GtkIcon(base):  # type: ignore[misc, valid-type]
            def _on_status_icon_popup_menu(self, status_icon: Any, button: Any, time: Any) -> Any:
                on_open()
                # Not update_menu(): pystray defers that to an idle callback, after the popup.
                self._menu_handle = self._create_menu(self.menu)
                return super()._on_status_icon_popup_menu(status_icon, button, time)

        return GtkIcon
    return base
