"""Turn what the user typed (`--model`) into a GGUF path.

Issue #7 replaces the folder scan with the SQLite registry; the rules stay: a path wins, then a
name in the models folder, then the bundled default.
"""

from __future__ import annotations

from pathlib import Path

from impetus.models import bundled


class ModelNotFound(LookupError):
    pass


def resolve_model_path(spec: str | None, models_dir: Path) -> Path:
    if not spec or spec == "default":
        return bundled.install(models_dir)
    path = Path(spec).expanduser()
    if path.is_file():
        return path.resolve()
    if models_dir.is_dir():
        wanted = spec.lower().removesuffix(".gguf")
        for candidate in sorted(models_dir.glob("*.gguf")):
            if candidate.stem.lower() == wanted:
                return candidate
    if path.suffix == ".gguf" or "/" in spec:
        raise ModelNotFound(f"model file not found: {spec}")
    raise ModelNotFound(f"no model named '{spec}' in {models_dir}")
