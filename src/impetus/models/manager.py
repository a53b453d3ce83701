"""Which models are in memory: on-demand loading, a memory budget, LRU eviction, keep_alive.

All bookkeeping happens on the event loop; llama.cpp loads and frees on worker threads. A model
is only unloaded when its engine is idle (no active slot, nothing queued), and that check and the
removal from the table happen in one synchronous step on the loop, so a router that calls
`acquire()` and then `engine.submit()` without awaiting in between never gets a closed engine.
The default model is pinned: it stays loaded whatever the budget or keep_alive say.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impetus.config import Settings
from impetus.models.gguf_info import InvalidModel, read_gguf
from impetus.models.registry import ModelNotFound, ModelRecord, Registry
from impetus.server.errors import ApiError

log = logging.getLogger("impetus.models")

_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}


def parse_keep_alive(value: str | float | int | None) -> float | None:
    """Ollama's keep_alive: seconds as a number, or "30s", "5m", "1h"; negative = forever
    (returns None), 0 = unload as soon as idle."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("keep_alive must be a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        m = _DURATION.match(value)
        if not m:
            raise ValueError(f"keep_alive must be a duration like 30s, 5m or -1, not {value!r}")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    return None if seconds < 0 else seconds


# Bytes per element of a cached key: q8_0 stores 32 values in 34 bytes. Values are f16.
_KEY_BYTES = {"q8_0": 34 / 32, "f16": 2.0}


