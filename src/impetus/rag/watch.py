"""`impetus rag ingest --watch`: watchfiles' batches of changes turned into index updates.

Apart from the CLI's loop, so it can be driven (and tested) without a watcher or a terminal.
watchfiles reports paths as it watches them, which may be relative or go through a symlinked
folder, while documents are stored under `source_path` (folders resolved); every path goes
through `source_path` here too, so a deleted file finds its document, and a deleted folder
removes the documents of every file that was under it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from impetus.rag.ingest import hidden_under, source_path


@dataclass
class Plan:
    ingest: list[str] = field(default_factory=list)  # files or folders to (re)index
    gone: list[Path] = field(default_factory=list)  # paths that no longer exist


def plan_changes(changes: Iterable[tuple[object, str]], roots: Iterable[str | Path]) -> Plan:
    """What one batch of `(change, path)` pairs means for the index. What a path is now
    decides, not the change kind: a file saved by rename shows up as deleted and added, and
    one created and removed within a batch is simply gone. Hidden files and folders under a
    watched folder are left out, as a folder ingest leaves them out."""
    folders = [r for r in map(source_path, roots) if r.is_dir()]
    out = Plan()
    for path in sorted({source_path(raw) for _, raw in changes}):
        if any(hidden_under(path, root) for root in folders):
            continue
        if path.exists():
            out.ingest.append(str(path))
        else:
            out.gone.append(path)
    return out


def gone_documents(sources: Iterable[tuple[str, str]], gone: Iterable[Path]) -> list[str]:
    """The doc ids, among `(doc_id, source)` pairs, of files at or under the `gone` paths."""
    prefixes = [(str(g), str(g).rstrip(os.sep) + os.sep) for g in gone]
    return [
        doc_id
        for doc_id, source in sources
        if any(source == exact or source.startswith(under) for exact, under in prefixes)
    ]


def apply_changes(
    svc,
    collection: str,
    changes: Iterable[tuple[object, str]],
    roots: Iterable[str | Path],
    ingest: Callable[[list[str]], object],
) -> Plan:
    """Remove the documents of what is gone, then hand what changed to `ingest` (a job; the
    content hashes skip files that did not really change)."""
    plan = plan_changes(changes, roots)
    if plan.gone:
        docs = [(d["doc_id"], d["source"]) for d in svc.documents(collection)]
        for doc_id in gone_documents(docs, plan.gone):
            svc.delete_document(collection, doc_id)
    if plan.ingest:
        ingest(plan.ingest)
    return plan
