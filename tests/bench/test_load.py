"""The bench's load generator: its SSE reader, and a run against the real server."""

from __future__ import annotations

import asyncio

import httpx

from impetus.bench.load import run_load, sse_lines


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
