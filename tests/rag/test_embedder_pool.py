"""EmbedderPool's bookkeeping: one load per model however many ask, LRU eviction that never
closes an embedder in use, and load failures told apart from the caller's own errors."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from impetus.rag.embedder_pool import EmbedderPool, LoadFailed


class Fake:
    def __init__(self, path: Path, name: str) -> None:
        self.path, self.name, self.closed = path, name, False

    def close(self) -> None:
        self.closed = True


def test_concurrent_requests_load_a_model_once() -> None:
    loads: list[Path] = []
    lock = threading.Lock()

    def load(path: Path, name: str) -> Fake:
        time.sleep(0.05)  # long enough for every request to be waiting
        with lock:
            loads.append(path)
        return Fake(path, name)

    pool = EmbedderPool(load)

    async def one() -> Fake:
        async with pool.use(Path("/m/a.gguf"), "a") as e:
            return e

    async def main() -> list[Fake]:
        return await asyncio.gather(*(one() for _ in range(8)))

    got = asyncio.run(main())
    assert loads == [Path("/m/a.gguf")] and len({id(e) for e in got}) == 1


def test_the_least_recently_used_idle_model_is_closed() -> None:
    pool = EmbedderPool(Fake, max_loaded=2)
    a, b, c = Path("/a"), Path("/b"), Path("/c")

    async def main() -> None:
        async with pool.use(a, "a") as ea:
            async with pool.use(b, "b"):
                pass
            async with pool.use(b, "b"):
                pass
            # a is in use, b is idle: loading c closes b although a was used first.
            async with pool.use(c, "c") as ec:
                assert set(pool.loaded()) == {a, c}
            assert not ea.closed
        # a was released last, so c is now the one used longest ago: b's new load closes it.
        async with pool.use(b, "b") as eb:
            assert set(pool.loaded()) == {a, b} and ec.closed and not ea.closed
        pool.close()
        assert eb.closed and pool.loaded() == []

    asyncio.run(main())


def test_everything_busy_goes_over_the_cap_until_released() -> None:
    pool = EmbedderPool(Fake, max_loaded=1)

    async def main() -> None:
        async with pool.use(Path("/a"), "a") as ea, pool.use(Path("/b"), "b") as eb:
            assert len(pool.loaded()) == 2 and not ea.closed and not eb.closed
        assert len(pool.loaded()) == 1 and ea.closed != eb.closed

    asyncio.run(main())


def test_a_load_failure_is_load_failed_and_not_cached() -> None:
    calls = []

    def load(path: Path, name: str) -> Fake:
        calls.append(path)
        if len(calls) == 1:
            raise OSError("truncated file")
        return Fake(path, name)

    pool = EmbedderPool(load)

    async def main() -> None:
        with pytest.raises(LoadFailed) as info:
            async with pool.use(Path("/a"), "a"):
                pass
        assert isinstance(info.value.__cause__, OSError)
        with pytest.raises(ValueError):  # the caller's own error passes through as is
            async with pool.use(Path("/a"), "a"):
                raise ValueError("bad input")
        assert len(calls) == 2

    asyncio.run(main())
