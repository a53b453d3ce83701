"""Server-sent events for token streams, written by hand for the hot path.

sse-starlette wraps every chunk in anyio cancel scopes, timeouts and re-encoding; at 8 streams
× 100+ tokens/s that work runs on the event loop and steals CPU from llama.cpp's threads on a
2-core machine (profiled: most of the loop's time per token). This response sends pre-formatted
`data:` lines straight to the ASGI `send`, and watches for the client leaving so a queued
request is cancelled before it produces a token.

Under uvicorn it goes one step further: it hands the connection's socket to the engine thread
(engines/delivery.DirectStream), which writes each plain text token itself, and the event loop
only writes the head, the tail and whatever the engine could not (`_Handover`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from impetus.engines.delivery import DirectStream
from impetus.engines.protocol import Generation

# Where the app factory leaves the ASGI server's own `send` (server/app.py): through it a
# streaming response finds the client's socket for DirectStream.
SERVER_SEND = "impetus.server_send"

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


NDJSON_HEADERS = [
    (b"content-type", b"application/x-ndjson"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def event(data: str) -> str:
    return f"data: {data}\n\n"


def escape_line_breaks(chunk: str) -> str:
    """Escape the line breaks JSON leaves raw but line splitters honour.

    `json.dumps(..., ensure_ascii=False)` writes U+2028, U+2029 and U+0085 as they are, and
    httpx's `iter_lines` (what the ollama SDK reads NDJSON with) and `str.splitlines` split on
    them: a token carrying one cut its chunk's JSON in two (a bench client crashed on it). They
    can only occur inside JSON strings, where the escape means the same character.
    """
    if "\u2028" in chunk or "\u2029" in chunk or "\x85" in chunk:
        chunk = chunk.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
        chunk = chunk.replace("\x85", "\\u0085")
    return chunk


def client_socket(scope: Scope) -> tuple[asyncio.Transport, int] | None:
    """The transport and socket of this response's connection, when uvicorn's httptools
    protocol serves it with chunked encoding (asked after the response has started); None for
    anything else (h11, TLS, an in-process test client), where every chunk goes through `send`.
    """
    cycle = getattr(scope.get(SERVER_SEND), "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or getattr(cycle, "chunked_encoding", None) is not True:
        return None
    if transport.is_closing() or transport.get_extra_info("sslcontext") is not None:
        return None
    sock = transport.get_extra_info("socket")
    fd = sock.fileno() if sock is not None else -1
    if fd < 0 or os.get_blocking(fd):  # a blocking write could stall the engine thread
        return None
    return transport, fd


class EventStreamResponse(Response):
    # A Response subclass only so FastAPI passes it through untouched; __call__ is our own.
    def __init__(
        self,
        chunks: AsyncIterator[str],
        on_disconnect: Callable[[], None],
        headers: list[tuple[bytes, bytes]] = HEADERS,
        direct: tuple[Generation, Callable[[str], str | None]] | None = None,
    ) -> None:
        """`direct`: a generation whose plain text tokens the engine thread may write to the
        client itself, as the chunk `format(text)` (engines/delivery.DirectStream; None from
        `format`: not now, send it the usual way). `chunks` must then have yielded the chunks
        of every event it took from that generation whenever it yields, as the routers'
        streams do (one chunk per batch of events)."""
        self.chunks = chunks
        self.stream_headers = headers
        self.on_disconnect = on_disconnect
        self.direct = direct
        self.status_code = 200
        self.background = None

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.on_disconnect()
                return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.stream_headers})
        watcher = asyncio.create_task(self._watch(receive))
        direct = _Handover.open(scope, *self.direct) if self.direct is not None else None
        try:
            async for chunk in self.chunks:
                body = escape_line_breaks(chunk).encode()
                if direct is not None:
                    direct.flush()
                await send({"type": "http.response.body", "body": body, "more_body": True})
                if direct is not None:
                    direct.arm()
            if direct is not None:
                direct.flush()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            self.on_disconnect()  # the client went away mid-write
        finally:
            if direct is not None:
                direct.close()
            watcher.cancel()
            aclose = getattr(self.chunks, "aclose", None)
            if aclose is not None:
                await aclose()


@dataclass
class _Handover:
    """The event loop's side of a DirectStream: it arms the engine's writes whenever it has
    flushed everything routed to it, and writes a tail the engine could not before anything."""

    gen: Generation
    stream: DirectStream
    transport: asyncio.Transport

    @classmethod
    def open(
        cls, scope: Scope, gen: Generation, fmt: Callable[[str], str | None]
    ) -> _Handover | None:
        found = client_socket(scope)
        if found is None:
            return None
        transport, fd = found

        def encode(text: str) -> bytes | None:
            chunk = fmt(text)
            return None if chunk is None else escape_line_breaks(chunk).encode()

        stream = DirectStream(fd, encode)
        gen.direct = stream
        return cls(gen, stream, transport)

    def arm(self) -> None:
        if self.transport.get_write_buffer_size() == 0:
            self.stream.arm(self.gen.consumed)

    def flush(self) -> None:
        pending = self.stream.take_pending()
        if pending:  # already framed: past `send`, straight into the transport's buffer
            self.transport.write(pending)

    def close(self) -> None:
        self.gen.direct = None
        self.stream.close()
