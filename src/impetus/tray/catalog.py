"""The models the tray offers under "Switch model".

With a server running, the list is its registry (`GET /admin/models`): every chat model it can
load, GGUF files and MLX folders alike, by the name the API takes, with their aliases. Only when
no server runs does the tray look at the model folders itself, and then it can only offer what
`impetus serve --model PATH` would take.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

MAX_LABEL = 60  # menu entries wider than this push the whole menu off small screens


@dataclass(frozen=True)
class ModelChoice:
    name: str  # the registry name (what /admin/models/{name}/load takes), or a file's stem
    path: Path | None = None  # the file or MLX folder, for a restart with --model
    format: str = "gguf"
    aliases: tuple[str, ...] = ()
    loaded: bool = False
    pinned: bool = False  # loaded and pinned (the default model, or pinned in the dashboard)
    default: bool = False  # the server's default model (requests that name none get it)
    derived: bool = False  # an Ollama create/copy: a name with a profile, on another's file

    @property
    def label(self) -> str:
        """The name, its first alias (the short name people type) and MLX, where they apply."""
        text = self.name
        if self.aliases and self.aliases[0] != self.name:
            text += f" ({self.aliases[0]})"
        if self.format == "mlx":
            text += " · MLX"
        return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


@dataclass(frozen=True)
class Catalog:
    """One reading of the list. `source` says where it came from; `error` why it is empty."""

    source: Literal["server", "folder", "none"] = "none"
    models: tuple[ModelChoice, ...] = field(default=())
    error: str | None = None

    def find(self, name: str) -> ModelChoice | None:
        for choice in self.models:
            if choice.name == name or name in choice.aliases:
                return choice
        return None

    @property
    def default(self) -> ModelChoice | None:
        return next((c for c in self.models if c.default), None)


def registry_models(payload: object) -> tuple[ModelChoice, ...]:
    """The chat models of a `GET /admin/models` answer. Tolerant: odd entries are skipped, so a
    newer server with more fields (or a few broken rows) still gives a menu."""
    rows = payload.get("models") if isinstance(payload, dict) else None
    if not isinstance(rows, list):
        raise ValueError("the answer has no model list")
    out = []
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            continue
        if row.get("kind", "chat") != "chat":  # embedding models cannot be chatted with
            continue
        loaded = row.get("loaded")
        aliases = row.get("aliases") or []
        out.append(
            ModelChoice(
                name=row["name"],
                path=Path(row["path"]) if isinstance(row.get("path"), str) else None,
                format=str(row.get("format") or "gguf"),
                aliases=tuple(a for a in aliases if isinstance(a, str)),
                loaded=isinstance(loaded, dict),
                pinned=isinstance(loaded, dict) and bool(loaded.get("pinned")),
                default=bool(row.get("default")),
                derived=row.get("parent") is not None,
            )
        )
    return tuple(out)


def folder_models(model_dirs: Iterable[Path]) -> tuple[ModelChoice, ...]:
    """GGUF files and MLX folders (config.json inside) at the top of each models folder.

    The same top level the server's registry scans; its one-level-down files are the bundled
    embedding models, which are not chat models, so they are left out here.
    """
    out: list[ModelChoice] = []
    seen: set[str] = set()
    for folder in model_dirs:
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for p in entries:
            if p.name.startswith("."):
                continue
            if p.is_file() and p.suffix == ".gguf":
                choice = ModelChoice(p.stem, p)
            elif p.is_dir() and (p / "config.json").is_file():
                choice = ModelChoice(p.name, p, format="mlx")
            else:
                continue
            if choice.name not in seen:  # the first folder wins, as in the registry
                seen.add(choice.name)
                out.append(choice)
    return tuple(out)
