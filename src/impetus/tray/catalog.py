"""The models the tray offers under "Switch model".

Today: the GGUF files in the models folder. Issue #7's registry (`GET /admin/models`) will replace
the body of `available_models`; callers only see (name, path) pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelChoice:
    name: str
    path: Path


def available_models(models_dir: Path) -> list[ModelChoice]:
    if not models_dir.is_dir():
        return []
    return [ModelChoice(p.stem, p) for p in sorted(models_dir.glob("*.gguf")) if p.is_file()]
