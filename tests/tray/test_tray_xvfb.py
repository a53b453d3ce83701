"""The real tray: `python -m impetus.tray` (= `impetus tray`) under Xvfb with a tray host.

It checks that the icon docks into the tray, that a real click on it starts the server (the
X11 backend's default action), that a chat works, and that Stop and Quit through the app's
action layer (its control socket) stop the server and the tray. And a bad state: the server
is killed; the icon's title (all this backend shows, it has no menu) says so with the reason,
the tray keeps answering, and Start brings it back.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from impetus.bench.display import HeadlessDisplay, missing_tools
from impetus.tray.control import send

pytestmark = pytest.mark.skipif(
    bool(missing_tools()) or not sys.platform.startswith("linux"),
    reason=f"needs Xvfb and a tray host on Linux (missing: {', '.join(missing_tools())})",
)

SCREENSHOT = Path(__file__).parents[2] / "docs" / "images" / "tray.png"
SAVE_SCREENSHOT = bool(os.environ.get("IMPETUS_SCREENSHOT"))  # read before env isolation


@pytest.fixture
def display():
    with HeadlessDisplay() as d:
        yield d


@pytest.fixture
def tray(display, port, tmp_path):
    """A tray process that does not start a server by itself; killed with its children."""
    sock = tmp_path / "control.sock"
    cmd = [sys.executable, "-m", "impetus.tray", "--port", str(port), "--no-start"]
    proc = subprocess.Popen(
        [*cmd, "--control", str(sock)],
        env={**os.environ, "DISPLAY": display.name},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "no control socket"
            time.sleep(0.05)
        yield proc, sock, seen
    finally:
        if proc.poll() is None:
            seen.update(c.pid for c in psutil.Process(proc.pid).children(recursive=True))
            proc.kill()
            proc.wait()
        # Shown by pytest only when the test fails: the tray's own log says why.
        print("tray output:\n" + proc.stdout.read().decode(errors="replace"))
        for pid in seen:
            try:
                psutil.Process(pid).kill()
            except psutil.NoSuchProcess:
                pass


def docked_icon(display) -> tuple[int, str] | None:
    """(window id, title) of our icon once the tray host has reparented it, else None."""
    tree = subprocess.run(
        ["xwininfo", "-root", "-tree"],
        env={**os.environ, "DISPLAY": display.name},
        capture_output=True,
    ).stdout.decode("latin-1")  # WM_NAME is Latin-1 (ICCCM STRING)
    for line in tree.splitlines():
        match = re.match(r'\s+(0x[0-9a-f]+) "(Impetus[^"]*)": \("impetusSystemTrayIcon"', line)
        if match and len(line) - len(line.lstrip()) > 5:  # indented: a child of the tray
            return int(match.group(1), 16), match.group(2)
    return None


def wait_docked(display, title_prefix: str, timeout: float = 10) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        icon = docked_icon(display)
        if icon and icon[1].startswith(title_prefix):
            return icon
        time.sleep(0.1)
    raise AssertionError(f"icon not docked with title {title_prefix!r}: {docked_icon(display)}")


def click(display, window: int) -> None:
    """A real pointer click (XTest) in the middle of the icon, where the tray host put it."""
    env = {**os.environ, "DISPLAY": display.name}
    geometry = subprocess.run(
        ["xdotool", "getwindowgeometry", "--shell", str(window)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    g = dict(line.split("=", 1) for line in geometry.split())
    x, y = int(g["X"]) + int(g["WIDTH"]) // 2, int(g["Y"]) + int(g["HEIGHT"]) // 2
    subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", "1"], env=env, check=True)


@pytest.mark.skipif(not shutil.which("xdotool"), reason="needs xdotool for a real click")
def test_tray_icon_click_chat_stop_quit(display, tray):
    proc, sock, seen = tray
    window, _ = wait_docked(display, "Impetus: stopped")
    actions = send(sock, {"action": "snapshot"})["actions"]
    assert actions[0]["id"] == "start" and actions[0]["default"]

    click(display, window)  # the default action: start the server
    reply = send(sock, {"action": "snapshot", "wait_for": ["ready", "error"], "timeout": 30})
    snap = reply["snapshot"]
    assert snap["status"] == "ready", reply
    seen.add(snap["pid"])
    assert psutil.Process(snap["pid"]).ppid() == proc.pid  # a child of the tray
    wait_docked(display, "Impetus: ready (SmolLM2")

    chat = httpx.post(
        snap["url"] + "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 8},
        timeout=120,
    )
    assert chat.status_code == 200 and chat.json()["choices"][0]["message"]["content"]

    if SAVE_SCREENSHOT:
        display.screenshot(SCREENSHOT, box=(0, 0, 120, 32), scale=4)

    # The tray stays small (the budget is 60 MB) while its server runs.
    assert psutil.Process(proc.pid).memory_info().rss < 60_000_000

    first = snap["pid"]
    snap = send(sock, {"action": "stop", "wait_for": ["stopped"]})["snapshot"]
    assert snap["status"] == "stopped" and gone(first)
    wait_docked(display, "Impetus: stopped")

    second = send(sock, {"action": "start", "wait_for": ["ready"]})["snapshot"]["pid"]
    seen.add(second)
    send(sock, {"action": "quit"})
    assert proc.wait(15) == 0
    assert gone(second)  # Quit stops the server the tray started


def test_the_icon_docks_again_after_the_tray_host_restarts(display, tray):
    proc = tray[0]
    first, _ = wait_docked(display, "Impetus: stopped")
    display.restart_tray_host()
    window, _ = wait_docked(display, "Impetus: stopped", timeout=10)
    assert window == first and proc.poll() is None


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_crashed_server_shows_on_the_icon_and_nothing_hangs(display, tray):
    proc, sock, seen = tray
    wait_docked(display, "Impetus: stopped")
    snap = send(sock, {"action": "start", "wait_for": ["ready", "error"], "timeout": 30})
    snap = snap["snapshot"]
    assert snap["status"] == "ready", snap
    seen.add(snap["pid"])

    # Someone looks (what opening a menu does): the activity reaches the title.
    send(sock, {"action": "menu_opened"})
    _, title = wait_docked(display, "Impetus: ready (SmolLM2-135M-Instruct.Q4_1) - ")
    assert re.search(r" - \d+\.\d tok/s, 0 active$", title), title

    # Refreshes from the control socket race the poller and the drawing: none may stall.
    started = time.monotonic()
    for _ in range(20):
        send(sock, {"action": "menu_opened"}, timeout=5)
        send(sock, {"action": "snapshot"}, timeout=5)
    assert time.monotonic() - started < 10

    os.kill(snap["pid"], signal.SIGKILL)
    _, title = wait_docked(display, "Impetus: error: the server exited (code -9)", timeout=10)
    assert len(title) <= 127  # Windows' tooltip limit holds for the same text

    started = time.monotonic()
    reply = send(sock, {"action": "snapshot"}, timeout=5)  # the tray still answers at once
    assert time.monotonic() - started < 3
    assert reply["snapshot"]["status"] == "error"
    assert "the server exited (code -9)" in reply["snapshot"]["error"]
    assert reply["actions"][0] == {**reply["actions"][0], "id": "start", "enabled": True}

    again = send(sock, {"action": "start", "wait_for": ["ready"], "timeout": 30})["snapshot"]
    seen.add(again["pid"])
    assert again["status"] == "ready" and again["error"] is None
    wait_docked(display, "Impetus: ready (SmolLM2")
    send(sock, {"action": "quit"})
    assert proc.wait(15) == 0
    assert gone(again["pid"])
