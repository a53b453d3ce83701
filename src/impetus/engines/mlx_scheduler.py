"""The MLX engine's continuous-batching scheduler: the one thread that runs the model.

Each step decodes ONE token for every running sequence in a single batched forward pass over
mlx-lm's `BatchKVCache` (left-padded, one row per sequence), then runs one chunk of prefill for
the oldest admitted prompt. A prompt is prefilled alone into a plain `KVCache`; when it is done
its first token is sampled and its cache is merged into the running batch (`BatchKVCache.merge`
and `extend`, as mlx-lm's own `BatchGenerator` does). Finished or cancelled rows are dropped
with `filter`. Requests, cancellation, streaming and backpressure work exactly as in the
llama.cpp scheduler (`engines/scheduler.py`), so the server cannot tell the engines apart.

A finished sequence's KV goes to the prefix cache (`mlx_prefix_cache.py`); a new prompt that
shares a prefix with one prefills only the rest. Grammars (`mlx_grammar.py`) and logprobs
are per request, as in llama.cpp.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import mlx.core as mx
from mlx_lm.models.cache import make_prompt_cache

from impetus.engines.delivery import deliver, route
from impetus.engines.mlx_prefix_cache import PrefixCache, reusable
from impetus.engines.mlx_sampling import Sampler, logprobs, sample_batch
from impetus.engines.mlx_tokenizer import MlxTokenizer
from impetus.engines.protocol import (
    ContextLengthExceeded,
    FinishReason,
    Generation,
    GenerationRequest,
    QueueFull,
    TokenEvent,
    TokenLogprob,
)
from impetus.engines.textstream import TextStream

log = logging.getLogger("impetus.mlx")


@dataclass(eq=False)
class _Sequence:
    gen: Generation
    loop: asyncio.AbstractEventLoop
    prompt: list[int]
    max_new: int
    stream: TextStream
    sampler: Sampler | None = None
    cache: list[Any] | None = None  # per-layer KVCache while prefilling
    prefilled: int = 0
    generated: int = 0
    next_token: int = -1  # sampled, not yet in the KV cache
    out: list[int] | None = None  # generated tokens, kept for the prefix cache

    @property
    def length(self) -> int:
        return len(self.prompt) + self.generated


@dataclass
class _Stats:
    requests_admitted: int = 0
    prompt_tokens: int = 0
    prompt_tokens_cached: int = 0
    prefix_cache_hits: int = 0
    completion_tokens: int = 0
    decode_steps: int = 0
    prefill_seconds: float = 0.0
    decode_seconds: float = 0.0
    step_seconds: float = 0.0  # whole steps: prefill, decode and our Python around them


class MlxScheduler:
    def __init__(
        self,
        model: Any,
        tokenizer: MlxTokenizer,
        *,
        context_limit: int,
        parallel: int = 8,
        max_waiting: int = 64,
        prefill_chunk: int = 256,
        grammar: Any = None,
        prefix_cache_entries: int = 4,
    ) -> None:
        self.model = model
        self.grammar = grammar  # mlx_grammar.GrammarCompiler, for requests with a grammar
        self.tok = tokenizer
        self.context_limit = context_limit
        self.parallel = parallel
        self.max_waiting = max_waiting
        self.prefill_chunk = prefill_chunk
        self.stats = _Stats()
        # Twice one request's context, in at most `prefix_cache_entries` sequences.
        self.prefix_cache: PrefixCache | None = None
        if prefix_cache_entries > 0 and reusable(make_prompt_cache(model)):
            self.prefix_cache = PrefixCache(
                max_tokens=2 * context_limit, max_entries=prefix_cache_entries
            )
        self._clear_prefix_cache = False
        self._waiting: list[_Sequence] = []
        self._prefilling: list[_Sequence] = []
        self._running: list[_Sequence] = []  # row i of the batch cache is _running[i]
        self._batch_cache: list[Any] | None = None
        self._incoming: list[_Sequence] = []
        self._cancelled: list[Generation] = []
        self._n_pending = 0
        self._recent_tokens: deque[tuple[float, int]] = deque(maxlen=4096)  # (time, tokens)
        self._cv = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="impetus-mlx", daemon=True)
        self._thread.start()

    # -- called from the event loop ----------------------------------------------------------
    def submit(self, request: GenerationRequest) -> Generation:
        n_prompt = len(request.prompt_tokens)
        if n_prompt == 0:
            raise ValueError("empty prompt")
        if n_prompt >= self.context_limit:
            raise ContextLengthExceeded(n_prompt, self.context_limit)
        request.params.check_vocab(self.tok.vocab_size)
        room = self.context_limit - n_prompt
        gen = Generation(request, cancel=self._cancel)
        seq = _Sequence(
            gen=gen,
            loop=asyncio.get_running_loop(),
            prompt=list(request.prompt_tokens),
            max_new=min(request.params.max_tokens or room, room),
            stream=TextStream(request.params.stop),
        )
        with self._cv:
            busy = len(self._running) + len(self._prefilling)
            if self._n_pending >= self.max_waiting and busy >= self.parallel:
                raise QueueFull(retry_after=1.0)
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
        self._thread.join(timeout=30)

    def snapshot(self) -> dict[str, float]:
        running, prefilling = list(self._running), list(self._prefilling)
        s = self.stats
        return {
            "slots_total": self.parallel,
            "slots_active": len(running) + len(prefilling),
            "queue_depth": self._n_pending,
            "kv_cells_total": self.context_limit * self.parallel,
            "kv_cells_used": sum(q.length for q in running) + sum(q.prefilled for q in prefilling),
            "prompt_tokens": s.prompt_tokens,
            "prompt_tokens_cached": s.prompt_tokens_cached,
            "completion_tokens": s.completion_tokens,
            "decode_steps": s.decode_steps,
            # The same engine timers as llama.cpp's (/metrics impetus_engine_*_seconds): time
            # in the model's forward passes, prompt and generated, like time in llama_decode.
            "decode_seconds": s.decode_seconds + s.prefill_seconds,
            "step_seconds": s.step_seconds,
            "prefix_cache_hits": s.prefix_cache_hits,
            "prefix_cache_tokens": self.prefix_cache.tokens if self.prefix_cache else 0,
            "tokens_per_second": self._recent_rate(),
            "mlx_active_bytes": mx.get_active_memory(),
            "mlx_peak_bytes": mx.get_peak_memory(),
            "mlx_cache_bytes": mx.get_cache_memory(),
        }

    def clear_prefix_cache(self) -> None:
        """Drop the cached prefixes (at the next step, on the engine thread)."""
        with self._cv:
            self._clear_prefix_cache = True
            self._cv.notify()

    def _recent_rate(self, window: float = 5.0) -> float:
        now = time.perf_counter()
        return sum(n for t, n in list(self._recent_tokens) if now - t <= window) / window

    # -- the generation thread ---------------------------------------------------------------
    def _run(self) -> None:
        stream = mx.new_stream(mx.default_device())
        with mx.stream(stream):
            while True:
                with self._cv:
                    while not (
                        self._stopping
                        or self._incoming
                        or self._cancelled
                        or self._waiting
                        or self._running
                        or self._prefilling
                        or self._clear_prefix_cache
                    ):
                        self._cv.wait()
                    if self._stopping:
                        break
                    incoming, self._incoming = self._incoming, []
                    cancelled, self._cancelled = self._cancelled, []
                    if self._clear_prefix_cache and self.prefix_cache is not None:
                        self.prefix_cache.clear()
                    self._clear_prefix_cache = False
                self._waiting.extend(incoming)
                outbox: list[tuple[_Sequence, TokenEvent]] = []
                t_step = time.perf_counter()
                try:
                    self._apply_cancellations(cancelled, outbox)
                    self._admit(outbox)
                    self._decode(outbox)
                    self._prefill(outbox)
                except Exception as exc:  # never let the thread die with requests hanging
                    log.exception("MLX step failed")
                    for q in self._running + self._prefilling:
                        self._finish(q, "error", outbox, error=str(exc))
                    self._running, self._prefilling, self._batch_cache = [], [], None
                self.stats.step_seconds += time.perf_counter() - t_step
                deliver(outbox)
            outbox = [(q, TokenEvent("", finish_reason="cancelled")) for q in self._waiting]
            for q in self._running + self._prefilling:
                self._finish(q, "cancelled", outbox)
            self._running, self._prefilling, self._batch_cache = [], [], None
            deliver(outbox)

    def _apply_cancellations(self, cancelled: list[Generation], outbox: list) -> None:
        if not cancelled:
            return
        gone = set(map(id, cancelled))
        for q in self._waiting + self._prefilling:
            if id(q.gen) in gone:
                self._finish(q, "cancelled", outbox)
        self._waiting = [q for q in self._waiting if id(q.gen) not in gone]
        self._prefilling = [q for q in self._prefilling if id(q.gen) not in gone]
        keep = [i for i, q in enumerate(self._running) if id(q.gen) not in gone]
        for q in self._running:
            if id(q.gen) in gone:
                self._finish(q, "cancelled", outbox)
        self._keep_rows(keep)
        self._sync_pending()

    def _sync_pending(self) -> None:
        with self._cv:
            self._n_pending = len(self._waiting) + len(self._incoming)

    def _admit(self, outbox: list) -> None:
        while self._waiting and len(self._running) + len(self._prefilling) < self.parallel:
            q = self._waiting.pop(0)
            params = q.gen.request.params
            try:
                constraint = None
                if params.grammar is not None:
                    constraint = self.grammar.constraint(params.grammar)
                q.sampler = Sampler(params, constraint)
            except Exception as exc:  # a grammar that does not compile: fail this request only
                outbox.append((q, TokenEvent("", finish_reason="error", error=str(exc))))
                continue
            q.out = []
            shared, cache = 0, None
            if self.prefix_cache is not None:
                shared, cache = self.prefix_cache.lookup(q.prompt)
            q.cache = cache if cache is not None else make_prompt_cache(self.model)
            q.prefilled = shared
            usage = q.gen.usage
            usage.cached_tokens = shared
            usage.queue_seconds = time.perf_counter() - q.gen.request.arrived
            self.stats.requests_admitted += 1
            self.stats.prompt_tokens += len(q.prompt)
            self.stats.prompt_tokens_cached += shared
            self.stats.prefix_cache_hits += shared > 0
            self._prefilling.append(q)
        self._sync_pending()

    def _prefill(self, outbox: list) -> None:
        """One chunk of the oldest admitted prompt; small while others wait on their next token."""
        if not self._prefilling:
            return
        q = self._prefilling[0]
        chunk = self.prefill_chunk if self._running else 4 * self.prefill_chunk
        end = min(len(q.prompt), q.prefilled + chunk)
        t0 = time.perf_counter()
        logits = self.model(mx.array([q.prompt[q.prefilled : end]]), cache=q.cache)
        q.prefilled = end
        if end < len(q.prompt):
            mx.eval([c.state for c in q.cache])
            self.stats.prefill_seconds += time.perf_counter() - t0
            return
        self._prefilling.pop(0)
        row = logits[:, -1, :]
        token = sample_batch(row, [q.sampler])[0]
        lps = self._logprobs(row, [q], [token])
        self.stats.prefill_seconds += time.perf_counter() - t0
        cache = q.cache
        if self._emit(q, token, outbox, lps[0]):
            self._join_batch(q)
        else:
            self._remember(q.prompt, cache)  # done at its first token: the prompt is all it holds

    def _join_batch(self, q: _Sequence) -> None:
        merged = [c.merge([c]) for c in q.cache]
        q.cache = None
        if self._batch_cache is None:
            self._batch_cache = merged
        else:
            for mine, theirs in zip(self._batch_cache, merged, strict=True):
                mine.extend(theirs)
        self._running.append(q)

    def _decode(self, outbox: list) -> None:
        if not self._running:
            return
        t0 = time.perf_counter()
        inputs = mx.array([[q.next_token] for q in self._running])
        logits = self.model(inputs, cache=self._batch_cache)[:, -1, :]
        tokens = sample_batch(logits, [q.sampler for q in self._running])
        lps = self._logprobs(logits, self._running, tokens)
        self.stats.decode_seconds += time.perf_counter() - t0
        self.stats.decode_steps += 1
        keep = []
        for i, (q, t, lp) in enumerate(zip(self._running, tokens, lps, strict=True)):
            if self._emit(q, t, outbox, lp):
                keep.append(i)
            elif self.prefix_cache is not None:
                # The row holds the prompt and every generated token but the last one.
                held = q.prompt + q.out[:-1]
                self._remember(held, [c.extract(i) for c in self._batch_cache])
        self._keep_rows(keep)

    def _logprobs(
        self, logits: mx.array, seqs: list[_Sequence], tokens: list[int]
    ) -> list[TokenLogprob | None]:
        """Logprobs for the rows whose request asked for them (None for the others)."""
        rows = [i for i, q in enumerate(seqs) if q.gen.request.params.logprobs is not None]
        out: list[TokenLogprob | None] = [None] * len(seqs)
        if not rows:
            return out
        picked = logits[mx.array(rows)] if len(rows) < len(seqs) else logits
        tops = [seqs[i].gen.request.params.logprobs for i in rows]
        for i, lp in zip(rows, logprobs(picked, [tokens[i] for i in rows], tops), strict=True):
            out[i] = lp
        return out

    def _remember(self, tokens: list[int], cache: list[Any] | None) -> None:
        if self.prefix_cache is None or cache is None:
            return
        self.prefix_cache.store(tokens, cache)

    def _keep_rows(self, keep: list[int]) -> None:
        if len(keep) == len(self._running):
            return
        self._running = [self._running[i] for i in keep]
        if not keep:
            self._batch_cache = None
        elif self._batch_cache is not None:
            for c in self._batch_cache:
                c.filter(keep)

    def _emit(self, q: _Sequence, token: int, outbox: list, lp: TokenLogprob | None = None) -> bool:
        """Account one sampled token; False when the sequence has finished."""
        self._recent_tokens.append((time.perf_counter(), 1))
        q.generated += 1
        q.out.append(token)
        self.stats.completion_tokens += 1
        usage = q.gen.usage
        usage.completion_tokens = q.generated
        if q.generated == 1:
            usage.ttft_seconds = time.perf_counter() - q.gen.request.arrived
        if self.tok.is_eog(token) and not q.gen.request.params.ignore_eos:
            self._finish(q, "stop", outbox)
            return False
        text = q.stream.push(self.tok.piece(token))
        if q.stream.stopped:
            if text:
                route(outbox, q, TokenEvent(text, (token,), logprob=lp))
            self._finish(q, "stop", outbox)
            return False
        route(outbox, q, TokenEvent(text, (token,), logprob=lp))
        q.next_token = token
        if q.generated >= q.max_new or q.length >= self.context_limit:
            self._finish(q, "length", outbox)
            return False
        return True

    def _finish(self, q: _Sequence, reason: FinishReason, outbox: list, error: str | None = None):
        tail = q.stream.flush() if reason in ("stop", "length") else ""
        matched = q.stream.matched
        outbox.append(
            (q, TokenEvent(tail, finish_reason=reason, error=error, stop_sequence=matched))
        )
        q.sampler = None
        q.cache = None
