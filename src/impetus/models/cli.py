"""`impetus models list|show|pull|rm|load|unload`, `impetus ps` and `impetus pull`.

list, show and pull work on the registry directly (no server needed); load, unload and ps ask
the running server; rm asks the server when one is running (so a busy model is refused, not
pulled from under a generation) and works on the registry otherwise.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

models_app = typer.Typer(help="Local models: list, show, pull, remove, load, unload.")

URL = typer.Option("--url", help="Server URL.", envvar="IMPETUS_URL")
API_KEY = typer.Option("--api-key", envvar="IMPETUS_API_KEY", help="API key.")
_DEFAULT_URL = "http://127.0.0.1:8080"


def _registry():
    from impetus.config import Settings
    from impetus.models.registry import Registry

    s = Settings()
    return s, Registry(s.registry_path, s.model_dirs)


def _human(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def _params(n: int | None) -> str:
    if not n:
        return "-"
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", fg="red", err=True)
    return typer.Exit(code)


def _client(url: str, api_key: str | None):
    import httpx

    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.Client(base_url=url, headers=headers, timeout=600)


def _server_error(resp) -> str:
    try:
        return resp.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return resp.text


@models_app.command("list")
def list_models(
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Registered models (scans the models folders first)."""
    from rich.console import Console
    from rich.table import Table

    _, reg = _registry()
    records, bad = reg.scan()
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in records], indent=2))
        return
    table = Table(box=None)
    for col in ("NAME", "ALIASES", "ARCH", "PARAMS", "QUANT", "CTX", "KIND", "SIZE", "SOURCE"):
        table.add_column(col)
    for r in records:
        table.add_row(
            r.name,
            ", ".join(r.aliases),
            r.architecture,
            _params(r.parameters),
            r.quantization or "-",
            str(r.context_length or "-"),
            r.kind,
            _human(r.size_bytes),
            r.source,
        )
    Console().print(table)
    for path, reason in bad.items():
        typer.secho(f"skipped {path}: {reason}", fg="yellow", err=True)


@models_app.command()
def show(name: str) -> None:
    """Everything the registry knows about a model (and its GGUF metadata)."""
    from impetus.models.gguf_info import InvalidModel, read_gguf
    from impetus.models.registry import ModelNotFound

    _, reg = _registry()
    try:
        rec = reg.resolve(name)
    except (ModelNotFound, InvalidModel) as exc:
        raise _fail(str(exc)) from None
    reg.ensure_sha256(rec)
    out = rec.to_dict()
    if rec.format == "gguf":
        info = read_gguf(rec.path)
        out["metadata"] = {k: v for k, v in info.metadata.items() if not isinstance(v, list)}
    typer.echo(json.dumps(out, indent=2, default=str))


