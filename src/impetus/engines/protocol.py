"""The neutral core every wire format translates to, and the engine protocol.

The OpenAI, Ollama and Anthropic routers build a `GenerationRequest`, hand it to an engine and
read `TokenEvent`s back. Engines never see HTTP shapes; routers never see llama.cpp.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

FinishReason = Literal["stop", "length", "cancelled", "error"]


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    min_p: float = 0.0
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repeat_penalty: float = 1.0
    penalty_last_n: int = 64
    max_tokens: int | None = None  # None = until the context is full
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False
    grammar: str | None = None  # GBNF (root rule "root"); constrains every sampled token
    logprobs: int | None = None  # None = off; k >= 0 = each token's logprob and top-k alternatives
    logit_bias: tuple[tuple[int, float], ...] = ()  # (token id, added to its logit); -100 bans

    def check_vocab(self, n_vocab: int) -> None:
        """Raise ValueError (a 400) for a logit_bias token the model does not have."""
        bad = [t for t, _ in self.logit_bias if not 0 <= t < n_vocab]
        if bad:
            raise ValueError(f"logit_bias: token {bad[0]} is not in the model's vocabulary")

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclass
class GenerationRequest:
    prompt_tokens: list[int]
    params: SamplingParams = field(default_factory=SamplingParams)
    request_id: str = ""
    arrived: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class TokenLogprob:
    """The model's log-probability of a sampled token (before sampling transforms), and the
    `top` most likely alternatives as (token id, logprob), best first."""

    token: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class TokenEvent:
    """One step of output for one request. The last event has a finish_reason."""

    text: str
    token_ids: tuple[int, ...] = ()
    finish_reason: FinishReason | None = None
    error: str | None = None
    logprob: TokenLogprob | None = None  # set when the request asked for logprobs
    stop_sequence: str | None = None  # on the last event: the stop string that ended it


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    queue_seconds: float = 0.0
    ttft_seconds: float | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: str
    architecture: str
    context_length: int  # tokens one request may use
    train_context_length: int
    vocab_size: int
    eos_token_ids: tuple[int, ...]
    bos_token: str
    eos_token: str
    add_bos: bool
    chat_template: str | None
    size_bytes: int
    metadata: dict[str, str] = field(default_factory=dict)
    created: int = field(default_factory=lambda: int(time.time()))


class Generation:
    """A running request as its caller sees it: async-iterate the events, cancel at will.

    The engine's thread calls `_push` through `loop.call_soon_threadsafe`; everything else
    happens on the event loop.
    """

    def __init__(self, request: GenerationRequest, cancel: Any) -> None:
        self.request = request
        self.usage = Usage(prompt_tokens=len(request.prompt_tokens))
        self.finish_reason: FinishReason | None = None
        self._queue: asyncio.Queue[TokenEvent] = asyncio.Queue()
        self._cancel = cancel
        self._done = False
        self.expired = False  # ended by the server's request timeout
        self.on_done: Callable[[], None] | None = None  # once, when it ends (timeout timer)
        self.on_first_token: Callable[[Generation], None] | None = None  # metrics
        self.token_gaps: list[float] = []  # seconds between tokens, for the ITL histogram
        self._last_token_at: float | None = None
        # The fast path (engines/delivery.DirectStream): set by the response once it owns the
        # client's socket; `routed` counts events the engine sent through the event loop (engine
        # thread), `consumed` those the response took off the queue (event loop).
        self.direct: Any = None
        self.routed = 0
        self.consumed = 0

    def note_token(self, now: float, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """A token reached the client: the gap since the last one, or the first-token hook.
        Called on the event loop, or on the engine thread (with `loop`) for a token it wrote
        itself; the first-token hook then runs on the loop."""
        if self._last_token_at is not None:
            self.token_gaps.append(now - self._last_token_at)
        elif self.on_first_token is not None:
            if loop is None:
                self.on_first_token(self)
            else:
                loop.call_soon_threadsafe(self.on_first_token, self)
        self._last_token_at = now

    def _push(self, event: TokenEvent) -> None:
        if event.token_ids:
            self.note_token(time.perf_counter())
        self._queue.put_nowait(event)

    def cancel(self) -> None:
        if not self._done:
            self._done = True
            self._cancel(self)
        self._ended()

    def _ended(self) -> None:
        if self.on_done is not None:
            done, self.on_done = self.on_done, None
            done()

    def expire(self) -> None:
        """The server's request timeout: stop as if max_tokens were reached. The engine frees
        the slot at its next step; the text so far is kept and ends with finish "length"."""
        if not self._done:
            self.expired = True
            self.cancel()

    def _final(self, event: TokenEvent) -> TokenEvent:
        self._done = True
        self._ended()
        if event.finish_reason == "cancelled" and self.expired:
            event = replace(event, finish_reason="length")
        self.finish_reason = event.finish_reason
        return event

    async def batches(self) -> AsyncIterator[list[TokenEvent]]:
        """Events in batches: everything that arrived while the consumer was busy comes as one
        list, so a stream that falls behind sends fewer, larger chunks instead of lagging."""
        try:
            while True:
                batch = [await self._queue.get()]
                while not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                self.consumed += len(batch)
                for i, event in enumerate(batch):
                    if event.finish_reason is not None:
                        yield [*batch[:i], self._final(event)]
                        return
                yield batch
        finally:
            self.cancel()

    async def __aiter__(self) -> AsyncIterator[TokenEvent]:
        try:
            while True:
                event = await self._queue.get()
                self.consumed += 1
                if event.finish_reason is not None:
                    yield self._final(event)
                    return
                yield event
        finally:
            # Reached when the consumer stops early (client gone): free the slot now.
            self.cancel()


class Engine(Protocol):
    """What the server needs from an inference engine (llama.cpp today, MLX next)."""

    info: ModelInfo

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]: ...

    def detokenize(self, tokens: list[int]) -> str: ...

    def submit(self, request: GenerationRequest) -> Generation:
        """Queue a request. Raises `QueueFull` when the wait queue is at its bound."""
        ...

    def stats(self) -> dict[str, float]: ...

    def close(self) -> None: ...


class EngineError(Exception):
    """An engine refused a request; the message is safe to show to the client."""


class GrammarError(ValueError):
    """An engine could not compile a GBNF grammar (the API answers 400)."""


class QueueFull(EngineError):
    def __init__(self, retry_after: float) -> None:
        super().__init__("the server is at capacity; retry shortly")
        self.retry_after = retry_after


class ContextLengthExceeded(EngineError):
    def __init__(self, prompt_tokens: int, limit: int) -> None:
        super().__init__(
            f"this model's context is {limit} tokens; the prompt has {prompt_tokens}"
            " (leave room for at least one generated token)"
        )
        self.prompt_tokens = prompt_tokens
        self.limit = limit
