"""What the server has loaded, and whether it is ready.

The default model loads on a worker thread after the socket is open, so `/health` answers at
once (503 "loading", then 200 "ready") and a large model does not delay start-up. Other models
load on demand through the `ModelManager` (src/impetus/models/manager.py).
"""

from __future__ import annotations

import asyncio
import logging
import platform
import sys
import threading
import time
from pathlib import Path
from typing import Literal

from impetus.config import Settings
from impetus.engines.llamacpp import LlamaCppEngine
from impetus.models import bundled
from impetus.models.manager import ModelManager
from impetus.server.errors import ApiError

log = logging.getLogger("impetus.runtime")

State = Literal["starting", "loading", "ready", "error", "stopping"]


def choose_engine(path: Path, requested: str) -> str:
    """`auto`: MLX for model folders and on Apple Silicon with mlx installed, else llama.cpp."""
    if requested != "auto":
        return requested
    if path.is_dir():
        return "mlx"
    if sys.platform == "darwin" and platform.machine() == "arm64":
        from impetus.engines.mlx_engine import mlx_available

        if mlx_available():
            return "mlx"
    return "llama.cpp"


def load_engine(path: Path, s: Settings, model_id: str | None = None):
    if choose_engine(path, s.engine) == "mlx":
        from impetus.engines.mlx_engine import MlxEngine

        try:
            return MlxEngine(
                path, ctx=s.ctx, parallel=s.parallel, max_waiting=s.queue_size, model_id=model_id
            )
        except ValueError as exc:
            # `auto` chose MLX for a GGUF on Apple Silicon, but the MLX loader does not take
            # every GGUF (architectures, K-quants, SentencePiece vocabularies): llama.cpp does.
            if s.engine != "auto" or path.is_dir():
                raise
            log.warning("model=%s: MLX cannot load it (%s); using llama.cpp", path.name, exc)
    return LlamaCppEngine(
        path,
        ctx=s.ctx,
        parallel=s.parallel,
        threads=s.threads,
        cache_type_k=s.cache_type_k,
        max_waiting=s.queue_size,
        model_id=model_id,
    )


class Runtime:
    """The server's models: the default one (loaded at start-up, pinned) and any others,
    loaded on demand by `acquire()` through the `ModelManager` (`self.manager`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state: State = "starting"
        self.error: str | None = None
        self.started = time.time()
        self._thread: threading.Thread | None = None
        self.manager = ModelManager(settings, load_engine)

    @property
    def engine(self):
        """The default model's engine (None until it is loaded)."""
        name = self.manager.default_name
        entry = self.manager.get_loaded(name) if name else None
        return entry.engine if entry else None

    @property
    def load_seconds(self) -> float | None:
        name = self.manager.default_name
        entry = self.manager.get_loaded(name) if name else None
        return entry.load_seconds if entry else None

    def start_loading(self) -> None:
        self.state = "loading"
        self._thread = threading.Thread(target=self._load, name="impetus-load", daemon=True)
        self._thread.start()

    def wait_loaded(self, timeout: float | None = None) -> None:
        if self._thread:
            self._thread.join(timeout)

    def _load(self) -> None:
        s = self.settings
        registry = self.manager.registry
        try:
            spec = s.model
            if not spec or spec == "default":
                spec = str(bundled.install(s.models_dir))
            rec = registry.resolve(spec)
            entry = self.manager.load_sync(rec, pin=True)
            info = entry.engine.info
            self.state = "ready"
            log.info(
                "model=%s ready in %.2fs (ctx=%d, slots=%d)",
                info.name,
                entry.load_seconds,
                info.context_length,
                s.parallel,
            )
        except Exception as exc:
            self.error = str(exc)
            self.state = "error"
            log.error("model failed to load: %s", exc)
        try:  # after the default model, so a big folder does not delay start-up
            _, bad = registry.scan()
            for path, reason in bad.items():
                log.warning("not a usable model, skipped: %s (%s)", path, reason)
        except Exception as exc:
            log.error("model folder scan failed: %s", exc)

    def engine_for(self, model: str | None):
        """A loaded engine for `model` without loading anything (ApiError otherwise)."""
        self._check_default(model)
        entry = self.manager.get_loaded(self.manager.resolve(model).name)
        if entry is None:
            raise ApiError(409, f"the model '{model}' is not loaded", code="model_not_loaded")
        return entry.engine

    def _check_default(self, model: str | None) -> None:
        if model and model != "default":
            return
        if self.state in ("starting", "loading"):
            raise ApiError(
                503,
                "the model is still loading; retry shortly",
                type="server_error",
                code="model_loading",
                headers={"retry-after": "1"},
            )
        if self.state != "ready" or self.engine is None:
            raise ApiError(503, f"no model is loaded: {self.error}", type="server_error")

    async def acquire(self, model: str | None, keep_alive: str | float | None = None):
        """The engine for `model` (a registry name, alias or path; None = the default),
        loading it if needed. Routers call this, then `engine.submit()` without awaiting in
        between. `keep_alive` is Ollama's: how long the model stays loaded once idle."""
        if self.state in ("starting", "loading") and model and model != "default":
            # The default may be the one asked for by another name: wait for it to load.
            await asyncio.to_thread(self.wait_loaded, 120)
        self._check_default(model)
        return await self.manager.acquire(model, keep_alive)

    def loaded_engines(self) -> list:
        """Engines in memory now (for /api/ps, /admin/models)."""
        return [e.engine for e in self.manager.loaded()]

    def close(self) -> None:
        self.state = "stopping"
        self.wait_loaded(timeout=30)
        self.manager.close()
