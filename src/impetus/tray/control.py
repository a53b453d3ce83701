"""A local control socket: JSON lines in, snapshots out. Hidden `impetus tray --control PATH`.

It drives the same `perform` the menu items call, so tests and scripts can use a real tray
process without clicking. Unix sockets only (owner-only file mode); it listens only when asked.
"""

from __future__ import annotations

import json
import os
import socketserver
import threading
from pathlib import Path

from impetus.tray.actions import TrayController
from impetus.tray.state import Status


def _handler(controller: TrayController) -> type[socketserver.StreamRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            for raw in self.rfile:
                try:
                    reply = self._answer(json.loads(raw))
                except Exception as exc:
                    reply = {"error": f"{type(exc).__name__}: {exc}"}
                self.wfile.write(json.dumps(reply).encode() + b"\n")
                self.wfile.flush()

        def _answer(self, request: dict) -> dict:
            action = request.get("action", "snapshot")
            if action == "menu_opened":
                controller.menu_opened()
            elif action == "quit":  # answer before the process goes away
                controller.perform("quit")
            elif action != "snapshot":
                controller.perform(action, request.get("arg")).result(request.get("timeout", 60))
            wanted = [Status(s) for s in request.get("wait_for", [])]
            if wanted:
                controller.wait_for(*wanted, timeout=float(request.get("timeout", 30)))
            snap = controller.refresh() if action != "quit" else controller.snapshot
            return {
                "snapshot": snap.to_dict(),
                "notice": controller.notice,
                "actions": [a.__dict__ for a in controller.actions()],
            }

    return Handler


def serve_control(controller: TrayController, path: Path) -> socketserver.BaseServer:
    path.unlink(missing_ok=True)
    server = socketserver.ThreadingUnixStreamServer(str(path), _handler(controller))
    server.daemon_threads = True
    os.chmod(path, 0o600)
    threading.Thread(target=server.serve_forever, name="impetus-control", daemon=True).start()
    return server


def send(path: Path, request: dict, timeout: float = 60.0) -> dict:
    """One request to a tray's control socket; the reply as a dict."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(json.dumps(request).encode() + b"\n")
        with sock.makefile("rb") as reply:
            line = reply.readline()
    if not line:
        raise ConnectionError("the tray closed the control socket")
    return json.loads(line)
