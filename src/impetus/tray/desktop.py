"""Hand things to the desktop: open a URL or a file, put text on the clipboard.

Each returns whether it worked instead of raising, so a missing helper (no xclip, no browser)
becomes a message in the tray rather than a dead menu item.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import webbrowser
from pathlib import Path


def open_url(url: str) -> bool:
    try:
        return webbrowser.open(url)
    except Exception:
        return False


def open_path(path: Path) -> bool:
    try:
        if sys.platform == "darwin":
            cmd = ["open", str(path)]
        elif os.name == "nt":
            os.startfile(str(path))  # type: ignore[attr-defined]
            return True
        else:
            cmd = ["xdg-open", str(path)]
        if not shutil.which(cmd[0]):
            return False
        subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return True
    except OSError:
        return False


def _clipboard_commands() -> list[list[str]]:
    if sys.platform == "darwin":
        return [["pbcopy"]]
    if os.name == "nt":
        return [["clip"]]
    cmds = [["xclip", "-selection", "clipboard"], ["xsel", "--clipboard", "--input"]]
    if os.environ.get("WAYLAND_DISPLAY"):
        cmds.insert(0, ["wl-copy"])
    return cmds


def copy_text(text: str) -> bool:
    for cmd in _clipboard_commands():
        if not shutil.which(cmd[0]):
            continue
        try:
            # xclip/wl-copy stay behind to own the selection: do not wait for them to exit.
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=os.name != "nt",
            )
            assert proc.stdin is not None
            proc.stdin.write(text.encode())
            proc.stdin.close()
            return True
        except OSError:
            continue
    return False
