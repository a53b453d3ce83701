"""Token streams on the real server: the engine thread writes plain text tokens to the socket
itself (engines/delivery.DirectStream), and every wire format still reads back whole."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from starlette.requests import Request

from tests.conftest import MODEL_ID

# Greedy comparisons on the shared server need a prompt without near-ties (docs/determinism.md).
COUNT = [{"role": "user", "content": "Count from 1 to 30, separated by commas."}]


def unchunk(raw: bytes) -> bytes:
    """The body of a raw HTTP/1.1 chunked response; any byte out of place breaks the framing."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    body = b""
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return body
        body += rest[:size]
        assert rest[size : size + 2] == b"\r\n"
        rest = rest[size + 2 :]


def direct_tokens(client: httpx.Client) -> float:
    text = client.get("/metrics").text
    return sum(
        float(v)
        for v in re.findall(r"^impetus_engine_direct_tokens_total\{[^}]*\} (\S+)", text, re.M)
    )


def _sse_objects(client: httpx.Client, path: str, body: dict) -> Iterator[dict]:
    """Stream `body` to an OpenAI route with usage included; yield each JSON event."""
    body = body | {"stream": True, "stream_options": {"include_usage": True}}
    with client.stream("POST", path, json=body) as resp:
        for line in resp.iter_lines():
            if line.startswith("data: {"):
                yield json.loads(line[6:])


def _openai_chat(client: httpx.Client, stream: bool) -> tuple[str, int]:
    body = {"model": MODEL_ID, "messages": COUNT, "max_tokens": 24, "temperature": 0}
    if not stream:
        r = client.post("/v1/chat/completions", json=body).json()
        return r["choices"][0]["message"]["content"], r["usage"]["completion_tokens"]
    text, usage = "", 0
    for obj in _sse_objects(client, "/v1/chat/completions", body):
        for c in obj["choices"]:
            text += c["delta"].get("content") or ""
        usage = (obj.get("usage") or {}).get("completion_tokens", usage)
    return text, usage


def _openai_completion(client: httpx.Client, stream: bool) -> tuple[str, int]:
    body = {"model": MODEL_ID, "prompt": "1, 2, 3, 4, 5, 6, 7, 8,", "max_tokens": 24}
    body["temperature"] = 0
    if not stream:
        r = client.post("/v1/completions", json=body).json()
        return r["choices"][0]["text"], r["usage"]["completion_tokens"]
    text, usage = "", 0
    for obj in _sse_objects(client, "/v1/completions", body):
        text += "".join(c["text"] for c in obj["choices"])
        usage = (obj.get("usage") or {}).get("completion_tokens", usage)
    return text, usage


def _ollama_chat(client: httpx.Client, stream: bool) -> tuple[str, int]:
    body = {
        "model": MODEL_ID,
        "messages": COUNT,
        "stream": stream,
        "options": {"temperature": 0, "num_predict": 24},
    }
    if not stream:
        r = client.post("/api/chat", json=body).json()
        return r["message"]["content"], r["eval_count"]
    text, count = "", 0
    with client.stream("POST", "/api/chat", json=body) as resp:
        for line in resp.iter_lines():
            obj = json.loads(line)
            text += obj["message"]["content"]
            count = obj.get("eval_count", count)
    return text, count


def _anthropic(client: httpx.Client, stream: bool) -> tuple[str, int]:
    body = {"model": MODEL_ID, "messages": COUNT, "max_tokens": 24, "temperature": 0}
    if not stream:
        r = client.post("/v1/messages", json=body).json()
        return r["content"][0]["text"], r["usage"]["output_tokens"]
    body["stream"] = True
    text, count, blocks = "", 0, []
    with client.stream("POST", "/v1/messages", json=body) as resp:
        for line in resp.iter_lines():
            if not line.startswith("data: "):
                continue
            obj = json.loads(line[6:])
            blocks.append(obj["type"])
            if obj["type"] == "content_block_delta":
                text += obj["delta"]["text"]
            if obj["type"] == "message_delta":
                count = obj["usage"]["output_tokens"]
    # The text block opens before its first delta and closes after its last.
    assert blocks.index("content_block_start") < blocks.index("content_block_delta")
    assert blocks.index("content_block_stop") > len(blocks) - 1 - blocks[::-1].index(
        "content_block_delta"
    )
    return text, count


