"""The `impetus` command. Heavy imports stay inside commands so `--help` and start-up are fast."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from impetus import __version__

if TYPE_CHECKING:
    from impetus.config import Settings

app = typer.Typer(
    name="impetus",
    help="A local LLM server: OpenAI, Ollama and Anthropic APIs on your own machine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"impetus {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    pass


def _settings(**cli_values):
    """Settings with CLI values on top (only the ones the user actually gave)."""
    from pydantic import ValidationError

    from impetus.config import Settings

    given = {k: v for k, v in cli_values.items() if v not in (None, [], ())}
    try:
        return Settings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        typer.secho(f"error: invalid setting {where}: {first['msg']}", fg="red", err=True)
        raise typer.Exit(2) from None


def _has_dashboard_keys(settings: Settings) -> bool:
    """Keys created in the dashboard (`/admin/keys`) protect a non-loopback bind too."""
    if not settings.keys_path.is_file():
        return False
    from impetus.server.keys import KeyStore

    store = KeyStore(settings.keys_path)
    try:
        return bool(store)
    finally:
        store.close()


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind \\[default: 127.0.0.1].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port \\[default: 8080].")] = None,
    model: Annotated[
        str | None, typer.Option(help="GGUF path or model name \\[default: bundled SmolLM2].")
    ] = None,
    ctx: Annotated[
        int | None,
        typer.Option(help="KV cache tokens shared by all slots \\[default: model's, ≤4096]."),
    ] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads \\[default: cores].")] = None,
    parallel: Annotated[
        int | None, typer.Option(help="Concurrent sequences \\[default: 8].")
    ] = None,
    cache_type_k: Annotated[
        str | None,
        typer.Option(
            help="KV key type, q8_0 or f16 \\[default: q8_0: output independent of batching]."
        ),
    ] = None,
    engine: Annotated[
        str | None, typer.Option(help="auto, llama.cpp or mlx \\[default: auto].")
    ] = None,
    api_key: Annotated[
        list[str] | None,
        typer.Option(envvar="IMPETUS_API_KEY", help="Require this API key (repeatable)."),
    ] = None,
    insecure: Annotated[
        bool, typer.Option(help="Allow a non-loopback bind without an API key.")
    ] = False,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning, error.")] = None,
) -> None:
    """Start the server."""
    settings = _settings(
        host=host,
        port=port,
        model=model,
        ctx=ctx,
        threads=threads,
        parallel=parallel,
        cache_type_k=cache_type_k,
        engine=engine,
        api_keys=api_key,
        insecure=insecure or None,
        log_level=log_level,
    )
    if (
        not settings.is_loopback
        and not settings.api_key_values()
        and not settings.insecure
        and not _has_dashboard_keys(settings)
    ):
        typer.secho(
            f"refusing to listen on {settings.host} without an API key: anyone on your network "
            "could use this machine's models.\nSet --api-key (or IMPETUS_API_KEY), or pass "
            "--insecure if this network is trusted.",
            fg="red",
            err=True,
        )
        raise typer.Exit(2)
    from impetus.server.serve import run

    raise typer.Exit(run(settings))


@app.command()
def chat(
    url: Annotated[str, typer.Option(help="Server URL.")] = "http://127.0.0.1:8080",
    model: Annotated[str | None, typer.Option(help="Model to talk to.")] = None,
    system: Annotated[str | None, typer.Option(help="System prompt.")] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Longest reply, in tokens.")] = None,
    api_key: Annotated[str | None, typer.Option(envvar="IMPETUS_API_KEY", help="API key.")] = None,
) -> None:
    """Chat with a running server in the terminal (streaming)."""
    from impetus.chat_cli import run_chat

    raise typer.Exit(run_chat(url, model, system, temperature, api_key, max_tokens))


@app.command()
def setup() -> None:
    """Install the bundled chat and embedding models into the data folder (make install runs this)."""
    from impetus.models import bundled
    from impetus.rag import bundled_embedder

    settings = _settings()
    path = bundled.install(settings.models_dir, quiet=False)
    typer.echo(f"default chat model: {path}")
    path = bundled_embedder.install(settings.models_dir, quiet=False)
    typer.echo(f"default embedding model: {path}")


@app.command()
def paths() -> None:
    """Show where Impetus keeps its config and data."""
    from impetus.config import config_file

    settings = _settings()
    typer.echo(f"config: {config_file()}")
    typer.echo(f"data:   {settings.data_dir}")
    typer.echo(f"models: {settings.models_dir}")


def _register_subcommands() -> None:
    from impetus.bench.cli import bench_app
    from impetus.bench.tray import tray as bench_tray
    from impetus.rag.cli import rag_app
    from impetus.tray.cli import service_app, tray

    app.command("tray")(tray)
    app.add_typer(service_app, name="service")
    bench_app.command("tray")(bench_tray)
    from impetus.bench.models import bench_models

    bench_app.command("models")(bench_models)
    app.add_typer(bench_app, name="bench")
    from impetus.models.cli import models_app, ps
    from impetus.models.cli import pull as models_pull

    app.add_typer(models_app, name="models")
    app.command("ps")(ps)
    app.command("pull")(models_pull)
    app.add_typer(rag_app, name="rag")


_register_subcommands()


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app(prog_name="impetus")


if __name__ == "__main__":
    sys.exit(main())
