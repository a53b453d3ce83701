"""The continuous-batching scheduler: the one thread that drives a llama.cpp context.

Each step admits waiting requests into free sequence slots, then runs ONE `llama_decode` over a
batch holding one token for every decoding sequence plus a budget of prompt tokens (chunked
prefill), samples each sequence with its own chain, and hands the new text to the event loop.

Prefix cache: a slot keeps the KV of its last request after it finishes. A new request takes the
free slot whose cached tokens share the longest prefix with its prompt (or copies a longer
cached prefix from any slot), so a multi-turn follow-up or a shared system prompt is not
recomputed. Idle caches are evicted least recently used first when the KV cells run out.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from impetus.engines.delivery import deliver, route
from impetus.engines.llama_ctypes import LlamaContext, LlamaModel
from impetus.engines.protocol import (
    ContextLengthExceeded,
    FinishReason,
    Generation,
    GenerationRequest,
    QueueFull,
    TokenEvent,
    TokenLogprob,
)
from impetus.engines.sampling import Sampler
from impetus.engines.step_cost import StepCost
from impetus.engines.textstream import TextStream
from impetus.engines.threads import ThreadGovernor

log = logging.getLogger("impetus.scheduler")


@dataclass(eq=False)
class _Sequence:
    gen: Generation
    loop: asyncio.AbstractEventLoop
    prompt: list[int]
    max_new: int
    stream: TextStream
    sampler: Sampler | None = None
    slot: _Slot | None = None
    generated: int = 0
    next_token: int = -1  # sampled, not yet in the KV cache
    batch_index: int = -1  # where this sequence's logits are in the current batch
    admitted: float = 0.0

    @property
    def prefilling(self) -> bool:
        return self.slot is not None and len(self.slot.cached) < len(self.prompt)


@dataclass(eq=False)
class _Slot:
    seq_id: int
    cached: list[int] = field(default_factory=list)  # tokens whose KV sits at 0..n-1
    seq: _Sequence | None = None
    last_used: float = 0.0


@dataclass
class SchedulerStats:
    requests_admitted: int = 0
    prompt_tokens: int = 0
    prompt_tokens_cached: int = 0
    completion_tokens: int = 0
    decode_steps: int = 0
    preemptions: int = 0
    prefix_cache_hits: int = 0
    decode_seconds: float = 0.0  # inside llama_decode
    step_seconds: float = 0.0  # whole steps (decode + our Python around it)
    batch_rows: int = 0  # tokens decoded, prompt and generated
    direct_tokens: int = 0  # tokens the engine thread wrote to their client itself


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class Scheduler:
    def __init__(
        self,
        model: LlamaModel,
        context: LlamaContext,
        *,
        context_limit: int,
        max_waiting: int = 64,
        step_budget_ms: float = 70.0,
    ) -> None:
        self.model = model
        self.ctx = context
        self.context_limit = min(context_limit, context.n_ctx)
        self.max_waiting = max_waiting
        self.step_budget_ms = step_budget_ms
        self.stats = SchedulerStats()
        self._slots = [_Slot(i) for i in range(context.config.n_seq_max)]
        self._waiting: list[_Sequence] = []
        self._incoming: list[_Sequence] = []
        self._cancelled: list[Generation] = []
        self._n_pending = 0  # incoming + waiting, read by submit() for backpressure
        self._cv = threading.Condition()
        self._stopping = False
        self.cost = StepCost()
        # What a step costs beyond llama_decode (sampling, detokenizing, handing tokens to the
        # event loop): the streams see the whole step as their token gap, so the prompt chunk
        # is sized to the budget minus this (an EMA over steps that decoded streams).
        self.overhead_ms = 5.0
        self._decode_ms = 0.0  # llama_decode time of the step in progress
        self._recent_tokens: deque[tuple[float, int]] = deque(maxlen=4096)  # (time, tokens)
        self.governor = ThreadGovernor(context.threads)
        self._thread = threading.Thread(target=self._run, name="impetus-scheduler", daemon=True)
        self._thread.start()

    # -- called from the event loop ----------------------------------------------------------
    def submit(self, request: GenerationRequest) -> Generation:
        n_prompt = len(request.prompt_tokens)
        if n_prompt == 0:
            raise ValueError("empty prompt")
        if n_prompt >= self.context_limit:
            raise ContextLengthExceeded(n_prompt, self.context_limit)
        request.params.check_vocab(self.model.n_vocab)
        room = self.context_limit - n_prompt
        max_new = min(request.params.max_tokens or room, room)
        gen = Generation(request, cancel=self._cancel)
        seq = _Sequence(
            gen=gen,
            loop=asyncio.get_running_loop(),
            prompt=list(request.prompt_tokens),
            max_new=max_new,
            stream=TextStream(request.params.stop),
        )
        with self._cv:
            if self._n_pending >= self.max_waiting and not self._has_free_slot():
                raise QueueFull(retry_after=self._retry_after())
            self._incoming.append(seq)
            self._n_pending += 1
            self._cv.notify()
        return gen

    def _cancel(self, gen: Generation) -> None:
        with self._cv:
            self._cancelled.append(gen)
            self._cv.notify()

    def close(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify()
        self._thread.join(timeout=10)

    def snapshot(self) -> dict[str, float]:
        active = sum(1 for s in self._slots if s.seq is not None)
        used = sum(len(s.cached) for s in self._slots)
        return {
            "slots_total": len(self._slots),
            "slots_active": active,
            "queue_depth": self._n_pending,
            "kv_cells_total": self.ctx.n_ctx,
            "kv_cells_used": min(used, self.ctx.n_ctx),
            "prompt_tokens": self.stats.prompt_tokens,
            "prompt_tokens_cached": self.stats.prompt_tokens_cached,
            "completion_tokens": self.stats.completion_tokens,
            "decode_steps": self.stats.decode_steps,
            "prefix_cache_hits": self.stats.prefix_cache_hits,
            "decode_seconds": self.stats.decode_seconds,
            "step_seconds": self.stats.step_seconds,
            "batch_rows": self.stats.batch_rows,
            "direct_tokens": self.stats.direct_tokens,
            "tokens_per_second": self._recent_rate(),
            "threads": self.governor.current,
            "thread_drops": self.governor.switches,
        }

    def _recent_rate(self, window: float = 5.0) -> float:
        now = time.perf_counter()
        recent = [(t, n) for t, n in list(self._recent_tokens) if now - t <= window]
        if not recent:
            return 0.0
        return sum(n for _, n in recent) / window

    def _has_free_slot(self) -> bool:
        return any(s.seq is None for s in self._slots) and not self._waiting

    def _retry_after(self) -> float:
        # Rough: the queue drains at about one request per slot per (typical) generation.
        return max(1.0, self.cost.decode_ms(len(self._slots)) * 128 / 1000)

    # -- the scheduler thread ----------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cv:
                while not (
                    self._stopping
                    or self._incoming
                    or self._cancelled
                    or self._waiting
                    or any(s.seq is not None for s in self._slots)
                ):
                    self._cv.wait()
                if self._stopping:
                    break
                incoming, self._incoming = self._incoming, []
                cancelled, self._cancelled = self._cancelled, []
            self._waiting.extend(incoming)
            outbox: list[tuple[_Sequence, TokenEvent]] = []
            t_step = time.perf_counter()
            self._decode_ms = 0.0
            try:
                self._apply_cancellations(cancelled, outbox)
                self._admit(outbox)
                self._step(outbox)
            except Exception as exc:  # never let the thread die with requests hanging
                log.exception("scheduler step failed")
                for slot in self._slots:
                    if slot.seq is not None:
                        self._finish(slot.seq, "error", outbox, error=str(exc))
                    slot.cached = []
                self.ctx.clear()
            deliver(outbox, flush_wait=0.003)
            step_ms = (time.perf_counter() - t_step) * 1000
            self.stats.step_seconds += step_ms / 1000
            if self._decode_ms and outbox:
                extra = max(0.0, step_ms - self._decode_ms)
                self.overhead_ms += 0.1 * (min(extra, 50.0) - self.overhead_ms)
        # Shutdown: end everything still open so no client waits forever.
        outbox = []
        for seq in self._waiting:
            outbox.append((seq, TokenEvent("", finish_reason="cancelled")))
        for slot in self._slots:
            if slot.seq is not None:
                self._finish(slot.seq, "cancelled", outbox)
        deliver(outbox, flush_wait=0.003)

    def _apply_cancellations(self, cancelled: list[Generation], outbox: list) -> None:
        if not cancelled:
            return
        gone = set(map(id, cancelled))
        kept = []
        for seq in self._waiting:
            if id(seq.gen) in gone:
                outbox.append((seq, TokenEvent("", finish_reason="cancelled")))
            else:
                kept.append(seq)
        self._waiting = kept
        for slot in self._slots:
            if slot.seq is not None and id(slot.seq.gen) in gone:
                self._finish(slot.seq, "cancelled", outbox)
        self._sync_pending()

    def _sync_pending(self) -> None:
        with self._cv:
            self._n_pending = len(self._waiting) + len(self._incoming)

    def _admit(self, outbox: list) -> None:
        free = [s for s in self._slots if s.seq is None]
        if not free or not self._waiting:
            return
        # Shortest prompt first gets first tokens out early; a request that has waited for
        # several seconds goes first regardless, so long prompts are not starved.
        now = time.perf_counter()
        self._waiting.sort(
            key=lambda q: (now - q.gen.request.arrived < 5.0, len(q.prompt) - self._best_prefix(q))
        )
        while free and self._waiting:
            seq = self._waiting.pop(0)
            try:
                seq.sampler = Sampler(seq.gen.request.params, self.model.n_vocab, self.model.vocab)
            except Exception as exc:  # e.g. a grammar llama.cpp refuses: fail this request only
                outbox.append((seq, TokenEvent("", finish_reason="error", error=str(exc))))
                continue
            slot = min(free, key=lambda s: self._slot_cost(s, seq.prompt))
            free.remove(slot)
            self._place(seq, slot)
        self._sync_pending()

    @staticmethod
    def _slot_cost(slot: _Slot, prompt: list[int]) -> tuple:
        """Which free slot a prompt should take: one whose cache it would not destroy.

        A slot whose cached tokens are all a prefix of the prompt (or an empty slot) loses
        nothing; among those, the longest prefix wins. Otherwise overwrite the least recently
        used cache. Any longer prefix held elsewhere is then copied in by `_place`, so taking an
        empty slot never costs the shared prefix.
        """
        own = _common_prefix(slot.cached, prompt)
        waste = len(slot.cached) - own
        return (1, slot.last_used) if waste > 0 else (0, -own)

    def _best_prefix(self, seq: _Sequence) -> int:
        return max((_common_prefix(s.cached, seq.prompt) for s in self._slots), default=0)

    def _place(self, seq: _Sequence, slot: _Slot) -> None:
        """Bind a request to a slot, reusing as much cached KV as possible."""
        own = _common_prefix(slot.cached, seq.prompt)
        donor, shared = slot, own
        for other in self._slots:
            n = _common_prefix(other.cached, seq.prompt)
            if n > shared:
                donor, shared = other, n
        # At least one prompt token must be decoded to get logits for the first sample.
        shared = min(shared, len(seq.prompt) - 1)
        if donor is slot:
            self.ctx.seq_rm(slot.seq_id, shared, -1)
            slot.cached = slot.cached[:shared]
        else:
            self.ctx.seq_rm(slot.seq_id, 0, -1)
            if shared:
                self.ctx.seq_cp(donor.seq_id, slot.seq_id, 0, shared)
            slot.cached = donor.cached[:shared]
        seq.slot = slot
        seq.admitted = time.perf_counter()
        slot.seq = seq
        usage = seq.gen.usage
        usage.cached_tokens = shared
        usage.queue_seconds = seq.admitted - seq.gen.request.arrived
        self.stats.requests_admitted += 1
        self.stats.prompt_tokens += len(seq.prompt)
        self.stats.prompt_tokens_cached += shared
        self.stats.prefix_cache_hits += shared > 0

    def _prefill_budget(self, n_decoding: int, prompt_new_tokens: int) -> int:
        """Prompt tokens for this step; `prompt_new_tokens`: the uncached length of the prompt
        that goes first."""
        cap = self.ctx.batch_capacity - n_decoding
        if n_decoding == 0:
            return cap  # nobody is waiting on a next token: prefill at full speed
        # Streams are decoding: add only as many prompt tokens as fit in the step budget, so
        # their next token stays under ~100 ms (costs learnt online: engines/step_cost.py).
        return self.cost.chunk(
            n_decoding, self.step_budget_ms - self.overhead_ms, cap, prompt=prompt_new_tokens
        )

    def _step(self, outbox: list) -> None:
        active = [s.seq for s in self._slots if s.seq is not None]
        if not active:
            return
        entries: list[tuple[int, int, int, bool]] = []
        decoding = [q for q in active if not q.prefilling]
        for q in decoding:
            q.batch_index = len(entries)
            entries.append((q.next_token, len(q.slot.cached), q.slot.seq_id, True))
        # One prompt at a time, the one closest to done first: its first token comes soonest.
        prefilling = sorted(
            (q for q in active if q.prefilling), key=lambda q: len(q.prompt) - len(q.slot.cached)
        )
        first = prefilling[0] if prefilling else None
        budget = self._prefill_budget(
            len(decoding), len(first.prompt) - first.gen.usage.cached_tokens if first else 0
        )
        chunks: list[tuple[_Sequence, int]] = []
        for q in prefilling:
            q.batch_index = -1
            if budget <= 0:
                continue
            start = len(q.slot.cached)
            take = min(budget, len(q.prompt) - start)
            done = start + take == len(q.prompt)
            for i in range(start, start + take):
                entries.append((q.prompt[i], i, q.slot.seq_id, done and i == start + take - 1))
            if done:
                q.batch_index = len(entries) - 1
            chunks.append((q, take))
            budget -= take
        if not entries:
            return
        t0 = time.perf_counter()
        if not self._decode_fitting(entries, decoding, chunks, outbox):
            return
        elapsed_ms = (time.perf_counter() - t0) * 1000
        self._decode_ms = elapsed_ms
        self.stats.decode_seconds += elapsed_ms / 1000
        self.stats.batch_rows += len(decoding) + sum(n for _, n in chunks)
        self.cost.observe(len(decoding), sum(n for _, n in chunks), elapsed_ms)
        if not chunks:  # a decode-only step's cost depends only on its rows: the contention probe
            threads = self.governor.observe(len(decoding), elapsed_ms)
            if threads is not None:
                self.ctx.set_threads(threads)
        self.stats.decode_steps += 1
        for q, n in chunks:
            start = len(q.slot.cached)
            q.slot.cached.extend(q.prompt[start : start + n])
        for q in decoding:
            q.slot.cached.append(q.next_token)
        sampled = 0
        for q in active:
            if q.batch_index >= 0 and q.slot is not None:
                self._sample(q, outbox)
                sampled += 1
        self._recent_tokens.append((time.perf_counter(), sampled))

    def _used_cells(self) -> int:
        """KV cells in use (an upper bound: prefixes shared by copy are counted per slot)."""
        return sum(len(s.cached) for s in self._slots)

    def _evict_idle(self, need: int) -> int:
        """Drop idle slots' caches, least recently used first, until `need` cells are free."""
        for slot in sorted(self._slots, key=lambda s: s.last_used):
            if need <= 0:
                break
            if slot.seq is None and slot.cached:
                need -= len(slot.cached)
                self.ctx.seq_rm(slot.seq_id, 0, -1)
                slot.cached = []
        return need

    def _decode_fitting(self, entries, decoding, chunks, outbox) -> bool:
        """Decode the batch; when the KV cache is full, make room and retry.

        Room comes from idle caches first, then by deferring this step's prompt chunks, and only
        then by ending the longest running request with "length". Returns False when nothing
        was left to decode.
        """
        self._evict_idle(self._used_cells() + len(entries) - self.ctx.n_ctx)
        while True:
            rc = self.ctx.decode(entries)
            if rc == 0:
                return True
            if rc != 1:  # 1 = no KV slot for the batch; anything else is a real failure
                raise RuntimeError(f"llama_decode failed with status {rc}")
            if any(s.seq is None and s.cached for s in self._slots):
                self._evict_idle(self.ctx.n_ctx)  # fragmentation: free every idle cache
                continue
            if chunks:
                for q, _ in chunks:
                    q.batch_index = -1
                chunks.clear()
            elif decoding:
                victim = max(decoding, key=lambda q: len(q.slot.cached))
                decoding.remove(victim)
                self.stats.preemptions += 1
                self._finish(victim, "length", outbox)
            if not decoding:
                return False
            for i, q in enumerate(decoding):
                q.batch_index = i
            entries = [(q.next_token, len(q.slot.cached), q.slot.seq_id, True) for q in decoding]

    def _sample(self, q: _Sequence, outbox: list) -> None:
        token = q.sampler.sample(self.ctx.ptr, q.batch_index)
        k = q.gen.request.params.logprobs
        lp = self._logprob(q.batch_index, token, k) if k is not None else None
        q.generated += 1
        self.stats.completion_tokens += 1
        usage = q.gen.usage
        usage.completion_tokens = q.generated
        if q.generated == 1:
            usage.ttft_seconds = time.perf_counter() - q.gen.request.arrived
        params = q.gen.request.params
        if self.model.is_eog(token) and not params.ignore_eos:
            self._finish(q, "stop", outbox)
            return
        text = q.stream.push(self.model.piece(token))
        if q.stream.stopped:
            if text:
                self._emit(q, TokenEvent(text, (token,), logprob=lp), outbox)
            self._finish(q, "stop", outbox)
            return
        q.next_token = token
        self._emit(q, TokenEvent(text, (token,), logprob=lp), outbox)
        if q.generated >= q.max_new or len(q.slot.cached) + 1 >= self.context_limit:
            self._finish(q, "length", outbox)

    def _emit(self, q: _Sequence, event: TokenEvent, outbox: list) -> None:
        if route(outbox, q, event):
            self.stats.direct_tokens += 1

    def _logprob(self, index: int, token: int, top: int) -> TokenLogprob:
        """Log-softmax of the model's raw logits row (only when a request asks for it)."""
        import numpy as np  # only requests with logprobs pay for it

        row = np.frombuffer(self.ctx.logits(index), dtype=np.float32).astype(np.float64)
        peak = row.max()
        lse = peak + np.log(np.exp(row - peak).sum())
        best: tuple[tuple[int, float], ...] = ()
        if top > 0:
            ids = np.argpartition(row, -top)[-top:]
            ids = ids[np.argsort(-row[ids])]
            best = tuple((int(i), float(row[i] - lse)) for i in ids)
        return TokenLogprob(token, float(row[token] - lse), best)

    def _finish(self, q: _Sequence, reason: FinishReason, outbox: list, error: str | None = None):
        tail = q.stream.flush() if reason in ("stop", "length") else ""
        matched = q.stream.matched
        outbox.append(
            (q, TokenEvent(tail, finish_reason=reason, error=error, stop_sequence=matched))
        )
        if q.sampler is not None:
            q.sampler.close()
            q.sampler = None
        if q.slot is not None:
            q.slot.seq = None
            q.slot.last_used = time.perf_counter()
            q.slot = None
