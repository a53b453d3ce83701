"""The menu-open hook for pystray's backends (pystray itself has none; see pystray_hooks.py).

Windows and GTK cannot run here, so each is a stand-in class carrying that backend's module
name and the method pystray 0.19 calls when it shows the menu; the hook must run first, then
rebuild the menu, then let pystray show it.
"""

from __future__ import annotations

from impetus.tray.pystray_hooks import WM_RBUTTONUP, with_open_hook

WM_LBUTTONUP = 0x0202


def fake_backend(module: str, method: str) -> type:
    def show(self, *args):
        self.log.append(("show", self.menu_version))

    def update_menu(self):
        self.menu_version += 1

    def create_menu(self, menu):
        self.menu_version += 1
        return f"menu {self.menu_version}"

    cls = type(
        "Icon",
        (),
        {
            "__init__": lambda self: setattr(self, "log", []) or setattr(self, "menu_version", 0),
            method: show,
            "_update_menu": update_menu,
            "_create_menu": create_menu,
            "menu": None,
            "_menu_handle": "prebuilt",
        },
    )
    cls.__module__ = module
    return cls


def test_windows_right_click_refreshes_then_rebuilds_then_shows():
    opened = []
    icon = with_open_hook(fake_backend("pystray._win32", "_on_notify"), lambda: opened.append(1))()
    icon._on_notify(0, WM_RBUTTONUP)
    assert opened == [1] and icon.log == [("show", 1)]  # shown after the rebuild
    icon._on_notify(0, WM_LBUTTONUP)  # a left click runs the default action: not an open
    assert opened == [1]


def test_gtk_popup_refreshes_then_rebuilds_then_shows():
    opened = []
    base = fake_backend("pystray._gtk", "_on_status_icon_popup_menu")
    icon = with_open_hook(base, lambda: opened.append(1))()
    icon._on_status_icon_popup_menu(None, 3, 0)
    assert opened == [1] and icon.log == [("show", 1)] and icon._menu_handle == "menu 1"


def test_backends_without_a_hook_point_keep_their_class():
    for module in ("pystray._xorg", "pystray._appindicator", "pystray._darwin"):
        base = fake_backend(module, "_on_notify")
        assert with_open_hook(base, lambda: None) is base
    renamed = fake_backend("pystray._win32", "_on_something_else")  # a future pystray
    assert with_open_hook(renamed, lambda: None) is renamed
