"""`impetus pull org/repo[:file|:QUANT|:mlx]`: a GGUF file or an MLX folder from the Hub.

hub_files.py decides what to download; transfer.py moves each file (resumable, verified,
cancellable). This module keeps partial downloads in `models/.partial/`, reports one
aggregated progress, and puts the result into the models folder with one atomic rename (a file,
or a whole folder) only after every byte is verified and the model inspected, so the registry
never sees a half model.

A lock file next to each partial download keeps two pulls (threads or processes) from writing
the same bytes: the second waits a few seconds (a cancelled pull lets go within one) and is
then refused with 409.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from impetus.models import transfer
from impetus.models.gguf_info import InvalidModel, read_gguf
from impetus.models.hub_files import INDEX, Plan, PullSpec, plan
from impetus.models.registry import ModelRecord, Registry, inspect
from impetus.models.transfer import CancelToken, PullCancelled, PullError, RemoteFile

__all__ = ["CancelToken", "PullCancelled", "PullError", "PullSpec", "Puller"]

Progress = Callable[[dict], None]
LOCK_WAIT = 5.0  # seconds a pull waits for another one on the same files


def _endpoint() -> str:
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


class _Meter:
    """One progress for all the files of a pull: bytes on disk over bytes expected."""

    def __init__(self, emit: Progress, label: str, total: int | None, files: int) -> None:
        self.emit, self.label, self.total = emit, label, total
        self.have: dict[str, int] = {}
        self.files, self.done = files, 0
        self.current = ""
        self.last = 0.0

    def update(self, path: str, have: int, *, force: bool = False) -> None:
        self.have[path] = have
        self.current = path
        now = time.monotonic()
        if force or now - self.last > 0.1:
            self.last = now
            self.emit(self.event())

    def flush(self) -> None:
        self.last = time.monotonic()
        self.emit(self.event())

    def event(self) -> dict:
        event = {
            "status": "downloading",
            "digest": self.label,
            "total": self.total,
            "completed": sum(self.have.values()),
        }
        if self.files > 1:
            event |= {
                "file": self.current,
                "files_total": self.files,
                "files_completed": self.done,
            }
        return event


class Puller:
    def __init__(self, models_dir: Path, registry: Registry, *, token: str | None = None) -> None:
        self.models_dir = models_dir
        self.registry = registry
        self.token = token or os.environ.get("HF_TOKEN")
        self.cache = models_dir / ".partial"

    def pull(
        self,
        text: str,
        progress: Progress = lambda e: None,
        cancel: CancelToken | None = None,
    ) -> ModelRecord:
        """Raises PullError (PullCancelled when `cancel` fires; the partial files stay)."""
        cancel = cancel or CancelToken()
        spec = PullSpec.parse(text)
        endpoint = _endpoint()
        progress({"status": "pulling manifest"})
        p = plan(spec, endpoint, self.token)
        cancel.check()
        self.cache.mkdir(parents=True, exist_ok=True)
        if p.format == "gguf":
            return self._pull_gguf(p, endpoint, progress, cancel)
        return self._pull_folder(p, endpoint, progress, cancel)

    # --- shared --------------------------------------------------------------------------

    def _cached(self, p: Plan, target: Path, aliases: list[str], progress: Progress):
        """The registered model if `target` already holds exactly this pull; 409 if it holds
        something else."""
        if not target.exists():
            return None
        existing = self.registry.get(str(target))
        if existing is None:  # there, but not scanned yet
            with contextlib.suppress(InvalidModel):
                existing = self.registry.add(target, source="local")
        if existing is not None and p.format == "gguf":
            self.registry.ensure_sha256(existing)
        if existing is not None and existing.sha256 == p.digest:
            for alias in aliases:
                self.registry.set_alias(alias, existing.name)
            progress({"status": "success", "model": existing.name, "cached": True})
            return existing
        kind = "folder" if p.format == "mlx" else "file"
        raise PullError(
            f"a different {kind} named {target.name} is already in the models folder", 409
        )

    @contextlib.contextmanager
    def _locked(self, path: Path, what: str) -> Iterator[None]:
        from filelock import FileLock, Timeout

        lock = FileLock(str(path) + ".lock")
        try:
            lock.acquire(timeout=LOCK_WAIT)
        except Timeout:
            raise PullError(
                f"{what} is already being pulled (another request or process); wait for it to"
                " finish or cancel it",
                409,
            ) from None
        try:
            yield
        finally:
            lock.release()

    def _fetch(
        self,
        p: Plan,
        endpoint: str,
        f: RemoteFile,
        dest: Path,
        meter: _Meter,
        progress: Progress,
        cancel: CancelToken,
    ) -> str:
        from huggingface_hub import hf_hub_url
        from huggingface_hub.utils import build_hf_headers

        url = hf_hub_url(p.spec.repo, f.path, revision=p.spec.revision, endpoint=endpoint)

        def retry(have: int, size: int | None) -> None:
            meter.update(f.path, have, force=True)
            progress(
                {"status": "retrying", "completed": sum(meter.have.values()), "total": meter.total}
            )

        return transfer.download(
            url,
            dest,
            f,
            headers=build_hf_headers(token=self.token),
            on_progress=lambda have, size: meter.update(f.path, have),
            on_retry=retry,
            cancel=cancel,
        )

    # --- one GGUF file -------------------------------------------------------------------

    def _pull_gguf(
        self, p: Plan, endpoint: str, progress: Progress, cancel: CancelToken
    ) -> ModelRecord:
        f = p.files[0]
        target = self.models_dir / p.name
        alias = f"{p.spec.repo}:{f.path}".lower()
        if (rec := self._cached(p, target, [alias], progress)) is not None:
            return rec
        partial = self.cache / f"{p.digest}.partial"
        with self._locked(partial, f"{p.spec.repo}:{f.path}"):
            meter = _Meter(progress, f.label, f.size, 1)
            digest = self._fetch(p, endpoint, f, partial, meter, progress, cancel)
            meter.flush()
            progress({"status": "verifying sha256 digest", "digest": f"sha256:{digest}"})
            try:
                read_gguf(partial)
                from impetus.engines.llama_ctypes import check_loadable  # loads libllama

                check_loadable(partial)
            except (InvalidModel, ValueError) as exc:
                partial.unlink(missing_ok=True)
                raise PullError(str(exc).replace(partial.name, p.name)) from None
            progress({"status": "writing manifest"})
            try:
                os.link(partial, target)  # atomic, and never over a file that appeared meanwhile
            except FileExistsError:
                raise PullError(f"{p.name} appeared in the models folder meanwhile", 409) from None
            except OSError:
                os.replace(partial, target)
            partial.unlink(missing_ok=True)
        try:
            rec = self.registry.add(
                target,
                source=f"hf:{p.spec.repo}/{f.path}@{p.spec.revision}",
                sha256=digest,
                aliases=[alias],
            )
        except InvalidModel as exc:
            target.unlink(missing_ok=True)
            raise PullError(str(exc)) from None
        progress({"status": "success", "model": rec.name})
        return rec

    # --- an MLX / safetensors folder -------------------------------------------------------

    def _pull_folder(
        self, p: Plan, endpoint: str, progress: Progress, cancel: CancelToken
    ) -> ModelRecord:
        """Files download into `.partial/<name>-<digest>/` (each as `<file>.partial` until
        verified); the finished folder is renamed into the models folder in one step."""
        target = self.models_dir / p.name
        aliases = [f"{p.spec.repo}:mlx", p.spec.repo]
        if (rec := self._cached(p, target, aliases, progress)) is not None:
            return rec
        work = self.cache / f"{p.name}-{p.digest[:16]}"
        with self._locked(work, p.spec.repo):
            work.mkdir(exist_ok=True)
            files = {f.path: f for f in p.files}
            meter = _Meter(progress, f"sha256:{p.digest}", None, len(files))

            def fetch(f: RemoteFile) -> None:
                final = work / f.path
                if final.is_file() and final.stat().st_size == f.size:
                    meter.update(f.path, f.size or 0)  # verified before it got its name
                else:
                    self._fetch(p, endpoint, f, work / f"{f.path}.partial", meter, progress, cancel)
                    os.replace(work / f"{f.path}.partial", final)
                meter.done += 1

            if INDEX in files:  # only the shards the index names (some repos hold two layouts)
                fetch(files[INDEX])
                shards = self._shards(work / INDEX)
                missing = sorted(shards - files.keys())
                if missing:
                    raise PullError(f"{p.spec.repo}: {INDEX} names missing files {missing}", 502)
                files = {
                    k: f for k, f in files.items() if not k.endswith(".safetensors") or k in shards
                }
                meter.files = len(files)
            meter.total = sum(f.size or 0 for f in files.values())
            for f in files.values():
                if f.path != INDEX:
                    fetch(f)
            meter.flush()
            progress({"status": "verifying sha256 digest", "digest": f"sha256:{p.digest}"})
            for stray in work.iterdir():  # e.g. a shard the index does not name
                if stray.name not in files:
                    stray.unlink() if stray.is_file() else shutil.rmtree(stray)
            try:
                inspect(work)
            except InvalidModel as exc:
                shutil.rmtree(work, ignore_errors=True)
                raise PullError(str(exc).replace(work.name, p.name)) from None
            progress({"status": "writing manifest"})
            try:
                os.rename(work, target)  # atomic; fails rather than merge into an existing folder
            except OSError:
                raise PullError(f"{p.name} appeared in the models folder meanwhile", 409) from None
        try:
            rec = self.registry.add(
                target,
                source=f"hf:{p.spec.repo}@{p.spec.revision}",
                sha256=p.digest,
                aliases=aliases,
            )
        except InvalidModel as exc:
            shutil.rmtree(target, ignore_errors=True)
            raise PullError(str(exc)) from None
        progress({"status": "success", "model": rec.name})
        return rec

    @staticmethod
    def _shards(index: Path) -> set[str]:
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
            return {str(v) for v in weight_map.values()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PullError(f"{INDEX} is not a valid safetensors index: {exc}", 502) from None
