"""`impetus rag`: collections, ingestion and search on this machine's index (no server needed).

It opens the same folder the server uses (`<data_dir>/rag`), so what the CLI ingests the server
finds, and the other way round.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

rag_app = typer.Typer(help="Retrieval: collections, ingestion and search.", no_args_is_help=True)


def _service(resume: bool = True):
    from impetus.config import Settings
    from impetus.rag.embed import load_default_embedder
    from impetus.rag.service import RagService, open_store

    settings = Settings()
    embedder = load_default_embedder(settings.models_dir, n_threads=settings.threads)
    root = settings.data_dir / "rag"
    store = open_store(root, settings.rag_server)
    return RagService(root, embedder, store=store, resume=resume)


def _fail(msg: str) -> typer.Exit:
    typer.secho(f"error: {msg}", fg="red", err=True)
    return typer.Exit(1)


@rag_app.command()
def create(name: str) -> None:
    """Create a collection."""
    svc = _service()
    try:
        svc.create(name)
    except (FileExistsError, ValueError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"created {name}")


@rag_app.command()
def ingest(
    collection: str,
    paths: Annotated[list[str], typer.Argument(help="Files or folders.")],
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag every chunk.")] = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", help="KEY=VALUE metadata.")] = None,
    create_missing: Annotated[bool, typer.Option("--create", help="Create if missing.")] = False,
    watch: Annotated[bool, typer.Option(help="Keep watching the paths and re-index.")] = False,
) -> None:
    """Index files into a collection, with a progress bar; unchanged files are skipped."""
    from rich.progress import Progress

    svc = _service()
    meta_dict = dict(m.split("=", 1) for m in (meta or []) if "=" in m)
    if create_missing and collection not in svc.store.names():
        svc.create(collection)

    def run(batch: list[str]) -> int:
        try:
            job = svc.ingest_paths(collection, batch, tag or [], meta_dict)
        except FileNotFoundError as exc:
            raise _fail(str(exc)) from None
        from impetus.rag.ingest import iter_events

        errors = 0
        with Progress(transient=False) as bar:
            task = bar.add_task(f"ingest {collection}", total=len(job.items))
            for ev in iter_events(job):
                if ev["type"] == "file":
                    bar.advance(task)
                    if ev["status"] == "error":
                        errors += 1
                        bar.console.print(f"[red]{ev['source']}: {ev['error']}")
        counts = job.to_json()["counts"]
        typer.echo(" ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "nothing to do")
        return errors

    errors = run(paths)
    if watch:
        from watchfiles import watch as watch_paths

        from impetus.rag.watch import apply_changes

        typer.echo("watching for changes (Ctrl-C to stop)")
        try:
            for changes in watch_paths(*paths):
                apply_changes(svc, collection, changes, paths, run)
        except KeyboardInterrupt:
            pass  # the way out of a watch: stop cleanly, exit 0 unless the first pass failed
    svc.close()
    raise typer.Exit(1 if errors else 0)


@rag_app.command()
def search(
    collection: str,
    query: str,
    k: Annotated[int, typer.Option("-k", help="Results.")] = 5,
    mode: Annotated[str, typer.Option(help="vector, keyword or hybrid.")] = "hybrid",
    filters: Annotated[str | None, typer.Option("--filter", help="Filters as JSON.")] = None,
    weight: Annotated[float, typer.Option(help="Vector share in hybrid fusion.")] = 0.5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search a collection."""
    from impetus.rag.store import FilterError

    svc = _service(resume=False)
    try:
        hits = svc.search(
            [collection],
            query,
            k=k,
            mode=mode,  # type: ignore[arg-type]
            filters=json.loads(filters) if filters else None,
            weight=weight,
        )
    except (FileNotFoundError, FilterError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(hits, indent=2))
        return
    for h in hits:
        where = h["source"] + (f" p.{h['page']}" if h["page"] else "")
        where += f" § {h['section']}" if h["section"] else ""
        typer.echo(f"{h['score']:.4f}  {where}  [{h['chunk_id']}]")
        typer.echo("    " + " ".join(h["text"].split())[:200])


@rag_app.command("ls")
def ls(collection: Annotated[str | None, typer.Argument()] = None) -> None:
    """List collections, or the documents of one."""
    svc = _service(resume=False)
    try:
        if collection is None:
            for c in svc.collections():
                typer.echo(f"{c['name']}\t{c['documents']} documents\t{c['chunks']} chunks")
            return
        for d in svc.documents(collection):
            typer.echo(f"{d['doc_id']}\t{d['chunks']} chunks\t{d['type']}\t{d['source']}")
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from None


@rag_app.command("rm")
def rm(
    collection: str,
    doc: Annotated[str | None, typer.Option("--doc", help="Remove one document (id).")] = None,
) -> None:
    """Delete a collection, or one document of it."""
    svc = _service(resume=False)
    try:
        ok = svc.delete_document(collection, doc) if doc else svc.drop(collection)
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from None
    if not ok:
        raise _fail(f"nothing named {doc or collection}")
    typer.echo(f"removed {doc or collection}")
