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

import httpx

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


async def sse_lines(resp: httpx.Response) -> AsyncIterator[str]:
    """The response's lines as SSE splits them: at LF (and CRLF). httpx's `aiter_lines` also
    splits at U+2028, U+2029 and U+0085, which llama-server leaves raw inside its JSON, and
    a token carrying one broke a chunk in two (the bench crashed on it)."""
    rest = ""
    async for text in resp.aiter_text():
        *lines, rest = (rest + text).split("\n")
        for line in lines:
            yield line.removesuffix("\r")
    if rest:
        yield rest


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


async def _one(
    client: httpx.AsyncClient, url: str, model: str, prompt: str, max_tokens: int, seed: int
) -> RequestResult:
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
    async with client.stream("POST", url + "/v1/chat/completions", json=payload) as resp:
        if resp.status_code != 200:
            raise RuntimeError(f"HTTP {resp.status_code}: {(await resp.aread())[:200]!r}")
        async for line in sse_lines(resp):
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
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
    limits = httpx.Limits(max_connections=concurrency + 2)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:

        async def worker() -> None:
            while queue:
                i = queue.pop(0)
                prompt = prompts[i % len(prompts)] if prompts else prompt_words(i, prompt_len_words)
                try:
                    results.append(await _one(client, url, model, prompt, max_tokens, i))
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
