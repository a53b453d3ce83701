"""`impetus bench`: measurements written to BENCHMARKS.md, each comparison in the same run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from impetus.bench import report

bench_app = typer.Typer(
    help="Benchmarks; results go to BENCHMARKS.md.", invoke_without_command=True
)

OutOpt = Annotated[Path, typer.Option("--out", help="Markdown file to update.")]
ModelOpt = Annotated[str | None, typer.Option(help="GGUF path \\[default: bundled model].")]


def _model(model: str | None) -> Path:
    from impetus.config import Settings
    from impetus.models.resolve import resolve_model_path

    return resolve_model_path(model, Settings().models_dir)


@bench_app.callback()
def _engine(
    ctx: typer.Context,
    engine: Annotated[
        str | None,
        typer.Option(help="`mlx`: the MLX engine beside llama.cpp (as `impetus bench mlx`)."),
    ] = None,
    out: OutOpt = Path("BENCHMARKS.md"),
    model: ModelOpt = None,
) -> None:
    """`impetus bench` alone runs every benchmark (`make bench`); `impetus bench --engine mlx
    --model PATH` is the one command a Mac user runs to report MLX numbers for a model."""
    if ctx.invoked_subcommand is not None:
        return
    if engine == "mlx":
        mlx(out=out, model=model)
    elif engine == "llama.cpp":
        serving(out=out, model=model)
    elif engine is None:
        all_(out=out, model=model)
    else:
        raise typer.BadParameter(
            f"unknown engine {engine!r} (mlx or llama.cpp)", param_hint="--engine"
        )


@bench_app.command()
def startup(
    out: OutOpt = Path("BENCHMARKS.md"),
    model: ModelOpt = None,
    repeats: Annotated[int, typer.Option(help="Server starts to time.")] = 5,
) -> None:
    """Start-to-ready time and idle RSS with the model loaded."""
    from impetus.bench import startup as bench_startup

    result, body = bench_startup.run(model, repeats)
    typer.echo(json.dumps(result))
    cmd = "impetus bench startup"
    report.write_section(
        out, "startup", f"## Start-up and idle memory\n\n{report.stamp(cmd)}\n\n{body}"
    )


@bench_app.command()
def serving(out: OutOpt = Path("BENCHMARKS.md"), model: ModelOpt = None) -> None:
    """Concurrency 1/2/4/8 against llama-server and raw batched decode; TTFT; long prompts."""
    from impetus.bench import serving as bench_serving

    path = _model(model)
    res = bench_serving.run(path, log=lambda m: typer.echo(m, err=True))
    plot = out.parent / "docs" / "images" / "bench-serving.png"
    body = bench_serving.render(res, plot.relative_to(out.parent) if plot else None)
    if plot:
        bench_serving._plot(res, plot)
    typer.echo(body)
    cmd = "impetus bench serving"
    report.write_section(
        out, "serving", f"## Serving under concurrency\n\n{report.stamp(cmd)}\n\n{body}"
    )


@bench_app.command()
def mlx(out: OutOpt = Path("BENCHMARKS.md"), model: ModelOpt = None) -> None:
    """The MLX engine at 1/2/4/8 streams (Metal on Apple Silicon, CPU elsewhere)."""
    from impetus.bench.mlx import bench_mlx, markdown

    result = bench_mlx(_model(model))
    body = markdown(result)
    typer.echo(body)
    cmd = "impetus bench mlx"
    report.write_section(out, "mlx", f"## MLX engine\n\n{report.stamp(cmd)}\n\n{body}")


@bench_app.command("rag")
def rag_(
    out: OutOpt = Path("BENCHMARKS.md"),
    stores: Annotated[str, typer.Option(help="Comma-separated stores.")] = (
        "lancedb,faiss-hnsw,qdrant-edge,chroma,milvus-lite"
    ),
    sizes: Annotated[str, typer.Option(help="Comma-separated collection sizes.")] = "10000,100000",
    work: Annotated[
        Path, typer.Option(help="Scratch folder; results/ keeps finished cells.")
    ] = Path("/tmp/impetus-bench-rag"),
    build_timeout: Annotated[float, typer.Option(help="Seconds a store may take to build.")] = 720,
    query_timeout: Annotated[float, typer.Option(help="Seconds for one store's queries.")] = 900,
    fresh: Annotated[bool, typer.Option(help="Re-measure cells already in WORK/results.")] = False,
    measure: Annotated[
        bool, typer.Option(help="--no-measure: only rewrite the report from WORK/results.")
    ] = True,
    embed: Annotated[bool, typer.Option(help="Also embedding throughput and pages/s.")] = True,
) -> None:
    """Vector stores on the same data (ingest, latency, recall, RSS, disk, open time, index
    build), latency vs collection size, embedding throughput and ingestion pages/s. Store
    results accumulate in docs/bench/rag-stores.json (newest per store and size)."""
    from impetus.bench import rag, rag_report

    results = rag.run(
        stores.split(","),
        [int(s) for s in sizes.split(",")],
        work,
        log=lambda m: typer.echo(m, err=True),
        build_timeout=build_timeout,
        query_timeout=query_timeout,
        fresh=fresh,
        measure=measure,
    )
    root = out.parent
    merged = rag.merge(root / "docs" / "bench" / "rag-stores.json", results)
    ingest_json = root / "docs" / "bench" / "rag-ingest.json"
    if embed:
        from impetus.bench import rag_ingest

        ingest_json.write_text(json.dumps(rag_ingest.run(), indent=1) + "\n")
    ingest = json.loads(ingest_json.read_text()) if ingest_json.exists() else None
    body = rag_report.render(merged, ingest)
    plot = root / "docs" / "images" / "bench-rag-latency.png"
    if rag_report.plot(merged, plot):
        body += f"\n![p95 latency vs collection size]({plot.relative_to(root)})\n"
    typer.echo(body)
    cmd = f"impetus bench rag --stores {stores} --sizes {sizes}"
    cmd += ("" if measure else " --no-measure") + ("" if embed else " --no-embed")
    report.write_section(
        out, "rag", f"## RAG: vector stores and retrieval\n\n{report.stamp(cmd)}\n\n{body}"
    )


@bench_app.command()
def ui(
    out: OutOpt = Path("BENCHMARKS.md"),
    model: ModelOpt = None,
    seconds: Annotated[float, typer.Option(help="Measurement window.")] = 18.0,
    streams: Annotated[int, typer.Option(help="Concurrent streaming chats.")] = 8,
) -> None:
    """The dashboard's Overview frame times and long tasks in headless chromium, with chat
    streams running (targets: frame p95 < 16.7 ms, no long task > 50 ms)."""
    from impetus.bench import ui as bench_ui

    result = bench_ui.measure(
        _model(model), seconds, streams, log=lambda m: typer.echo(m, err=True)
    )
    typer.echo(json.dumps(bench_ui.as_dict(result)))
    body = bench_ui.render(result)
    report.write_section(
        out, "ui", f"## Dashboard under load\n\n{report.stamp('impetus bench ui')}\n\n{body}"
    )


@bench_app.command("all")
def all_(out: OutOpt = Path("BENCHMARKS.md"), model: ModelOpt = None) -> None:
    """Start-up, serving, model loads, the MLX engine (when mlx is installed), the dashboard
    and the tray (20-30 minutes on 2 cores; builds llama-server the first time). RAG stores
    are measured by `impetus bench rag` on its own: its 1M cells take an hour."""
    from impetus.bench.models import bench_models
    from impetus.bench.tray import tray as bench_tray
    from impetus.engines.mlx_engine import mlx_available

    startup(out=out, model=model)
    serving(out=out, model=model)
    bench_models(out=out)
    if mlx_available():
        mlx(out=out, model=model)
    try:
        ui(out=out, model=model)
    except (ImportError, RuntimeError) as exc:  # no playwright or no chromium
        typer.echo(f"ui benchmark skipped ({exc})", err=True)
    try:
        bench_tray(seconds=60.0, write=out)
    except typer.Exit:
        typer.echo("tray benchmark skipped (no display tools)", err=True)
