"""What the server has loaded, and whether it is ready.

The model loads on a worker thread after the socket is open, so `/health` answers at once
(503 "loading", then 200 "ready") and a large model does not delay start-up.
"""

from __future__ import annotations

import logging
import platform
import sys
import threading
import time
from pathlib import Path
from typing import Literal

from impetus.config import Settings
from impetus.engines.llamacpp import LlamaCppEngine
from impetus.models.resolve import resolve_model_path
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


def load_engine(path: Path, s: Settings):
    if choose_engine(path, s.engine) == "mlx":
        from impetus.engines.mlx_engine import MlxEngine

        return MlxEngine(path, ctx=s.ctx, parallel=s.parallel, max_waiting=s.queue_size)
    return LlamaCppEngine(
        path, ctx=s.ctx, parallel=s.parallel, threads=s.threads, max_waiting=s.queue_size
    )


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state: State = "starting"
        self.error: str | None = None
        self.engine: LlamaCppEngine | None = None
        self.started = time.time()
        self.load_seconds: float | None = None
        self._thread: threading.Thread | None = None

    def start_loading(self) -> None:
        self.state = "loading"
        self._thread = threading.Thread(target=self._load, name="impetus-load", daemon=True)
        self._thread.start()

    def wait_loaded(self, timeout: float | None = None) -> None:
        if self._thread:
            self._thread.join(timeout)

    def _load(self) -> None:
        t0 = time.perf_counter()
        s = self.settings
        try:
            path = resolve_model_path(s.model, s.models_dir)
            engine = load_engine(path, s)
            info = engine.info
            self.engine = engine
            self.load_seconds = time.perf_counter() - t0
            self.state = "ready"
            log.info(
                "model=%s ready in %.2fs (ctx=%d, slots=%d)",
                info.name,
                self.load_seconds,
                info.context_length,
                s.parallel,
            )
        except Exception as exc:
            self.error = str(exc)
            self.state = "error"
            log.error("model failed to load: %s", exc)

    def engine_for(self, model: str | None) -> LlamaCppEngine:
        """The engine serving `model`, or an ApiError the client can act on."""
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
        engine = self.engine
        if model and model not in engine.aliases:
            raise ApiError(
                404,
                f"the model '{model}' does not exist; available: {engine.info.name}",
                param="model",
                code="model_not_found",
            )
        return engine

    async def acquire(self, model: str | None):
        """The engine for `model`, loading it if needed (issue #7 adds on-demand loading; today
        it is the one loaded model). Routers call this, never `self.engine` directly."""
        return self.engine_for(model)

    def loaded_engines(self) -> list:
        """Engines in memory now (for /api/ps, /admin/models)."""
        return [self.engine] if self.engine is not None else []

    def close(self) -> None:
        self.state = "stopping"
        self.wait_loaded(timeout=30)
        if self.engine is not None:
            self.engine.close()
            self.engine = None
