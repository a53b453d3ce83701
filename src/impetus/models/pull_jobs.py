"""Pulls running in the server: one download per model, however many clients watch it.

A second request for a pull that is already running joins it (it gets the last progress at
once, then the same events) instead of starting a second download of the same bytes. A pull
runs for as long as someone watches: when its last client goes away (an HTTP client that
disconnects, a UI tab that closes) the download is cancelled within about a second and its
partial files stay in `models/.partial/` for the next pull to resume. A pull of the same model
from another process is kept apart by the lock files in pull.py (the later one gets 409).

Everything here runs on the event loop except `Puller.pull`, which runs on a worker thread and
hands its events back with `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from impetus.models.hub_files import PullSpec
from impetus.models.pull import CancelToken, Puller, PullError
from impetus.models.registry import Registry

log = logging.getLogger("impetus.models")


class PullJob:
    def __init__(self, key: str, on_done: Callable[[PullJob], None]) -> None:
        self.key = key
        self.cancel = CancelToken()
        self.subscribers: list[Subscription] = []
        self.started: dict | None = None  # the first event, replayed to those who join
        self.latest: dict | None = None  # the last progress, replayed too
        self.final: dict | None = None
        self.thread: asyncio.Future | None = None
        self._on_done = on_done

    def publish(self, event: dict) -> None:
        if self.started is None:
            self.started = event
        elif "completed" in event:
            self.latest = event
        if "error" in event or event.get("status") == "success":
            self.final = event
        for sub in list(self.subscribers):
            sub.queue.put_nowait(event)

    def finish(self) -> None:
        for sub in list(self.subscribers):
            sub.queue.put_nowait(None)
        self.subscribers.clear()
        self._on_done(self)

    def join(self) -> Subscription:
        sub = Subscription(self)
        for event in (self.started, self.latest, self.final):
            if event is not None:
                sub.queue.put_nowait(event)
        self.subscribers.append(sub)
        return sub

    def leave(self, sub: Subscription) -> None:
        if sub in self.subscribers:
            self.subscribers.remove(sub)
            sub.queue.put_nowait(None)
            if not self.subscribers and self.final is None and not self.cancel.is_set():
                log.info("pull %s: every client left; cancelling (partial files kept)", self.key)
                self.cancel.cancel()


class Subscription:
    """One client's view of a pull: `events()` to read, `leave()` when the client goes."""

    def __init__(self, job: PullJob) -> None:
        self.job = job
        self.queue: asyncio.Queue[dict | None] = asyncio.Queue()

    async def events(self) -> AsyncIterator[dict]:
        try:
            while (event := await self.queue.get()) is not None:
                yield event
        finally:
            self.leave()

    def leave(self) -> None:
        self.job.leave(self)


class PullJobs:
    def __init__(self, models_dir: Path, registry: Registry) -> None:
        self.models_dir = models_dir
        self.registry = registry
        self._jobs: dict[str, PullJob] = {}

    def running(self) -> list[str]:
        return list(self._jobs)

    def subscribe(self, text: str) -> Subscription:
        """Join the running pull of the same model, or start one. PullError for a bad spec."""
        try:
            key = PullSpec.parse(text).key
        except PullError as exc:  # reported like any failed pull: as the stream's last event
            job = PullJob("", lambda job: None)
            sub = job.join()
            job.publish({"error": str(exc), "status_code": exc.status})
            job.finish()
            return sub
        job = self._jobs.get(key)
        if job is None or job.cancel.is_set():
            job = self._start(key, text)
        return job.join()

    def _start(self, key: str, text: str) -> PullJob:
        loop = asyncio.get_running_loop()
        previous = self._jobs.get(key)
        job = PullJob(key, self._done)
        self._jobs[key] = job

        def call(fn: Callable, *args: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the server is stopping
                loop.call_soon_threadsafe(fn, *args)

        def emit(event: dict) -> None:
            call(job.publish, event)

        def work() -> None:
            if previous is not None and previous.thread is not None:
                # A cancelled pull of the same files is still letting go of them.
                asyncio.run_coroutine_threadsafe(_wait(previous.thread), loop).result()
            try:
                Puller(self.models_dir, self.registry).pull(text, emit, job.cancel)
            except PullError as exc:
                emit({"error": str(exc), "status_code": exc.status})
            except Exception as exc:
                log.exception("pull %s", text)
                emit({"error": f"pull failed: {exc}", "status_code": 500})
            finally:
                call(job.finish)

        # A thread of its own, not the default executor: a few long pulls must not starve the
        # asyncio.to_thread work (model loads, scans) that shares it.
        done: asyncio.Future = loop.create_future()
        job.thread = done

        def run() -> None:
            try:
                work()
            finally:
                call(done.set_result, None)

        threading.Thread(target=run, name=f"pull {key}", daemon=True).start()
        return job

    def _done(self, job: PullJob) -> None:
        if self._jobs.get(job.key) is job:
            del self._jobs[job.key]

    def cancel_all(self) -> None:
        for job in list(self._jobs.values()):
            job.cancel.cancel()


async def _wait(fut: asyncio.Future) -> None:
    try:
        await asyncio.shield(fut)
    except Exception:
        pass
