"""How many CPU threads llama.cpp should use right now: all of them, or one under contention.

llama.cpp's CPU threads meet at a barrier after every op (hundreds per token), and its OpenMP
workers spin while they wait. When another process takes a core, the preempted thread holds up
every barrier for a whole kernel time slice. Measured on a 2-core machine with SmolLM2-135M
(`impetus.bench.raw`, one stream): 94 tokens/s with two threads when quiet, 1.5-3 tokens/s with two threads while another job ran, 55-64 tokens/s with one thread in
the same conditions. So a laptop that compiles something while the user chats would fall off a
cliff. One thread has no barriers to wait at.

The governor watches decode-only steps (their cost depends only on the number of rows). Two steps
in a row 8x slower than the same shape's quiet time (the collapse), or three in a row 2.5x slower,
mean contention (one slow step is jitter: a page fault, a GC pause): drop to one thread. Three,
not two, for the milder case: on a noisy VM two 2.5x steps in a row happened with nothing else
running, and the needless drop cost a single stream up to 40% for the whole back-off (measured
in `impetus bench serving`'s single-stream rounds, 2026-12-02). Beside two busy processes
in-process decode ran 3-4x slower with two threads, so 2.5x is where one thread starts to win.
After a back-off it probes the full count again; a probe step slower than one thread was sends
it back, with the back-off doubled.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class ThreadGovernor:
    def __init__(
        self,
        full: int,
        *,
        slow_factor: float = 2.5,
        severe_factor: float = 8.0,
        min_slow_ms: float = 20.0,
        slow_in_a_row: int = 3,
        severe_in_a_row: int = 2,
        first_backoff_s: float = 2.0,
        max_backoff_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.full = full
        self.current = full
        self.switches = 0  # times it dropped to one thread (a /metrics counter)
        self.slow_factor = slow_factor
        self.min_slow_ms = min_slow_ms
        self.slow_in_a_row = slow_in_a_row
        self.severe_factor = severe_factor
        self.severe_in_a_row = severe_in_a_row
        self._slow_run = 0
        self._severe_run = 0
        self.first_backoff_s = first_backoff_s
        self.max_backoff_s = max_backoff_s
        self._clock = clock
        self._quiet: dict[int, float] = {}  # rows -> best recent ms at full threads
        self._single: dict[int, float] = {}  # rows -> EMA ms at one thread
        self._backoff = first_backoff_s
        self._retry_at = 0.0
        self._probing = False

    def observe(self, rows: int, elapsed_ms: float) -> int | None:
        """Record one decode-only step; return the new thread count when it should change."""
        if self.full <= 1:
            return None
        now = self._clock()
        if self.current == 1:
            old = self._single.get(rows)
            self._single[rows] = elapsed_ms if old is None else 0.8 * old + 0.2 * elapsed_ms
            if now < self._retry_at:
                return None
            self.current, self._probing = self.full, True
            return self.full
        quiet = self._quiet.get(rows)
        single = self._single.get(rows)
        slow = quiet is not None and elapsed_ms > max(self.slow_factor * quiet, self.min_slow_ms)
        severe = slow and elapsed_ms > self.severe_factor * quiet
        if self._probing:
            slow = slow or (single is not None and elapsed_ms > single)
            if not slow:
                self._probing, self._backoff = False, self.first_backoff_s
            else:
                self._slow_run = self.slow_in_a_row  # a failed probe needs no second opinion
        self._slow_run = self._slow_run + 1 if slow else 0
        self._severe_run = self._severe_run + 1 if severe else 0
        if self._slow_run >= self.slow_in_a_row or self._severe_run >= self.severe_in_a_row:
            self._slow_run = self._severe_run = 0
            if self._probing:
                self._backoff = min(2 * self._backoff, self.max_backoff_s)
            self._probing = False
            self._retry_at = now + self._backoff
            self.current = 1
            self.switches += 1
            return 1
        if slow:
            return None  # wait for a second opinion; keep the quiet time clean
        # A slowly rising minimum: tracks the quiet cost (thermal drift, longer contexts) while
        # a burst of slow steps cannot drag it up before the rule above fires.
        self._quiet[rows] = elapsed_ms if quiet is None else min(quiet * 1.02, elapsed_ms)
        return None
