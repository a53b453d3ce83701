"""The names a loaded model answers to, the same for every engine."""

from __future__ import annotations

import re
from pathlib import Path

from impetus.engines.protocol import ModelInfo


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def model_aliases(info: ModelInfo) -> set[str]:
    """Its id, "default", the file name, GGUF general.name, and Ollama-style `base:size`."""
    meta = info.metadata
    names = {"default", info.name, Path(info.path).name}
    if meta.get("general.name"):
        names.add(meta["general.name"])
    base, size = meta.get("general.basename"), meta.get("general.size_label")
    if base and size:
        names.add(f"{slug(base)}:{slug(size)}")
    return names
