"""A closed-loop load generator for any OpenAI-compatible server (Impetus or llama-server).

`concurrency` clients each send streaming chat requests back to back; we record time to first
token, the gaps between tokens, and aggregate completion tokens per second.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

WORDS = [
    "amber",
    "birch",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "glade",
    "harbor",
    "island",
    "juniper",
    "kelp",
    "lagoon",
    "meadow",
    "nectar",
    "orchard",
    "pebble",
    "quarry",
    "ridge",
    "summit",
    "thicket",
    "upland",
    "valley",
    "willow",
    "yarrow",
    "zephyr",
]


def prompt_words(i: int, n: int) -> str:
    body = " ".join(WORDS[(i * 5 + k) % len(WORDS)] for k in range(n))
    return f"Request {i}. Continue this list with more words, one per line: {body}"


async def sse_data(url: str, path: str, payload: dict) -> AsyncIterator[bytes]:
    """POST `payload` as JSON and yield each server-sent event's `data:` field as it arrives.

    Written on a plain asyncio connection rather than httpx: the load generator shares the
    cores with the server it measures, and httpx's per-chunk machinery (its HTTP/1.1 state
    machine, decoders, anyio streams) cost 0.75 ms of CPU per streamed token at one stream,
    ~5% of a core taken from llama.cpp's threads in either server; this reader costs about a
    third of that. Lines split only at LF, as SSE does (a server may leave U+2028 raw in its
    JSON). Raises RuntimeError with the body on a non-200 answer.
    """
    u = urlsplit(url)
    body = json.dumps(payload).encode()
    reader, writer = await asyncio.open_connection(u.hostname, u.port or 80)
    try:
        writer.write(
            b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            b"Accept: text/event-stream\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
            % (path.encode(), u.netloc.encode(), len(body))
            + body
        )
        status = int((await reader.readline()).split()[1])
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {(await reader.read())[:200]!r}")
        chunked = "chunked" in headers.get("transfer-encoding", "")
        rest = b""
        while True:
            if chunked:
                size = int((await reader.readline()).split(b";")[0], 16)
                if size == 0:
                    break
                data = (await reader.readexactly(size + 2))[:-2]
            else:
                data = await reader.read(1 << 16)
                if not data:
                    break
            *lines, rest = (rest + data).split(b"\n")
            for line in lines:
                if line.startswith(b"data:"):
                    yield line[5:].strip()
        if rest.startswith(b"data:"):
            yield rest[5:].strip()
    finally:
        writer.close()


@dataclass
class RequestResult:
    ttft: float
    latency: float
    tokens: int
    gaps: list[float] = field(default_factory=list)


@dataclass
class LoadResult:
    concurrency: int
    requests: int
    errors: int
    wall_s: float
    completion_tokens: int
    tok_s: float
    ttft_p50_ms: float
    ttft_p95_ms: float
    itl_p50_ms: float
    itl_p99_ms: float
    decode_tok_s: float  # per stream, after its first token (what "decode speed" means)
    first_error: str | None = None
    # This process's CPU per completion token: the load generator competes for the cores.
    client_cpu_ms_per_token: float = float("nan")

    def as_dict(self) -> dict:
        return asdict(self)


def percentile(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, round(p / 100 * (len(xs) - 1))))
    return xs[k]


async def _one(url: str, model: str, prompt: str, max_tokens: int, seed: int) -> RequestResult:
    payload = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0.7,
        "seed": seed,
        "stream": True,
        "ignore_eos": True,
        "stream_options": {"include_usage": True},
    }
    t0 = time.perf_counter()
    ttft: float | None = None
    last = t0
    gaps: list[float] = []
    deltas = 0
    usage = None
    async for data in sse_data(url, "/v1/chat/completions", payload):
        if data == b"[DONE]":
            break
        obj = json.loads(data)
        usage = obj.get("usage") or usage
        for choice in obj.get("choices") or []:
            if (choice.get("delta") or {}).get("content"):
                now = time.perf_counter()
                if ttft is None:
                    ttft = now - t0
                else:
                    gaps.append(now - last)
                last = now
                deltas += 1
    total = time.perf_counter() - t0
    tokens = usage["completion_tokens"] if usage and usage.get("completion_tokens") else deltas
    return RequestResult(ttft if ttft is not None else total, total, tokens, gaps)


async def run_load(
    url: str,
    model: str,
    *,
    concurrency: int,
    requests: int,
    max_tokens: int = 128,
    prompt_len_words: int = 64,
    prompts: list[str] | None = None,
) -> LoadResult:
    url = url.rstrip("/")
    results: list[RequestResult] = []
    errors: list[str] = []
    queue = list(range(requests))

    async def worker() -> None:
        while queue:
            i = queue.pop(0)
            prompt = prompts[i % len(prompts)] if prompts else prompt_words(i, prompt_len_words)
            try:
                results.append(await _one(url, model, prompt, max_tokens, i))
            except Exception as exc:  # report, never hide
                errors.append(repr(exc))

    t0 = time.perf_counter()
    cpu0 = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    tokens = sum(r.tokens for r in results)
    ttfts = [r.ttft * 1000 for r in results]
    gaps = [g * 1000 for r in results for g in r.gaps]
    return LoadResult(
        concurrency=concurrency,
        requests=requests,
        errors=len(errors),
        wall_s=round(wall, 3),
        completion_tokens=tokens,
        tok_s=round(tokens / wall, 2) if wall else 0.0,
        ttft_p50_ms=round(statistics.median(ttfts), 1) if ttfts else float("nan"),
        ttft_p95_ms=round(percentile(ttfts, 95), 1),
        itl_p50_ms=round(percentile(gaps, 50), 2),
        itl_p99_ms=round(percentile(gaps, 99), 2),
        decode_tok_s=round(
            statistics.mean((r.tokens - 1) / max(r.latency - r.ttft, 1e-9) for r in results), 2
        )
        if results
        else 0.0,
        first_error=errors[0] if errors else None,
        client_cpu_ms_per_token=round(cpu * 1000 / tokens, 3) if tokens else float("nan"),
    )
