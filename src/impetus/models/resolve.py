"""Turn what the user typed (`--model`) into a model path, through the registry.

The rules: the bundled default for nothing or "default"; then a registered name or alias
(`smollm2:135m`); then a path (registered on the way); then a file in the models folders.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from impetus.models import bundled
from impetus.models.gguf_info import InvalidModel
from impetus.models.registry import ModelNotFound, Registry

__all__ = ["ModelNotFound", "resolve_model_path"]


def resolve_model_path(spec: str | None, models_dir: Path, extra_dirs: Iterable[Path] = ()) -> Path:
    if not spec or spec == "default":
        return bundled.install(models_dir)
    path = Path(spec).expanduser()
    if path.is_file():  # a path is used as given; the server reports a broken file itself
        return path.resolve()
    # The registry lives next to the models folder (Settings.registry_path).
    registry = Registry(models_dir.parent / "registry.sqlite3", [models_dir, *extra_dirs])
    try:
        try:
            return Path(registry.resolve(spec).path)
        except ModelNotFound:
            registry.scan()
            return Path(registry.resolve(spec).path)
    except InvalidModel as exc:
        raise ModelNotFound(str(exc)) from exc
    finally:
        registry.close()
