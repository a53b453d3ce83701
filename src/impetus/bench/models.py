"""`impetus bench models`: model load time (cold and warm page cache) and memory per model.

Each measurement runs in a fresh process so RSS is the model's alone. "Cold" drops the file's
pages from the page cache first (posix_fadvise DONTNEED, no root needed for clean pages);
"warm" loads again straight after. Memory is RSS after loading and after a short decode (mmap
pages count once touched), next to the manager's estimate that the memory budget uses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

_PROBE = """
import json, sys, time, psutil
proc = psutil.Process()
base = proc.memory_info().rss
from impetus.engines.llamacpp import LlamaCppEngine
from impetus.engines.protocol import GenerationRequest, SamplingParams
t0 = time.perf_counter()
engine = LlamaCppEngine(sys.argv[1], ctx=int(sys.argv[2]), parallel=1)
load = time.perf_counter() - t0
loaded = proc.memory_info().rss
tokens = engine.tokenize("Hello, how are you today?", add_special=True, parse_special=True)
import asyncio
async def one():
    gen = engine.submit(GenerationRequest(tokens, SamplingParams(temperature=0, max_tokens=8)))
    async for _ in gen:
        pass
asyncio.run(one())
print(json.dumps({"load_seconds": load, "rss_base": base, "rss_loaded": loaded,
                  "rss_decoded": proc.memory_info().rss}))
engine.close()
"""


def drop_page_cache(path: Path) -> bool:
    if not hasattr(os, "posix_fadvise"):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        return True
    finally:
        os.close(fd)


def measure(path: Path, ctx: int, *, cold: bool) -> dict:
    dropped = drop_page_cache(path) if cold else False
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path), str(ctx)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["cache_dropped"] = dropped
    return result


def bench_models(
    out: Annotated[Path, typer.Option("--out", help="Markdown file to update.")] = Path(
        "BENCHMARKS.md"
    ),
    model: Annotated[
        list[str] | None, typer.Option(help="Models to measure [default: all chat GGUFs].")
    ] = None,
    ctx: Annotated[int, typer.Option(help="KV cache cells.")] = 4096,
) -> None:
    """Load time (cold and warm page cache) and memory per registered model."""
    from impetus.bench import report
    from impetus.config import Settings
    from impetus.models.manager import estimate_memory
    from impetus.models.registry import Registry

    s = Settings()
    reg = Registry(s.registry_path, s.model_dirs)
    reg.scan()
    records = [reg.resolve(m) for m in model] if model else reg.list()
    records = [r for r in records if r.format == "gguf" and r.kind == "chat"]
    rows = []
    mib = 1024 * 1024
    for rec in records:
        path = Path(rec.path)
        cold = measure(path, ctx, cold=True)
        warm = measure(path, ctx, cold=False)
        row = [
            rec.name,
            f"{rec.size_bytes / mib:.0f}",
            f"{cold['load_seconds']:.3f}" + ("" if cold["cache_dropped"] else " (not dropped)"),
            f"{warm['load_seconds']:.3f}",
            f"{(warm['rss_loaded'] - warm['rss_base']) / mib:.0f}",
            f"{(warm['rss_decoded'] - warm['rss_base']) / mib:.0f}",
            f"{estimate_memory(path, ctx) / mib:.0f}",
        ]
        rows.append(row)
        typer.echo(" | ".join(row), err=True)
    body = report.table(
        [
            "model",
            "file MiB",
            "cold load s",
            "warm load s",
            "RSS loaded MiB",
            "RSS after decode MiB",
            "budget estimate MiB",
        ],
        rows,
    )
    note = (
        f"ctx={ctx}, one slot; each load in a fresh process. Weights are mmapped, so RSS grows"
        " as pages are touched; the estimate (file + KV cache: q8_0 keys, f16 values) is what the memory budget"
        " counts."
    )
    typer.echo(body)
    cmd = "impetus bench models"
    report.write_section(
        out, "models", f"## Model load time and memory\n\n{report.stamp(cmd)}\n\n{note}\n\n{body}"
    )
