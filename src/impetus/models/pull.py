"""`impetus pull org/repo[:file]`: download a GGUF from the Hugging Face Hub.

huggingface_hub finds the file (`HfApi.list_repo_tree`, which also gives the LFS sha256 and size)
and builds the URL and headers (`hf_hub_url`, `build_hf_headers`; `HF_ENDPOINT` and `HF_TOKEN`
apply). The transfer is ours, because `hf_hub_download` deletes its partial file when a transfer
fails: we keep `models/.partial/<sha256>.partial` across failures and restarts and resume it
with an HTTP Range request, hash as we write, check size and sha256, validate the GGUF header,
and only then rename it into the models folder (atomic) and register it.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from impetus.models.gguf_info import InvalidModel, read_gguf
from impetus.models.registry import ModelRecord, Registry

Progress = Callable[[dict], None]
_PREFERRED = ("Q4_K_M", "Q4_K_S", "Q4_0", "Q5_K_M", "Q8_0")
_RETRIES = 5


class PullError(Exception):
    """A pull failed; the message is safe to show. `status` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class PullSpec:
    repo: str
    filename: str | None = None  # a file, or None to choose one
    tag: str | None = None  # a quantization like Q4_K_M to choose by
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


def _endpoint() -> str:
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def choose_file(
    spec: PullSpec, endpoint: str, token: str | None
) -> tuple[str, int | None, str | None]:
    """(path in repo, size, sha256) of the GGUF to download."""
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
    except httpx.HTTPError as exc:
        raise PullError(f"cannot reach {endpoint}: {exc}", 502) from None
    files = {e.path: e for e in entries if getattr(e, "size", None) is not None}
    ggufs = sorted(p for p in files if p.lower().endswith(".gguf"))
    if spec.filename:
        if spec.filename not in files:
            raise PullError(f"{spec.repo} has no file '{spec.filename}'", 404)
        path = spec.filename
    elif spec.tag:
        hits = [p for p in ggufs if spec.tag.lower() in p.lower()]
        if not hits:
            raise PullError(f"{spec.repo} has no GGUF matching '{spec.tag}': {ggufs}", 404)
        path = hits[0]
    elif not ggufs:
        raise PullError(f"{spec.repo} has no GGUF files", 404)
    else:
        path = next((p for q in _PREFERRED for p in ggufs if q.lower() in p.lower()), ggufs[0])
    entry = files[path]
    lfs = getattr(entry, "lfs", None)
    sha = lfs.sha256 if lfs is not None else None
    return path, entry.size, sha


class Puller:
    def __init__(self, models_dir: Path, registry: Registry, *, token: str | None = None) -> None:
        self.models_dir = models_dir
        self.registry = registry
        self.token = token or os.environ.get("HF_TOKEN")
        self.chunk = 1 << 20

    def pull(self, text: str, progress: Progress = lambda e: None) -> ModelRecord:
        from huggingface_hub import hf_hub_url

        spec = PullSpec.parse(text)
        endpoint = _endpoint()
        progress({"status": "pulling manifest"})
        filename, size, sha = choose_file(spec, endpoint, self.token)
        name = filename.rsplit("/", 1)[-1]
        target = self.models_dir / name
        alias = f"{spec.repo}:{filename}".lower()
        existing = self.registry.get(str(target)) if target.exists() else None
        if existing is not None and sha and existing.sha256 == sha:
            self.registry.set_alias(alias, existing.name)
            progress({"status": "success", "model": existing.name, "cached": True})
            return existing
        if target.exists():
            raise PullError(f"a different file named {name} is already in the models folder", 409)
        url = hf_hub_url(spec.repo, filename, revision=spec.revision, endpoint=endpoint)
        key = sha or hashlib.sha256(url.encode()).hexdigest()
        partial = self.models_dir / ".partial" / f"{key}.partial"
        partial.parent.mkdir(parents=True, exist_ok=True)
        digest = self._download(url, partial, size, sha, progress)
        progress({"status": "verifying sha256 digest", "digest": f"sha256:{digest}"})
        try:
            read_gguf(partial)
        except InvalidModel as exc:
            partial.unlink(missing_ok=True)
            raise PullError(str(exc).replace(partial.name, name)) from None
        progress({"status": "writing manifest"})
        os.replace(partial, target)  # atomic: never a half file under the real name
        try:
            rec = self.registry.add(
                target,
                source=f"hf:{spec.repo}/{filename}@{spec.revision}",
                sha256=digest,
                aliases=[alias],
            )
        except InvalidModel as exc:
            target.unlink(missing_ok=True)
            raise PullError(str(exc)) from None
        progress({"status": "success", "model": rec.name})
        return rec

    def _download(
        self, url: str, partial: Path, size: int | None, sha: str | None, progress: Progress
    ) -> str:
        from huggingface_hub.utils import build_hf_headers

        headers = build_hf_headers(token=self.token)
        headers["Accept-Encoding"] = "identity"
        digest = hashlib.sha256()
        have = 0
        if partial.exists():  # resume: hash what we already have
            with partial.open("rb") as fh:
                while block := fh.read(self.chunk):
                    digest.update(block)
                    have += len(block)
            if size is not None and have > size:
                partial.unlink()
                digest, have = hashlib.sha256(), 0
        label = f"sha256:{sha}" if sha else url
        last = 0.0
        failures = 0
        while size is None or have < size:
            req_headers = dict(headers)
            if have:
                req_headers["Range"] = f"bytes={have}-"
            try:
                with (
                    httpx.stream(
                        "GET", url, headers=req_headers, follow_redirects=True, timeout=30
                    ) as resp,
                    partial.open("ab") as out,
                ):
                    if resp.status_code == 416 and size is not None and have == size:
                        break
                    if resp.status_code >= 400:
                        raise PullError(
                            f"download failed: HTTP {resp.status_code}",
                            404 if resp.status_code == 404 else 502,
                        )
                    if have and resp.status_code == 200:  # the server ignored our Range
                        out.truncate(0)
                        digest, have = hashlib.sha256(), 0
                    if size is None:
                        total = resp.headers.get("content-length")
                        size = have + int(total) if total and total.isdigit() else None
                    for block in resp.iter_bytes():
                        out.write(block)
                        digest.update(block)
                        have += len(block)
                        failures = 0
                        now = time.monotonic()
                        if now - last > 0.1:
                            last = now
                            progress(
                                {
                                    "status": "downloading",
                                    "digest": label,
                                    "total": size,
                                    "completed": have,
                                }
                            )
                if size is None:
                    break
                if have < size:
                    raise httpx.RemoteProtocolError("connection closed early")
            except (httpx.TransportError, httpx.RemoteProtocolError) as exc:
                failures += 1
                if failures > _RETRIES:
                    raise PullError(
                        f"download interrupted ({have} of {size} bytes kept; pull again to"
                        f" resume): {exc}",
                        502,
                    ) from None
                progress({"status": "retrying", "completed": have, "total": size})
                time.sleep(min(2.0, 0.2 * failures))
        progress({"status": "downloading", "digest": label, "total": size, "completed": have})
        if size is not None and have != size:
            partial.unlink(missing_ok=True)
            raise PullError(f"size mismatch: expected {size} bytes, got {have}", 502)
        result = digest.hexdigest()
        if sha and result != sha:
            partial.unlink(missing_ok=True)
            raise PullError(f"sha256 mismatch: expected {sha}, got {result}", 502)
        return result
