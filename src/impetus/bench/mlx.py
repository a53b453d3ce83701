"""MLX engine decode throughput beside llama.cpp's: 1/2/4/8 concurrent sequences, same prompt.

`impetus bench --engine mlx` calls `bench_mlx(path)` and renders `markdown(result)`. Both engines
run in this process through the same engine protocol (submit, stream, scheduler timers), so the
two rows of each size differ only by the engine. Throughput is generated tokens over the wall
time of the whole batch (prefill included), and decode-only tokens/s from the scheduler's timers.
"""

from __future__ import annotations

import asyncio
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

from impetus.engines.protocol import GenerationRequest, SamplingParams

PROMPT = "Write a short story about a lighthouse."  # rendered through each model's own template


@dataclass
class BatchResult:
    engine: str
    concurrency: int
    tokens: int
    seconds: float
    decode_seconds: float
    ttft_seconds: float

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    @property
    def decode_tokens_per_second(self) -> float:
        return self.tokens / self.decode_seconds if self.decode_seconds else 0.0


@dataclass
class MlxBenchResult:
    model: str
    device: str
    load_seconds: float
    max_tokens: int
    batches: list[BatchResult] = field(default_factory=list)
    peak_memory_bytes: int = 0


async def _one_batch(engine, prompt_ids: list[int], n: int, max_tokens: int) -> BatchResult:
    sched = engine.scheduler
    decode0 = sched.stats.decode_seconds
    params = SamplingParams(temperature=0.0, max_tokens=max_tokens, ignore_eos=True)
    t0 = time.perf_counter()
    gens = [engine.submit(GenerationRequest(list(prompt_ids), params)) for _ in range(n)]

    async def drain(gen) -> int:
        count = 0
        async for event in gen:
            count += len(event.token_ids)
        return count

    counts = await asyncio.gather(*(drain(g) for g in gens))
    seconds = time.perf_counter() - t0
    decode = sched.stats.decode_seconds - decode0
    # Each sequence's first token comes from its prefill; the rest from batched decode steps.
    ttft = max((g.usage.ttft_seconds or 0.0) for g in gens)
    return BatchResult(engine.name, n, sum(counts), seconds, decode, ttft)


def bench_mlx(
    path: str | Path,
    *,
    concurrency: tuple[int, ...] = (1, 2, 4, 8),
    max_tokens: int = 32,
    prompt: str = PROMPT,
    with_llamacpp: bool = True,
) -> MlxBenchResult:
    import mlx.core as mx

    from impetus.engines.mlx_engine import MlxEngine

    t0 = time.perf_counter()
    engine = MlxEngine(path, parallel=max(concurrency))
    load = time.perf_counter() - t0
    try:
        ids = _prompt_ids(engine, prompt)
        result = MlxBenchResult(
            model=engine.info.name,
            device=f"{mx.default_device()} ({platform.system()} {platform.machine()})",
            load_seconds=load,
            max_tokens=max_tokens,
        )

        async def run() -> None:
            await _one_batch(engine, ids, 1, 2)  # warm-up: first-call compilation and caches
            mx.reset_peak_memory()
            for n in concurrency:
                result.batches.append(await _one_batch(engine, ids, n, max_tokens))

        asyncio.run(run())
        result.peak_memory_bytes = int(mx.get_peak_memory())
    finally:
        engine.close()
    if with_llamacpp:
        result.batches += _llamacpp_batches(path, concurrency, max_tokens, prompt)
    return result


def _llamacpp_batches(
    path: str | Path, concurrency: tuple[int, ...], max_tokens: int, prompt: str
) -> list[BatchResult]:
    from impetus.engines.llamacpp import LlamaCppEngine

    engine = LlamaCppEngine(path, parallel=max(concurrency))
    try:
        ids = _prompt_ids(engine, prompt)

        async def run() -> list[BatchResult]:
            await _one_batch(engine, ids, 1, 2)
            return [await _one_batch(engine, ids, n, max_tokens) for n in concurrency]

        return asyncio.run(run())
    finally:
        engine.close()


def _prompt_ids(engine, prompt: str) -> list[int]:
    from impetus.api.generation import render_chat

    return render_chat(engine, [{"role": "user", "content": prompt}])


def markdown(result: MlxBenchResult) -> str:
    lines = [
        f"### MLX beside llama.cpp: {result.model}, MLX on {result.device}",
        "",
        f"Load {result.load_seconds:.2f} s; {result.max_tokens} tokens per sequence, greedy;"
        f" peak MLX memory {result.peak_memory_bytes / 2**20:.0f} MiB. The plan's bar for a 7B"
        " model is > 50 tok/s on an M1 and > 100 on an M3 (the concurrency-1 decode rows):"
        " `impetus bench --engine mlx --model PATH` on the Mac prints this table for it.",
        "",
        "| engine | concurrent | tokens | wall s | tok/s (wall) | tok/s (decode) |"
        " last first token s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for b in result.batches:
        lines.append(
            f"| {b.engine} | {b.concurrency} | {b.tokens} | {b.seconds:.2f} | {b.tokens_per_second:.1f}"
            f" | {b.decode_tokens_per_second:.1f} | {b.ttft_seconds:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m impetus.bench.mlx MODEL
    import sys

    print(
        markdown(bench_mlx(sys.argv[1], max_tokens=int(sys.argv[2]) if len(sys.argv) > 2 else 32))
    )
