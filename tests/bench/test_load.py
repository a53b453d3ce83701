"""The bench's load generator: its SSE reader on crafted responses, and a run against the real
server."""

from __future__ import annotations

import asyncio

import pytest

from impetus.bench.load import run_load, sse_data


async def _serve_once(response: bytes, step: int) -> tuple[str, asyncio.AbstractServer]:
    """A real socket server that answers one request with `response`, `step` bytes at a time."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        for i in range(0, len(response), step):
            writer.write(response[i : i + step])
            await writer.drain()
            await asyncio.sleep(0)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", server


def _chunked(body: bytes, size: int) -> bytes:
    out = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    for i in range(0, len(body), size):
        part = body[i : i + size]
        out += b"%x\r\n%s\r\n" % (len(part), part)
    return out + b"0\r\n\r\n"


def test_sse_data_splits_only_at_line_feeds_whatever_the_framing():
    # U+2028 and U+0085 stay raw inside JSON (llama-server sends them so); only LF ends a line.
    body = 'data: {"t":"a\u2028b\x85c"}\r\n\r\n: comment\n\ndata: {"t":"d\u2029e"}\n\ndata: [DONE]'.encode()
    expected = ['{"t":"a\u2028b\x85c"}', '{"t":"d\u2029e"}', "[DONE]"]

    async def read(response: bytes, step: int) -> list[str]:
        url, server = await _serve_once(response, step)
        async with server:
            return [d.decode() async for d in sse_data(url, "/v1/x", {"q": 1})]

    for chunk in (1, 5, len(body)):  # chunks cut inside lines and inside UTF-8 sequences
        for step in (1, 7, 1 << 16):  # and the bytes arrive cut anywhere
            assert asyncio.run(read(_chunked(body, chunk), step)) == expected
    plain = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n" + body  # no framing: until EOF
    assert asyncio.run(read(plain, 3)) == expected


def test_sse_data_raises_with_the_body_of_an_error():
    async def read() -> None:
        url, server = await _serve_once(
            b'HTTP/1.1 429 Too Many Requests\r\ncontent-length: 14\r\n\r\n{"error":"no"}', 64
        )
        async with server:
            async for _ in sse_data(url, "/v1/x", {}):
                pass

    with pytest.raises(RuntimeError, match=r'HTTP 429: .*\{"error":"no"\}'):
        asyncio.run(read())


def test_a_load_run_counts_every_token_and_the_clients_own_cpu(server):
    result = asyncio.run(
        run_load(server.url, "default", concurrency=2, requests=3, max_tokens=8, prompts=["Hi"])
    )
    assert result.errors == 0, result.first_error
    assert result.completion_tokens == 3 * 8  # ignore_eos: every request runs to max_tokens
    assert result.decode_tok_s > 0
    assert result.ttft_p50_ms <= result.ttft_p95_ms
    # The generator's CPU per token is measured, not assumed: positive and far below a second.
    assert 0 < result.client_cpu_ms_per_token < 1000
