"""Run code on pystray's X11 thread without touching its X connection from another thread.

pystray 0.19's plain-X11 backend carries out `icon.icon = …`, `icon.title = …` and `stop()`
from other threads by sending a message over the icon's own Xlib connection and blocking until
its event loop has run the change, with one reply queue shared by all callers. Under the
tray's load (a poller, actions and the control socket all updating the icon) that wedged: the
event loop stuck waiting for an X reply while another thread used the same connection, or a
caller waiting forever on a reply that a stop had made impossible. Then the icon froze, and
every thread that drew waited with it.

So the tray never calls those from its own threads. It queues the work here and wakes the
event loop with a ClientMessage sent over a second X connection of its own (separate sockets
are safe to use from different threads); the event loop then runs the work itself, where
pystray's setters apply directly. Nothing on our side waits for the X thread.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger("impetus.tray")

ATOM = "_IMPETUS_TRAY_RUN"


class XorgBridge:
    def __init__(self, icon: Any) -> None:
        """`icon`: a pystray X11 Icon whose event loop may or may not be running yet."""
        import Xlib.display
        from Xlib import X

        self._icon = icon
        self._pending: deque[Callable[[], None]] = deque()
        self._lock = threading.Lock()
        self._display = Xlib.display.Display(icon._display.get_display_name())
        self._atom = self._display.intern_atom(ATOM)
        self._window = self._display.create_resource_object("window", icon._window.id)
        handlers = icon._message_handlers
        theirs = handlers.get(X.ClientMessage, lambda event: None)

        def on_client_message(event: Any) -> None:
            if event.client_type == self._atom:
                self._run_pending()
            else:
                theirs(event)

        handlers[X.ClientMessage] = on_client_message

    def call(self, work: Callable[[], None]) -> None:
        """Run `work()` on the X thread soon; returns at once."""
        from Xlib import X
        from Xlib.protocol import event

        message = event.ClientMessage(
            window=self._window, client_type=self._atom, data=(32, (0, 0, 0, 0, 0))
        )
        with self._lock:  # our connection, shared by our threads: one sender at a time
            self._pending.append(work)
            try:
                self._display.send_event(self._window, message, event_mask=X.NoEventMask)
                self._display.flush()
            except Exception:  # the window is gone (quitting): nothing left to draw on
                log.debug("tray icon window gone; dropped an update", exc_info=True)

    def _run_pending(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    return
                work = self._pending.popleft()
            try:
                work()
            except Exception:
                log.exception("tray icon update failed")

    def close(self) -> None:
        try:
            self._display.close()
        except Exception:
            pass
