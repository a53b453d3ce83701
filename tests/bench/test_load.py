"""The bench's SSE reader: lines split where SSE splits them, whatever the chunking."""

from __future__ import annotations

import asyncio

import httpx

from impetus.bench.load import sse_lines


def test_sse_lines_split_only_at_line_feeds():
    body = 'data: {"t":"a\u2028b\x85c"}\r\n\r\ndata: {"t":"d\u2029e"}\n\ndata: [DONE]'.encode()

    async def read(step: int) -> list[str]:
        async def stream():
            for i in range(0, len(body), step):  # cuts inside lines and inside UTF-8 sequences
                yield body[i : i + step]

        transport = httpx.MockTransport(lambda request: httpx.Response(200, content=stream()))
        async with (
            httpx.AsyncClient(transport=transport) as client,
            client.stream("GET", "http://bench.test/") as resp,
        ):
            return [line async for line in sse_lines(resp)]

    expected = ['data: {"t":"a\u2028b\x85c"}', "", 'data: {"t":"d\u2029e"}', "", "data: [DONE]"]
    for step in (1, 3, 7, len(body)):
        assert asyncio.run(read(step)) == expected
