"""Handing a scheduler step's token events from the engine thread to the clients.

Two ways out. The general one: one `call_soon_threadsafe` per event loop per step, and the
request's coroutine formats and writes each chunk. The fast one (`DirectStream`): a plain text
token of a stream whose client socket was handed over is framed and written by the engine
thread itself, with no hop through the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from impetus.engines.protocol import Generation, TokenEvent


class DirectStream:
    """A streaming response's socket, written by the engine thread for mid-stream tokens.

    Why by hand: on a 2-core machine llama.cpp's two threads want both cores for every decode,
    and each token handed to the event loop cost a thread hop plus ~0.3 ms of Python there
    (queue, the stream coroutine, five ASGI send wrappers, uvicorn's framing) that either
    delayed the next decode or preempted one of its threads. Here a token costs one
    `encode` (a few µs of string formatting) and one non-blocking write.

    Ordering is the whole difficulty: the event loop writes the headers, the first chunks and
    the end of the stream, the engine thread the tokens in between, and no byte may overtake
    another. So the loop *arms* the stream only when it has written every event routed to it
    so far and its transport buffer is empty (`armed_at` = the events it has consumed); the
    engine writes only while nothing it routed since is still unconsumed
    (`Generation.routed == armed_at`). A write the socket cannot take whole disarms the stream:
    an untaken tail waits in `pending`, which the loop writes before its next byte.

    The socket is a dup of the connection's descriptor, closed under the lock: once `close`
    returns, no engine write can land on this connection, or on a new one reusing the number.
    """

    def __init__(self, fd: int, encode: Callable[[str], bytes | None]) -> None:
        """`encode(text)`: the chunk for one token's text, or None when the stream cannot
        take it directly right now (e.g. an Anthropic text block not yet opened)."""
        self._fd = os.dup(fd)
        self._encode = encode
        self._lock = threading.Lock()
        self._pending = b""
        self.armed_at = -1  # Generation.routed at which the engine may write; -1: it may not
        self.writes = 0

    def arm(self, consumed: int) -> None:
        """Event loop: everything routed so far is written and flushed to the socket."""
        with self._lock:
            if self._fd >= 0 and not self._pending:
                self.armed_at = consumed

    def write(self, text: str) -> bool:
        """Engine thread: send one text chunk. False: nothing was sent, route the event."""
        data = self._encode(text)
        if data is None:
            return False
        frame = b"%x\r\n%s\r\n" % (len(data), data)  # HTTP/1.1 chunked framing
        with self._lock:
            if self._fd < 0:
                return False
            try:
                n = os.write(self._fd, frame)
            except BlockingIOError:
                n = 0
            except OSError:  # the client is gone: the loop's own write will say so
                self._close_locked()
                return False
            if n < len(frame):
                self.armed_at = -1
                if n == 0:
                    return False
                self._pending = frame[n:]
            self.writes += 1
            return True

    def take_pending(self) -> bytes:
        """Event loop: the tail of a chunk the socket did not take, to write before anything."""
        with self._lock:
            pending, self._pending = self._pending, b""
            return pending

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        self.armed_at = -1
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def route(outbox: list[tuple[Any, TokenEvent]], seq: Any, event: TokenEvent) -> bool:
    """Send a mid-stream token event straight to its client when the stream is armed for it,
    else queue it in `outbox` for `deliver`. Returns True when it went direct."""
    gen: Generation = seq.gen
    direct = gen.direct
    if (
        direct is not None
        and direct.armed_at == gen.routed
        and event.logprob is None
        and (not event.text or direct.write(event.text))
    ):
        gen.note_token(time.perf_counter(), seq.loop)
        return True
    outbox.append((seq, event))
    return False


def deliver(outbox: list[tuple[Any, TokenEvent]], flush_wait: float = 0.0) -> None:
    """Push `(sequence, event)` pairs (a sequence has `.loop` and `.gen`) to their loops.

    With `flush_wait`, block the engine thread up to that many seconds until each loop has run
    the woken stream tasks. The llama.cpp scheduler uses 3 ms: on a 2-core machine llama.cpp's
    threads spin at barriers, and an event loop formatting SSE chunks at the same time preempts
    one of them, stretching the whole decode (measured at one stream: 10.5 ms steps while
    overlapping vs 8.6 ms alone; letting the loop finish first, ~0.3 ms, is the cheaper order).
    """
    if not outbox:
        return
    by_loop: dict[asyncio.AbstractEventLoop, list] = {}
    for seq, event in outbox:
        seq.gen.routed += 1  # counted here, on the engine thread: see DirectStream
        by_loop.setdefault(seq.loop, []).append((seq.gen, event))
    flushed: list[threading.Event] = []
    for loop, items in by_loop.items():
        done = threading.Event() if flush_wait > 0 else None
        with contextlib.suppress(RuntimeError):  # the loop closed (shutdown)
            loop.call_soon_threadsafe(_push_all, loop, items, done)
            if done is not None:
                flushed.append(done)
    for done in flushed:
        done.wait(flush_wait)


def _push_all(
    loop: asyncio.AbstractEventLoop,
    items: list[tuple[Generation, TokenEvent]],
    done: threading.Event | None,
) -> None:
    for gen, event in items:
        gen._push(event)
    if done is not None:
        # Two hops: the woken stream tasks run (and write their chunks) before `done` is set.
        loop.call_soon(loop.call_soon, done.set)
