"""The registry of local models: one SQLite file (WAL) in the data folder.

Rows come from scanning the models folder and the configured extra folders, from `impetus pull`,
from uploads, and from `--model PATH`. Each row holds what the file says about itself (GGUF
metadata or an MLX folder's config.json), its size, sha256, where it came from, and when it was
added and last used. A name resolves by exact name, alias (`smollm2:135m`), file name or path.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from impetus.models.gguf_info import InvalidModel, read_gguf

SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    name TEXT PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    format TEXT NOT NULL,
    kind TEXT NOT NULL,
    architecture TEXT NOT NULL,
    parameters INTEGER,
    quantization TEXT,
    context_length INTEGER,
    has_chat_template INTEGER NOT NULL DEFAULT 0,
    size_bytes INTEGER NOT NULL,
    mtime REAL NOT NULL,
    sha256 TEXT,
    source TEXT NOT NULL,
    added_at REAL NOT NULL,
    last_used_at REAL
);
CREATE TABLE IF NOT EXISTS aliases (
    alias TEXT PRIMARY KEY,
    name TEXT NOT NULL REFERENCES models(name) ON DELETE CASCADE
);
-- Models made by Ollama's /api/copy and /api/create: a name with its own defaults (system
-- prompt, parameters, template, messages) that runs on a registered model's file. No copy of
-- the file is made, so deleting one never touches the file.
CREATE TABLE IF NOT EXISTS derived (
    name TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    parent TEXT NOT NULL,
    profile TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""


class ModelNotFound(LookupError):
    pass


@dataclass
class ModelRecord:
    name: str
    path: str
    format: str  # "gguf" or "mlx"
    kind: str  # "chat" or "embedding"
    architecture: str
    parameters: int | None
    quantization: str | None
    context_length: int | None
    has_chat_template: bool
    size_bytes: int
    mtime: float
    sha256: str | None
    source: str
    added_at: float
    last_used_at: float | None
    aliases: list[str] = field(default_factory=list)
    parent: str | None = None  # derived models: the model it was created from
    profile: dict | None = None  # derived models: system, template, parameters, messages

    @property
    def derived(self) -> bool:
        return self.parent is not None

    def to_dict(self) -> dict:
        return asdict(self)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def inspect(path: Path) -> tuple[dict, list[str]]:
    """The registry columns for a model file or MLX folder, and its suggested aliases.
    Raises InvalidModel for anything that is not a usable model."""
    if path.is_dir():
        return _inspect_mlx(path)
    if not path.is_file():
        raise InvalidModel(f"no such model file: {path}")
    info = read_gguf(path)
    st = path.stat()
    cols = {
        "format": "gguf",
        "kind": info.kind,
        "architecture": info.architecture,
        "parameters": info.parameters,
        "quantization": info.quantization,
        "context_length": info.context_length,
        "has_chat_template": bool(info.chat_template),
        "size_bytes": st.st_size,
        "mtime": st.st_mtime,
    }
    aliases = []
    if info.basename and info.size_label:
        aliases.append(f"{slug(info.basename)}:{slug(info.size_label)}")
    return cols, aliases


def _inspect_mlx(path: Path) -> tuple[dict, list[str]]:
    config = path / "config.json"
    if not config.is_file() or not any(path.glob("*.safetensors")):
        raise InvalidModel(f"{path.name} is not an MLX model folder (config.json + safetensors)")
    try:
        cfg = json.loads(config.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidModel(f"{path.name}/config.json is not valid JSON: {exc}") from exc
    arch = cfg.get("model_type")
    if not isinstance(arch, str):
        raise InvalidModel(f"{path.name}/config.json has no model_type")
    quant = cfg.get("quantization") or {}
    kind = "embedding" if "bert" in arch else "chat"
    return {
        "format": "mlx",
        "kind": kind,
        "architecture": arch,
        "parameters": None,
        "quantization": f"{quant['bits']}bit" if "bits" in quant else cfg.get("torch_dtype"),
        "context_length": cfg.get("max_position_embeddings"),
        "has_chat_template": (path / "tokenizer_config.json").is_file()
        and "chat_template" in (path / "tokenizer_config.json").read_text(errors="replace"),
        "size_bytes": _folder_size(path),
        "mtime": config.stat().st_mtime,
    }, []


def model_name(path: Path) -> str:
    return path.name if path.is_dir() else path.name.removesuffix(".gguf")


class Registry:
    """Thread-safe: one connection, one lock (the registry is small and rarely written)."""

    def __init__(self, db_path: Path, model_dirs: Iterable[Path] = ()) -> None:
        self.db_path = Path(db_path)
        self.model_dirs = [Path(d) for d in model_dirs]
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.db_path, check_same_thread=False, timeout=10)
        self._db.row_factory = sqlite3.Row
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- reading -------------------------------------------------------------------------

    def _record(self, row: sqlite3.Row) -> ModelRecord:
        aliases = [
            r[0]
            for r in self._db.execute(
                "SELECT alias FROM aliases WHERE name=? ORDER BY alias", (row["name"],)
            )
        ]
        d = dict(row)
        d["has_chat_template"] = bool(d["has_chat_template"])
        return ModelRecord(**d, aliases=aliases)

    def _derived_record(self, row: sqlite3.Row) -> ModelRecord | None:
        """A derived model as a record of its file, under its own name (None if the file's
        model is no longer registered)."""
        base = self._db.execute("SELECT * FROM models WHERE path=?", (row["path"],)).fetchone()
        if base is None:
            return None
        d = dict(base)
        d.update(
            name=row["name"],
            has_chat_template=bool(d["has_chat_template"]),
            source="derived",
            added_at=row["created_at"],
            mtime=row["created_at"],
            last_used_at=None,
        )
        return ModelRecord(
            **d, aliases=[], parent=row["parent"], profile=json.loads(row["profile"])
        )

    def list(self) -> list[ModelRecord]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM models ORDER BY name").fetchall()
            records = [self._record(r) for r in rows]
            for row in self._db.execute("SELECT * FROM derived").fetchall():
                rec = self._derived_record(row)
                if rec is not None:
                    records.append(rec)
            return sorted(records, key=lambda r: r.name)

    def _get_derived(self, spec: str) -> ModelRecord | None:
        # Ollama names without a tag mean ":latest"; accept both spellings either way.
        names = [spec, spec.lower()]
        if spec.endswith(":latest"):
            names.append(spec.removesuffix(":latest"))
        elif ":" not in spec:
            names.append(f"{spec}:latest")
        for name in names:
            row = self._db.execute("SELECT * FROM derived WHERE name=?", (name,)).fetchone()
            if row is not None:
                return self._derived_record(row)
        return None

    def get_file_model(self, path: str) -> ModelRecord | None:
        """The registered (non-derived) model for a file or folder path."""
        with self._lock:
            row = self._db.execute("SELECT * FROM models WHERE path=?", (path,)).fetchone()
            return self._record(row) if row else None

    def derived_using(self, path: str) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT name FROM derived WHERE path=? ORDER BY name", (path,))
            return [r[0] for r in rows]

    def get(self, spec: str) -> ModelRecord | None:
        """By name, alias, file name or path (case-insensitive names); None if unknown."""
        with self._lock:
            db = self._db
            row = db.execute("SELECT * FROM models WHERE name=?", (spec,)).fetchone()
            if row is None:
                row = db.execute(
                    "SELECT m.* FROM models m JOIN aliases a ON a.name=m.name WHERE a.alias=?",
                    (spec.lower(),),
                ).fetchone()
            if row is None:
                row = db.execute(
                    "SELECT * FROM models WHERE lower(name)=?",
                    (spec.lower().removesuffix(".gguf"),),
                ).fetchone()
            if row is None:
                derived = self._get_derived(spec)
                if derived is not None:
                    return derived
            if row is None and ("/" in spec or spec.endswith(".gguf")):
                p = str(Path(spec).expanduser().resolve())
                row = db.execute("SELECT * FROM models WHERE path=?", (p,)).fetchone()
            return self._record(row) if row else None

    def resolve(self, spec: str) -> ModelRecord:
        """`spec` as the user typed it: a registered name or alias, or a path (registered on
        the way). Raises ModelNotFound or InvalidModel."""
        rec = self.get(spec)
        if rec is not None:
            if Path(rec.path).exists():
                return rec
            if rec.derived:  # kept: it comes back if the file does
                raise ModelNotFound(f"'{rec.name}' runs on {rec.path}, which is gone")
            self.remove(rec.name)  # the file went away behind our back
        path = Path(spec).expanduser()
        if path.exists():
            return self.add(path, source="path")
        for d in self.model_dirs:
            for cand in (d / spec, d / f"{spec}.gguf"):
                if cand.exists():
                    return self.add(cand, source="local")
        raise ModelNotFound(f"no model named '{spec}'; `impetus models list` shows what is here")

    # --- writing -------------------------------------------------------------------------

    def add(
        self,
        path: Path,
        *,
        source: str,
        name: str | None = None,
        sha256: str | None = None,
        aliases: Iterable[str] = (),
    ) -> ModelRecord:
        """Inspect and register (or refresh) `path`. Raises InvalidModel; nothing is written
        for a file that fails inspection."""
        path = Path(path).expanduser().resolve()
        cols, suggested = inspect(path)
        now = time.time()
        with self._lock, self._db:
            db = self._db
            old = db.execute("SELECT * FROM models WHERE path=?", (str(path),)).fetchone()
            if old is not None:
                name = old["name"]
                same = old["size_bytes"] == cols["size_bytes"] and old["mtime"] == cols["mtime"]
                sha256 = sha256 or (old["sha256"] if same else None)
                db.execute(
                    "UPDATE models SET format=:format, kind=:kind, architecture=:architecture,"
                    " parameters=:parameters, quantization=:quantization,"
                    " context_length=:context_length, has_chat_template=:has_chat_template,"
                    " size_bytes=:size_bytes, mtime=:mtime, sha256=:sha256 WHERE name=:name",
                    {**cols, "sha256": sha256, "name": name},
                )
            else:
                name = self._free_name(name or model_name(path))
                db.execute(
                    "INSERT INTO models (name, path, format, kind, architecture, parameters,"
                    " quantization, context_length, has_chat_template, size_bytes, mtime, sha256,"
                    " source, added_at) VALUES (:name, :path, :format, :kind, :architecture,"
                    " :parameters, :quantization, :context_length, :has_chat_template,"
                    " :size_bytes, :mtime, :sha256, :source, :added_at)",
                    {
                        **cols,
                        "name": name,
                        "path": str(path),
                        "sha256": sha256,
                        "source": source,
                        "added_at": now,
                    },
                )
            for alias in [*aliases, *suggested]:
                db.execute(
                    "INSERT OR IGNORE INTO aliases (alias, name) VALUES (?, ?)",
                    (alias.lower(), name),
                )
        rec = self.get(name)
        assert rec is not None
        return rec

    def _free_name(self, base: str) -> str:
        name, i = base, 2
        while self._db.execute(
            "SELECT 1 FROM models WHERE name=? UNION SELECT 1 FROM derived WHERE name=?",
            (name, name),
        ).fetchone():
            name, i = f"{base}-{i}", i + 1
        return name

    def set_alias(self, alias: str, name: str) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO aliases (alias, name) VALUES (?, ?)", (alias.lower(), name)
            )

    def touch(self, name: str) -> None:
        with self._lock, self._db:
            self._db.execute("UPDATE models SET last_used_at=? WHERE name=?", (time.time(), name))

    def set_sha256(self, name: str, digest: str) -> None:
        with self._lock, self._db:
            self._db.execute("UPDATE models SET sha256=? WHERE name=?", (digest, name))

    def ensure_sha256(self, rec: ModelRecord) -> str | None:
        """Hash a GGUF on first request (scans do not hash: it would slow start-up)."""
        if rec.sha256 or rec.format != "gguf":
            return rec.sha256
        digest = file_sha256(Path(rec.path))
        self.set_sha256(rec.name, digest)
        rec.sha256 = digest
        return digest

    def remove(self, name: str) -> None:
        """Unregister a model file's row, or a derived model (its file's row stays)."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM aliases WHERE name=?", (name,))
            self._db.execute("DELETE FROM models WHERE name=?", (name,))
            self._db.execute("DELETE FROM derived WHERE name=?", (name,))

    def add_derived(self, name: str, path: str, parent: str, profile: dict) -> ModelRecord:
        """Create or replace the derived model `name` (Ollama's copy and create overwrite)."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO derived (name, path, parent, profile, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (name, path, parent, json.dumps(profile, ensure_ascii=False), time.time()),
            )
        rec = self.get(name)
        assert rec is not None and rec.derived
        return rec

    # --- scanning ------------------------------------------------------------------------

    def candidates(self) -> list[Path]:
        found: list[Path] = []
        for d in self.model_dirs:
            if not d.is_dir():
                continue
            for p in sorted(d.iterdir()):
                if p.name.startswith("."):
                    continue
                if (p.is_file() and p.suffix == ".gguf") or (
                    p.is_dir() and (p / "config.json").is_file()
                ):
                    found.append(p)
                elif p.is_dir():  # one level down (e.g. models/embeddings/*.gguf)
                    found.extend(sorted(p.glob("*.gguf")))
        return found

    def scan(self) -> tuple[list[ModelRecord], dict[str, str]]:
        """Register new files, refresh changed ones, drop rows whose file is gone.
        Returns the records and {path: reason} for files that are not usable models."""
        bad: dict[str, str] = {}
        known = {r.path: r for r in self.list() if not r.derived}
        for r in known.values():
            if not Path(r.path).exists():
                self.remove(r.name)
        for p in self.candidates():
            rp = str(p.resolve())
            old = known.get(rp)
            if old is not None:
                try:
                    st = p.stat() if p.is_file() else (p / "config.json").stat()
                except OSError:
                    continue
                if p.is_dir() or (old.size_bytes == st.st_size and old.mtime == st.st_mtime):
                    continue
            try:
                self.add(p, source=old.source if old else "local")
            except InvalidModel as exc:
                bad[rp] = str(exc)
                if old is not None:
                    self.remove(old.name)
        return self.list(), bad
