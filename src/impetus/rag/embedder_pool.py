"""Embedding models besides the default one, loaded when a request names them.

The bundled all-MiniLM-L6-v2 is the server's default embedder and stays loaded (RAG's
collections are built with it). Any other embedding GGUF is loaded on the first request that
names it, on a worker thread and only once however many requests ask at the same time, then
kept for the next ones. At most `max_loaded` stay in memory: when another is needed, the one
used longest ago is closed, but never one that a request is still using.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from impetus.rag.embed import Embedder

MAX_LOADED = 3  # embedding GGUFs are small next to chat models; a few cover mixed clients


class LoadFailed(RuntimeError):
    """The model could not be loaded (the cause is chained); raised only by loading, so a
    caller can tell it from errors of its own work inside `use`."""


@dataclass
class _Entry:
    embedder: Embedder
    users: int = 0
    last_used: float = field(default_factory=time.monotonic)


class EmbedderPool:
    """Embedders keyed by GGUF path. Use from one event loop only (the bookkeeping has no
    lock of its own: it never awaits between looking an entry up and counting its user)."""

    def __init__(self, load: Callable[[Path, str], Embedder], max_loaded: int = MAX_LOADED) -> None:
        self._load = load
        self.max_loaded = max(1, max_loaded)
        self._entries: dict[Path, _Entry] = {}
        self._loading: dict[Path, asyncio.Lock] = {}

    def loaded(self) -> list[Path]:
        return list(self._entries)

    @asynccontextmanager
    async def use(self, path: Path, name: str) -> AsyncIterator[Embedder]:
        """The embedder for `path` (loading it if needed), kept open until the block ends."""
        entry = self._entries.get(path)
        if entry is None:
            lock = self._loading.setdefault(path, asyncio.Lock())
            async with lock:
                entry = self._entries.get(path)
                if entry is None:
                    try:
                        embedder = await asyncio.to_thread(self._load, path, name)
                    except Exception as exc:
                        raise LoadFailed(f"{path.name} could not be loaded") from exc
                    entry = self._entries[path] = _Entry(embedder)
        entry.users += 1
        try:
            self._evict()
            yield entry.embedder
        finally:
            entry.users -= 1
            entry.last_used = time.monotonic()
            self._evict()

    def _evict(self) -> None:
        while len(self._entries) > self.max_loaded:
            idle = [(e.last_used, p) for p, e in self._entries.items() if e.users == 0]
            if not idle:
                return  # all busy: over the cap until one is done
            _, path = min(idle)
            # Idle means no encode is running on it, so closing does not wait on its lock.
            self._entries.pop(path).embedder.close()

    def close(self) -> None:
        entries, self._entries = self._entries, {}
        for entry in entries.values():
            entry.embedder.close()
