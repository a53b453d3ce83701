"""What `impetus pull org/repo[:what]` downloads: one GGUF file, or an MLX / safetensors folder.

The repo's tree comes from `HfApi.list_repo_tree` (recursive, so LFS sha256 and sizes come with
it; `HF_ENDPOINT` and `HF_TOKEN` apply). When a repo has both GGUF files and a safetensors
folder, a bare `org/repo` means the GGUF (llama.cpp runs it on every machine; MLX needs Apple
Silicon to be fast) and `org/repo:mlx` means the folder. docs/models.md says the same.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import httpx

from impetus.models.transfer import PullError, RemoteFile

# Tags that ask for the safetensors folder rather than a GGUF.
FOLDER_TAGS = ("mlx", "safetensors")
_PREFERRED = ("Q4_K_M", "Q4_K_S", "Q4_0", "Q5_K_M", "Q8_0")
# What a folder pull takes: the weights and what mlx-lm / transformers read next to them
# (config, tokenizer, generation settings, chat template). Top level only: subfolders such as
# original/ or onnx/ hold other formats of the same weights.
_FOLDER_SUFFIXES = (".json", ".safetensors", ".model", ".tiktoken", ".jinja")
_FOLDER_NAMES = ("merges.txt", "vocab.txt")
INDEX = "model.safetensors.index.json"


@dataclass
class PullSpec:
    repo: str
    filename: str | None = None  # a file, or None to choose one
    tag: str | None = None  # a quantization like Q4_K_M to choose by, or "mlx"
    revision: str = "main"

    @classmethod
    def parse(cls, text: str) -> PullSpec:
        text = text.strip().removeprefix("hf.co/").removeprefix("huggingface.co/")
        repo, _, rest = text.partition(":")
        revision = "main"
        if "@" in repo:
            repo, revision = repo.split("@", 1)
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise PullError(f"expected org/repo[:file], got '{text}'")
        if not rest:
            return cls(repo, revision=revision)
        if rest.lower().endswith(".gguf"):
            return cls(repo, filename=rest, revision=revision)
        return cls(repo, tag=rest, revision=revision)

    @property
    def key(self) -> str:
        """The same for two specs that name the same thing (joins concurrent pulls)."""
        what = self.filename or (self.tag or "").lower()
        return f"{self.repo.lower()}@{self.revision}:{what}"


@dataclass
class Plan:
    """What to download and where it goes (`name` in the models folder)."""

    spec: PullSpec
    format: str  # "gguf" or "mlx"
    name: str
    files: list[RemoteFile] = field(default_factory=list)

    @property
    def digest(self) -> str:
        """The GGUF's sha256; for a folder, a sha256 over its files' paths and checksums, so a
        changed upstream file gives a different digest (and a fresh partial folder)."""
        if self.format == "gguf":
            f = self.files[0]
            return f.sha256 or hashlib.sha256(f"{self.spec.repo}/{f.path}".encode()).hexdigest()
        lines = sorted(f"{f.path}\t{f.size}\t{f.sha256 or f.git_oid or ''}" for f in self.files)
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _transport_errors() -> tuple[type[BaseException], ...]:
    """httpx's, and those of the HTTP client huggingface_hub brings (httpx2 in 2.x)."""
    errors: list[type[BaseException]] = [httpx.HTTPError, OSError]
    try:
        import httpx2

        errors.append(httpx2.HTTPError)
    except ImportError:
        pass
    return tuple(errors)


def list_files(spec: PullSpec, endpoint: str, token: str | None) -> dict[str, RemoteFile]:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        entries = list(
            HfApi(endpoint=endpoint, token=token).list_repo_tree(
                spec.repo, revision=spec.revision, recursive=True
            )
        )
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 502
        raise PullError(f"{spec.repo}: {exc}", 404 if status in (401, 404) else 502) from None
    except _transport_errors() as exc:
        raise PullError(f"cannot reach {endpoint}: {exc}", 502) from None
    files: dict[str, RemoteFile] = {}
    for e in entries:
        size = getattr(e, "size", None)
        if size is None:  # a folder
            continue
        lfs = getattr(e, "lfs", None)
        files[e.path] = RemoteFile(
            path=e.path,
            size=size,
            sha256=lfs.sha256 if lfs is not None else None,
            git_oid=getattr(e, "blob_id", None),
        )
    return files


def folder_files(files: dict[str, RemoteFile]) -> list[RemoteFile]:
    """The files of the repo's top-level safetensors folder (empty if it has none)."""
    top = [f for p, f in files.items() if "/" not in p]
    keep = [
        f
        for f in top
        if f.path.lower().endswith(_FOLDER_SUFFIXES) or f.path.lower() in _FOLDER_NAMES
    ]
    names = {f.path for f in keep}
    if "config.json" not in names or not any(n.endswith(".safetensors") for n in names):
        return []
    return sorted(keep, key=lambda f: f.path)


def plan(spec: PullSpec, endpoint: str, token: str | None) -> Plan:
    files = list_files(spec, endpoint, token)
    ggufs = sorted(p for p in files if p.lower().endswith(".gguf"))
    folder = folder_files(files)
    tag = (spec.tag or "").lower()
    if spec.filename:
        if spec.filename not in files:
            raise PullError(f"{spec.repo} has no file '{spec.filename}'", 404)
        path = spec.filename
    elif tag in FOLDER_TAGS or (not tag and not ggufs and folder):
        if not folder:
            raise PullError(
                f"{spec.repo} has no safetensors model folder (config.json + *.safetensors)", 404
            )
        name = spec.repo.split("/")[1]
        if spec.revision != "main":
            name = f"{name}@{spec.revision}"
        return Plan(spec, "mlx", name, folder)
    elif tag:
        hits = [p for p in ggufs if tag in p.lower()]
        if not hits:
            raise PullError(f"{spec.repo} has no GGUF matching '{spec.tag}': {ggufs}", 404)
        path = hits[0]
    elif not ggufs:
        raise PullError(f"{spec.repo} has neither GGUF files nor a safetensors model folder", 404)
    else:
        path = next((p for q in _PREFERRED for p in ggufs if q.lower() in p.lower()), ggufs[0])
    return Plan(spec, "gguf", PurePosixPath(path).name, [files[path]])
