"""A headless desktop for the tray: Xvfb plus a system-tray host (trayer or tint2).

Used by `impetus bench tray` and the tray tests, so both measure the same real setup.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

TRAY_HOSTS = {
    "trayer": [
        "trayer",
        "--edge", "top", "--align", "left", "--widthtype", "pixel", "--width", "120",
        "--height", "32", "--SetDockType", "true", "--transparent", "false",
    ],
    "tint2": ["tint2"],
}  # fmt: skip


def missing_tools() -> list[str]:
    """What is needed and absent (empty when a headless tray can run here)."""
    missing = [] if shutil.which("Xvfb") else ["Xvfb"]
    if not any(shutil.which(name) for name in TRAY_HOSTS):
        missing.append("trayer or tint2")
    return missing


class HeadlessDisplay:
    """`with HeadlessDisplay() as d:` → d.name is a DISPLAY with a tray host that owns the tray."""

    def __init__(self, width: int = 640, height: int = 200) -> None:
        self.size = f"{width}x{height}x24"
        self.name = ""
        self._procs: list[subprocess.Popen] = []

    def __enter__(self) -> HeadlessDisplay:
        read_fd, write_fd = os.pipe()
        xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", self.size, "-nolisten", "tcp"],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._procs.append(xvfb)
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            self.close()
            raise RuntimeError("Xvfb did not start")
        self.name = f":{number}"
        try:
            self.start_tray_host()
        except RuntimeError:
            self.close()
            raise
        return self

    def start_tray_host(self) -> None:
        host = next(name for name in TRAY_HOSTS if shutil.which(name))
        self._procs.append(
            subprocess.Popen(
                TRAY_HOSTS[host],
                env={**os.environ, "DISPLAY": self.name},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        if not self.wait_for_tray_owner(10):
            raise RuntimeError(f"{host} did not take the system tray selection")

    def restart_tray_host(self) -> None:
        """What a panel restart looks like to the icons in it."""
        host = self._procs.pop()
        host.kill()
        host.wait()
        self.start_tray_host()

    def wait_for_tray_owner(self, timeout: float) -> bool:
        from Xlib import X, display

        d = display.Display(self.name)
        try:
            atom = d.intern_atom(f"_NET_SYSTEM_TRAY_S{d.get_default_screen()}")
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if d.get_selection_owner(atom) != X.NONE:
                    return True
                time.sleep(0.05)
            return False
        finally:
            d.close()

    def screenshot(
        self, path: Path, box: tuple[int, int, int, int] | None = None, scale: int = 1
    ) -> None:
        from PIL import Image, ImageGrab

        image = ImageGrab.grab(xdisplay=self.name)
        if box:
            image = image.crop(box)
        if scale != 1:
            image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)

    def close(self) -> None:
        for proc in reversed(self._procs):
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()

    def __exit__(self, *exc: object) -> None:
        self.close()