@pytest.mark.parametrize(
    "api", [_openai_chat, _openai_completion, _ollama_chat, _anthropic], ids=lambda f: f.__name__
)
def test_streamed_tokens_go_direct_and_read_back_as_the_whole_answer(client, api):
    whole, n = api(client, stream=False)
    before = direct_tokens(client)
    streamed, n_streamed = api(client, stream=True)
    written = direct_tokens(client) - before
    assert streamed == whole
    assert n_streamed == n > 4
    # Every token after the first few went straight from the engine thread to the socket
    # (the first may still be routed while the response hands the socket over).
    assert written >= n - 3, (written, n)


def test_a_client_that_reads_late_and_slowly_gets_every_byte_in_order(client, server):
    """A reader with a tiny receive buffer that waits before reading: the socket fills, the
    engine's writes fall back to the event loop mid-stream, and the stream stays whole."""
    n = 1200
    body = {
        "model": MODEL_ID,
        "messages": COUNT,
        "max_tokens": n,
        "temperature": 0,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    payload = json.dumps(body).encode()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n" % len(payload) + payload
    )
    time.sleep(3)  # the engine keeps generating into a socket nobody reads
    raw = b""
    sock.settimeout(120)
    while chunk := sock.recv(512):
        raw += chunk
        time.sleep(0.0005)
    sock.close()
    events = [e for e in unchunk(raw).decode().split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    deltas, usage = 0, None
    for e in events[:-1]:
        obj = json.loads(e.removeprefix("data: "))  # a byte out of place would break one
        deltas += sum(1 for c in obj["choices"] if c["delta"].get("content"))
        usage = obj.get("usage") or usage
    assert usage["completion_tokens"] == n
    assert n // 2 < deltas <= n


def test_a_tail_the_socket_did_not_take_is_written_before_anything_else():
    """The handover on a real uvicorn server whose socket is made tiny: the engine side
    (route + deliver, from a thread, as a scheduler calls them) fills it, falls back to the
    event loop, and the loop writes the untaken tail first. Every byte arrives in order."""
    import asyncio
    import threading
    from types import SimpleNamespace

    import uvicorn

    from impetus.api.sse import SERVER_SEND, EventStreamResponse
    from impetus.engines.delivery import deliver, route
    from impetus.engines.protocol import Generation, GenerationRequest, TokenEvent
    from impetus.server.app import ImpetusApp
    from tests.conftest import free_port

    # Up to 20 KB: a write larger than the socket buffer is taken in part.
    tokens = [f"<{i:05d}>" + "x" * (100 + 397 * (i % 50)) for i in range(600)]
    seen: dict = {}

    def fmt(text: str) -> str:
        return f"data: {text}\n\n"

    app = ImpetusApp()

    @app.get("/stream")
    async def stream(request: Request):
        cycle = request.scope[SERVER_SEND].__self__
        cycle.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF, 4096
        )
        gen = Generation(GenerationRequest([1]), cancel=lambda g: None)
        seq = SimpleNamespace(gen=gen, loop=asyncio.get_running_loop())
        seen["gen"] = gen

        def engine() -> None:
            direct = 0
            for t in tokens:
                outbox: list = []
                direct += route(outbox, seq, TokenEvent(t, (1,)))
                deliver(outbox)
                time.sleep(0.0001)
            deliver([(seq, TokenEvent("", finish_reason="stop"))])
            seen["direct"] = direct

        async def chunks():
            threading.Thread(target=engine, daemon=True).start()
            async for batch in gen.batches():
                text = "".join(e.text for e in batch)
                if text:
                    yield fmt(text)
            yield "data: [DONE]\n\n"

        return EventStreamResponse(chunks(), on_disconnect=gen.cancel, direct=(gen, fmt))

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, port=port, log_level="warning", http="httptools", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.02)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        time.sleep(1.0)  # nobody reads: the socket fills while the engine writes
        raw = b""
        sock.settimeout(30)
        while chunk := sock.recv(4096):
            raw += chunk
        sock.close()
    finally:
        server.should_exit = True
        thread.join(10)
    body = unchunk(raw)
    text = "".join(e.removeprefix("data: ") for e in body.decode().split("\n\n")[:-2])
    assert text == "".join(tokens)
    assert body.decode().endswith("data: [DONE]\n\n")
    # Both paths carried tokens: the engine wrote some itself and fell back for others.
    assert 0 < seen["direct"] < len(tokens), seen["direct"]