@models_app.command()
def pull(
    spec: Annotated[str, typer.Argument(help="org/repo[:file.gguf | :QUANT | :mlx]")],
) -> None:
    """Download a GGUF or an MLX / safetensors folder from the Hugging Face Hub (resumable;
    verified; Ctrl-C keeps the partial download for the next pull; HF_ENDPOINT applies)."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from impetus.models.pull import Puller, PullError

    settings, reg = _registry()
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    ) as bar:
        task = bar.add_task(spec, total=None)

        def progress(e: dict) -> None:
            if "completed" in e:
                bar.update(task, completed=e["completed"], total=e.get("total"))
            if "files_total" in e:
                files = f"{e['files_completed']}/{e['files_total']} files"
                bar.update(task, description=f"{spec}: {e['status']} ({files})")
            elif e.get("status") and e["status"] != "success":
                bar.update(task, description=f"{spec}: {e['status']}")

        try:
            rec = Puller(settings.models_dir, reg).pull(spec, progress)
        except PullError as exc:
            bar.stop()
            raise _fail(str(exc)) from None
        except KeyboardInterrupt:
            bar.stop()
            raise _fail(
                f"interrupted; the partial download stays in {settings.models_dir / '.partial'}"
                " and the same command resumes it",
                130,
            ) from None
    typer.echo(f"{rec.name}  {_human(rec.size_bytes)}  sha256:{rec.sha256}")


@models_app.command("rm")
def remove(
    name: str,
    url: Annotated[str, URL] = _DEFAULT_URL,
    api_key: Annotated[str | None, API_KEY] = None,
) -> None:
    """Delete a model (its file too, when it lives in the models folder)."""
    import httpx

    try:
        with _client(url, api_key) as c:
            resp = c.delete(f"/admin/models/{name}")
        if resp.status_code != 200:
            raise _fail(_server_error(resp))
        typer.echo(f"deleted {resp.json()['name']}")
        return
    except httpx.ConnectError:
        pass  # no server: work on the registry directly
    from pathlib import Path

    from impetus.models.registry import ModelNotFound

    settings, reg = _registry()
    try:
        rec = reg.resolve(name)
    except ModelNotFound as exc:
        raise _fail(str(exc)) from None
    users = [] if rec.derived else reg.derived_using(rec.path)
    if users:
        raise _fail(f"'{rec.name}' is the base of {', '.join(users)}; delete those first")
    path = Path(rec.path)
    # A derived model (Ollama create/copy) only names another model's file: keep the file.
    if not rec.derived and path.resolve().is_relative_to(settings.models_dir.resolve()):
        if path.is_dir():
            import shutil

            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    reg.remove(rec.name)
    typer.echo(f"deleted {rec.name}")


@models_app.command()
def load(
    name: str,
    keep_alive: Annotated[str | None, typer.Option(help="e.g. 5m, 1h, -1 (forever).")] = None,
    pin: Annotated[bool, typer.Option(help="Never evict or expire it.")] = False,
    url: Annotated[str, URL] = _DEFAULT_URL,
    api_key: Annotated[str | None, API_KEY] = None,
) -> None:
    """Load a model into the running server."""
    body = {"keep_alive": keep_alive, "pin": pin}
    with _client(url, api_key) as c:
        resp = c.post(f"/admin/models/{name}/load", json=body)
    if resp.status_code != 200:
        raise _fail(_server_error(resp))
    d = resp.json()
    typer.echo(f"loaded {d['name']} in {d['load_seconds']:.2f}s (~{_human(d['memory_bytes'])})")


@models_app.command()
def unload(
    name: str,
    force: Annotated[bool, typer.Option(help="Wait for running generations.")] = False,
    url: Annotated[str, URL] = _DEFAULT_URL,
    api_key: Annotated[str | None, API_KEY] = None,
) -> None:
    """Unload a model from the running server."""
    with _client(url, api_key) as c:
        resp = c.post(f"/admin/models/{name}/unload", json={"force": force})
    if resp.status_code != 200:
        raise _fail(_server_error(resp))
    typer.echo(f"unloaded {name}" if resp.json()["unloaded"] else f"{name} was not loaded")


def ps(
    url: Annotated[str, URL] = _DEFAULT_URL,
    api_key: Annotated[str | None, API_KEY] = None,
) -> None:
    """Models loaded in the running server."""
    import time

    import httpx
    from rich.console import Console
    from rich.table import Table

    try:
        with _client(url, api_key) as c:
            resp = c.get("/admin/models")
    except httpx.ConnectError:
        raise _fail(f"no server at {url}") from None
    if resp.status_code != 200:
        raise _fail(_server_error(resp))
    body = resp.json()
    table = Table(box=None)
    for col in ("NAME", "MEMORY", "LOAD", "ACTIVE", "UNTIL"):
        table.add_column(col)
    for m in body["loaded"]:
        until = "pinned" if m["pinned"] else "forever"
        if m["expires_at"]:
            until = f"{max(0, m['expires_at'] - time.time()):.0f}s"
        table.add_row(
            m["name"],
            _human(m["memory_bytes"]),
            f"{m['load_seconds']:.2f}s",
            str(m["slots_active"]),
            until,
        )
    Console().print(table)
    mem = body["memory"]
    typer.echo(f"memory: {_human(mem['used_bytes'])} of {_human(mem['budget_bytes'])}")
