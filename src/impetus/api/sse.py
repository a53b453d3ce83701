"""Server-sent events for token streams, written by hand for the hot path.

sse-starlette wraps every chunk in anyio cancel scopes, timeouts and re-encoding; at 8 streams
× 100+ tokens/s that work runs on the event loop and steals CPU from llama.cpp's threads on a
2-core machine (profiled: most of the loop's time per token). This response sends pre-formatted
`data:` lines straight to the ASGI `send`, and watches for the client leaving so a queued
request is cancelled before it produces a token.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

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


class EventStreamResponse(Response):
    # A Response subclass only so FastAPI passes it through untouched; __call__ is our own.
    def __init__(
        self,
        chunks: AsyncIterator[str],
        on_disconnect: Callable[[], None],
        headers: list[tuple[bytes, bytes]] = HEADERS,
    ) -> None:
        self.chunks = chunks
        self.stream_headers = headers
        self.on_disconnect = on_disconnect
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
        try:
            async for chunk in self.chunks:
                body = escape_line_breaks(chunk).encode()
                await send({"type": "http.response.body", "body": body, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            self.on_disconnect()  # the client went away mid-write
        finally:
            watcher.cancel()
            aclose = getattr(self.chunks, "aclose", None)
            if aclose is not None:
                await aclose()