def estimate_memory(path: Path, n_ctx: int | None, cache_type_k: str = "q8_0") -> int:
    """Weights (mmapped, counted in full) plus the KV cache for `n_ctx` cells."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    size = path.stat().st_size
    try:
        info = read_gguf(path)
    except InvalidModel:
        return size
    meta, arch = info.metadata, info.architecture

    def num(key: str, default: int = 0) -> int:
        v = meta.get(f"{arch}.{key}", default)
        return v if isinstance(v, int) else default

    n_layer, n_embd, n_head = (
        num("block_count"),
        num("embedding_length"),
        num("attention.head_count", 1),
    )
    n_head_kv = num("attention.head_count_kv", n_head) or n_head
    head_dim = n_embd // max(1, n_head)
    k = num("attention.key_length", head_dim)
    v = num("attention.value_length", head_dim)
    cells = n_ctx or min(info.context_length or 4096, 4096)
    return size + int(cells * n_layer * n_head_kv * (k * _KEY_BYTES[cache_type_k] + v * 2))


@dataclass
class Loaded:
    record: ModelRecord
    engine: Any
    load_seconds: float
    memory_bytes: int
    loaded_at: float
    last_used: float
    keep_alive: float | None  # seconds idle before unloading; None = forever
    pinned: bool = False

    @property
    def name(self) -> str:
        return self.record.name

    def busy(self) -> bool:
        try:
            s = self.engine.stats()
        except Exception:
            return False
        return bool(s.get("slots_active", 0) or s.get("queue_depth", 0))

    @property
    def expires_at(self) -> float | None:
        if self.pinned or self.keep_alive is None:
            return None
        return self.last_used + self.keep_alive

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "engine": getattr(self.engine, "name", "?"),
            "pinned": self.pinned,
            "load_seconds": round(self.load_seconds, 4),
            "memory_bytes": self.memory_bytes,
            "loaded_at": self.loaded_at,
            "last_used": self.last_used,
            "expires_at": self.expires_at,
            "context_length": self.engine.info.context_length,
            "slots_active": int(self.engine.stats().get("slots_active", 0)),
        }


Loader = Callable[[Path, Settings, str], Any]


class ModelManager:
    """Loaded engines keyed by registry name. Methods named here are the API routers use:

    `acquire(spec, keep_alive)` (engine, loading on demand), `load`, `unload`, `delete`,
    `list_models()`, `show(spec)`, `loaded()`, `running()` (Ollama /api/ps shape), `resolve`.
    """

    def __init__(self, settings: Settings, loader: Loader, registry: Registry | None = None):
        self.settings = settings
        self.registry = registry or Registry(settings.registry_path, settings.model_dirs)
        self._loader = loader
        self._loaded: dict[str, Loaded] = {}
        self._table_lock = threading.Lock()  # the load thread at start-up also writes
        self._load_locks: dict[str, asyncio.Lock] = {}
        self.default_name: str | None = None
        self.budget = settings.memory_budget_bytes
        self.default_keep_alive = parse_keep_alive(settings.keep_alive)
        self._reaper: asyncio.Task | None = None
        self._pulls = None  # models/pull_jobs.py, imported on the first pull (httpx, hub)

    # --- lookup ---------------------------------------------------------------------------

    def resolve(self, spec: str | None) -> ModelRecord:
        """A registry record for what a client asked for; ApiError 404/400 otherwise."""
        if not spec or spec == "default":
            if self.default_name is None:
                raise ApiError(503, "no default model is loaded", type="server_error")
            spec = self.default_name
        try:
            return self.registry.resolve(spec)
        except ModelNotFound:
            for entry in self.loaded():  # names llama.cpp reads from the file (general.name)
                if spec in getattr(entry.engine, "aliases", ()):
                    return entry.record
            self.registry.scan()  # a file dropped into the folder since the last scan
            rec = self.registry.get(spec)
            if rec is None:
                names = ", ".join(r.name for r in self.registry.list()[:20])
                raise ApiError(
                    404,
                    f"the model '{spec}' does not exist; available: {names}",
                    param="model",
                    code="model_not_found",
                ) from None
            return rec
        except InvalidModel as exc:
            raise ApiError(400, str(exc), param="model", code="invalid_model") from None

    def file_record(self, rec: ModelRecord) -> ModelRecord:
        """The record whose engine serves `rec`: a derived model runs on its file's model, so
        it shares that model's engine (one load, one KV cache, batched together)."""
        if not rec.derived:
            return rec
        base = self.registry.get_file_model(rec.path)
        if base is None:
            raise ApiError(
                404,
                f"'{rec.name}' runs on {rec.path}, which is no longer registered",
                param="model",
                code="model_not_found",
            )
        return base

    def loaded(self) -> list[Loaded]:
        with self._table_lock:
            return list(self._loaded.values())

    def get_loaded(self, name: str) -> Loaded | None:
        with self._table_lock:
            return self._loaded.get(name)

    def memory_used(self) -> int:
        return sum(e.memory_bytes for e in self.loaded())

    # --- loading --------------------------------------------------------------------------

    def _n_ctx(self) -> int | None:
        return self.settings.ctx

    def load_sync(self, rec: ModelRecord, *, pin: bool = False) -> Loaded:
        """Load on the calling thread (start-up's default model); no eviction."""
        t0 = time.perf_counter()
        memory = estimate_memory(Path(rec.path), self._n_ctx(), self.settings.cache_type_k)
        engine = self._loader(Path(rec.path), self.settings, rec.name)
        entry = self._register(rec, engine, time.perf_counter() - t0, memory, pin, None)
        if pin:
            self.default_name = rec.name
        return entry

    def _register(self, rec, engine, seconds, memory, pin, keep_alive) -> Loaded:
        now = time.time()
        entry = Loaded(
            record=rec,
            engine=engine,
            load_seconds=seconds,
            memory_bytes=memory,
            loaded_at=now,
            last_used=now,
            keep_alive=self.default_keep_alive if keep_alive is None else keep_alive,
            pinned=pin,
        )
        with self._table_lock:
            self._loaded[rec.name] = entry
        self.registry.touch(rec.name)
        log.info("model=%s loaded in %.2fs (~%d MiB)", rec.name, seconds, memory // (1024 * 1024))
        return entry

    async def acquire(self, spec: str | None, keep_alive: str | float | None = None):
        """The engine for `spec`, loaded on demand. Call `engine.submit` right after, without
        awaiting in between (that is what keeps the engine from being unloaded under you)."""
        entry = await self.load(spec, keep_alive=keep_alive)
        return entry.engine

    async def load(
        self, spec: str | None, *, keep_alive: str | float | None = None, pin: bool = False
    ) -> Loaded:
        self._start_reaper()
        rec = self.file_record(self.resolve(spec))
        if rec.kind != "chat":
            raise ApiError(
                400,
                f"'{rec.name}' is an embedding model; use /v1/embeddings",
                param="model",
                code="model_not_supported",
            )
        try:
            ka = self.default_keep_alive if keep_alive is None else parse_keep_alive(keep_alive)
        except ValueError as exc:
            raise ApiError(400, str(exc), param="keep_alive") from None
        entry = self.get_loaded(rec.name)
        if entry is None:
            lock = self._load_locks.setdefault(rec.name, asyncio.Lock())
            async with lock:
                entry = self.get_loaded(rec.name)
                if entry is None:
                    entry = await self._load_new(rec, ka, pin)
        entry.last_used = time.time()
        if keep_alive is not None and not entry.pinned:
            entry.keep_alive = ka
        if pin:
            entry.pinned = True
        return entry

    async def _load_new(self, rec: ModelRecord, keep_alive: float | None, pin: bool) -> Loaded:
        path = Path(rec.path)
        memory = await asyncio.to_thread(
            estimate_memory, path, self._n_ctx(), self.settings.cache_type_k
        )
        await self._make_room(memory, rec.name)
        t0 = time.perf_counter()
        try:
            engine = await asyncio.to_thread(self._loader, path, self.settings, rec.name)
        except Exception as exc:
            log.error("model=%s failed to load: %s", rec.name, exc)
            raise ApiError(
                400 if isinstance(exc, ValueError | OSError) else 500,
                f"could not load '{rec.name}': {exc}",
                param="model",
                code="model_load_failed",
            ) from None
        return self._register(rec, engine, time.perf_counter() - t0, memory, pin, keep_alive)

    async def _make_room(self, need: int, for_name: str) -> None:
        """Unload idle, unpinned models, least recently used first, until `need` fits."""
        while True:
            used = self.memory_used()
            if used + need <= self.budget or not self.loaded():
                return
            idle = [e for e in self.loaded() if not e.pinned and not e.busy()]
            if not idle:
                raise ApiError(
                    503,
                    f"not enough memory budget to load '{for_name}' (needs ~{need >> 20} MiB,"
                    f" {max(0, self.budget - used) >> 20} MiB free of {self.budget >> 20} MiB);"
                    " unload a model or raise memory_budget_bytes",
                    type="server_error",
                    code="memory_budget_exceeded",
                    headers={"retry-after": "5"},
                )
            victim = min(idle, key=lambda e: e.last_used)
            log.info("model=%s evicted to make room for %s", victim.name, for_name)
            await self._close(victim)

    def _take(self, entry: Loaded) -> bool:
        """Remove from the table if still there (synchronous: no request can slip in)."""
        with self._table_lock:
            if self._loaded.get(entry.name) is entry:
                del self._loaded[entry.name]
                return True
        return False

    async def _close(self, entry: Loaded) -> None:
        if self._take(entry):
            await asyncio.to_thread(entry.engine.close)

    async def unload(self, spec: str, *, force: bool = False) -> bool:
        """Unload a model now. A busy model answers 409 unless `force` (which waits for it to
        go idle, up to 60 s). Pinned models unpin first. False if it was not loaded."""
        rec = self.file_record(self.resolve(spec))
        entry = self.get_loaded(rec.name)
        if entry is None:
            return False
        if entry.busy():
            if not force:
                raise ApiError(
                    409, f"'{rec.name}' is generating; retry when it is idle", code="model_in_use"
                )
            deadline = time.monotonic() + 60
            while entry.busy() and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            if entry.busy():
                raise ApiError(409, f"'{rec.name}' stayed busy", code="model_in_use")
        await self._close(entry)
        log.info("model=%s unloaded", rec.name)
        return True

    async def delete(self, spec: str) -> dict:
        """Unregister a model and delete its file if it lives in the models folder. Refuses
        (409) while it generates or when it is the pinned default. A derived model is only
        unregistered: its file belongs to the model it was made from."""
        rec = self.resolve(spec)
        if rec.derived:
            self.registry.remove(rec.name)
            log.info("model=%s deleted (derived from %s; file kept)", rec.name, rec.parent)
            return {"name": rec.name, "deleted_file": False, "path": rec.path}
        users = self.registry.derived_using(rec.path)
        if users:
            raise ApiError(
                409,
                f"'{rec.name}' is the base of {', '.join(users)}; delete those first",
                code="model_in_use",
            )
        entry = self.get_loaded(rec.name)
        if entry is not None and entry.pinned:
            raise ApiError(409, f"'{rec.name}' is the pinned default model", code="model_pinned")
        if entry is not None:
            await self.unload(rec.name)
        path = Path(rec.path)
        managed = self.settings.models_dir.resolve()
        deleted = False
        if path.resolve().is_relative_to(managed):
            if path.is_dir():
                import shutil

                await asyncio.to_thread(shutil.rmtree, path)
            else:
                path.unlink(missing_ok=True)
            deleted = True
        self.registry.remove(rec.name)
        log.info("model=%s deleted (file removed: %s)", rec.name, deleted)
        return {"name": rec.name, "deleted_file": deleted, "path": rec.path}

    # --- adding models ---------------------------------------------------------------------

    def pull_subscribe(self, spec: str):
        """Start pulling `org/repo[:file|:QUANT|:mlx]` from the Hub, or join the pull of the
        same model that is already running (models/pull_jobs.py). Read progress with
        `.events()`: Ollama-style dicts ({"status", "digest", "total", "completed"}; a folder
        adds "file", "files_total", "files_completed"), the last being {"status": "success",
        "model": name} or {"error": message, "status_code": n}. Call `.leave()` when the client
        goes: the download stops once no client is left, and resumes on the next pull."""
        if self._pulls is None:
            from impetus.models.pull_jobs import PullJobs

            self._pulls = PullJobs(self.settings.models_dir, self.registry)
        return self._pulls.subscribe(spec)

    async def pull_events(self, spec: str) -> AsyncIterator[dict]:
        """`pull_subscribe(spec).events()`, for callers that read to the end."""
        async for event in self.pull_subscribe(spec).events():
            yield event

    async def pull(self, spec: str) -> ModelRecord:
        """Pull and wait; ApiError on failure."""
        last: dict = {}
        async for event in self.pull_events(spec):
            last = event
        if "error" in last:
            raise ApiError(last["status_code"], last["error"], code="pull_failed")
        rec = self.registry.get(last["model"])
        assert rec is not None
        return rec

    async def upload(self, request) -> ModelRecord:
        """Stream an upload (multipart or raw) into the models folder; see models/upload.py."""
        from impetus.models.upload import receive_model

        return await receive_model(
            request, self.settings.models_dir, self.registry, self.settings.max_upload_bytes
        )

    def derive(self, name: str, source: str, profile: dict) -> ModelRecord:
        """Register `name` as `source` with `profile` on top of the source's own (Ollama's
        create and copy). It runs on the source's file; nothing is copied."""
        src = self.resolve(source)
        taken = self.registry.get(name)
        if name == "default" or (taken is not None and not taken.derived):
            raise ApiError(
                400,
                f"'{name}' is already the name of a model file; choose another name",
                param="model",
                code="invalid_model_name",
            )
        merged = dict(src.profile or {})
        for key, value in profile.items():
            if key == "parameters":
                merged[key] = {**merged.get(key, {}), **value}
            else:
                merged[key] = value
        rec = self.registry.add_derived(name, src.path, src.name, merged)
        log.info("model=%s created from %s", name, src.name)
        return rec

    # --- views ----------------------------------------------------------------------------

    def describe(self, rec: ModelRecord) -> dict:
        d = rec.to_dict()
        base = self.registry.get_file_model(rec.path) if rec.derived else rec
        entry = self.get_loaded(base.name) if base is not None else None
        d["loaded"] = entry.to_dict() if entry else None
        d["default"] = rec.name == self.default_name
        return d

    def list_models(self) -> list[dict]:
        return [self.describe(r) for r in self.registry.list()]

    def show(self, spec: str) -> dict:
        rec = self.resolve(spec)
        self.registry.ensure_sha256(rec)
        d = self.describe(rec)
        try:
            info = read_gguf(rec.path) if rec.format == "gguf" else None
        except InvalidModel:
            info = None
        if info is not None:
            d["metadata"] = {k: v for k, v in info.metadata.items() if not isinstance(v, list)}
            d["chat_template"] = info.chat_template
        return d

    def running(self) -> list[dict]:
        """Loaded models, most recently used first (Ollama /api/ps, `impetus ps`)."""
        return [e.to_dict() for e in sorted(self.loaded(), key=lambda e: -e.last_used)]

    # --- keep_alive -----------------------------------------------------------------------

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            try:
                self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())
            except RuntimeError:
                pass

    async def reap(self) -> list[str]:
        """Unload models idle past their keep_alive. Busy models get their timer restarted."""
        now = time.time()
        gone = []
        for entry in self.loaded():
            expires = entry.expires_at
            if expires is None or now < expires:
                continue
            if entry.busy():
                entry.last_used = now
                continue
            await self._close(entry)
            log.info("model=%s unloaded after keep_alive", entry.name)
            gone.append(entry.name)
        return gone

    async def _reap_forever(self, every: float = 0.25) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.reap()
            except Exception:  # never let the reaper die
                log.exception("keep_alive reaper")

    def close(self) -> None:
        if self._pulls is not None:
            self._pulls.cancel_all()
        if self._reaper is not None:
            self._reaper.cancel()
        with self._table_lock:
            entries, self._loaded = list(self._loaded.values()), {}
        for e in entries:
            e.engine.close()
        self.registry.close()
