"""Model files for the model-management tests: real GGUFs, broken ones, and tiny headers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from tests.conftest import MODEL_PATH


def copy_model(dest: Path) -> Path:
    """The bundled model under another name (a hard link when possible: same bytes, no copy)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(MODEL_PATH, dest)
    except OSError:
        shutil.copyfile(MODEL_PATH, dest)
    return dest


def truncated_model(dest: Path, keep: float = 0.5) -> Path:
    size = MODEL_PATH.stat().st_size
    with MODEL_PATH.open("rb") as src, dest.open("wb") as dst:
        dst.write(src.read(int(size * keep)))
    return dest


def corrupt_header(dest: Path) -> Path:
    """GGUF magic and version, then garbage."""
    rng = np.random.default_rng(0)
    dest.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + rng.bytes(4096))
    return dest


def tiny_gguf(dest: Path, arch: str = "llama") -> Path:
    """A well-formed GGUF with one tensor (for header-level tests, not loadable as a model)."""
    import gguf

    w = gguf.GGUFWriter(str(dest), arch)
    w.add_name("tiny")
    w.add_context_length(128)
    w.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return dest
