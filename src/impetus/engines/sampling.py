"""Per-request llama.cpp sampler chains.

Every sequence gets its own chain, so its penalties history and its RNG (seeded) are its own:
a seeded request gives the same text whether it runs alone or batched with others.
"""

from __future__ import annotations

import ctypes
import math
import random

from impetus.engines.llama_ctypes import ll
from impetus.engines.protocol import GrammarError, SamplingParams

__all__ = ["GrammarError", "Sampler", "check_grammar", "grammar_sampler"]


def grammar_sampler(vocab: object, grammar: str) -> object:
    """A llama.cpp grammar sampler for a GBNF grammar whose start rule is `root`."""
    ptr = ll.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
    if not ptr:
        raise GrammarError("the grammar could not be parsed")
    return ptr


def check_grammar(vocab: object, grammar: str) -> None:
    """Raise GrammarError if llama.cpp would refuse `grammar` (cheap; safe off the engine thread:
    it only reads the vocabulary)."""
    ll.llama_sampler_free(grammar_sampler(vocab, grammar))


def _has_penalties(params: SamplingParams) -> bool:
    return bool(
        params.presence_penalty
        or params.frequency_penalty
        or params.repeat_penalty not in (0.0, 1.0)
    )


def _temperature_only(params: SamplingParams) -> bool:
    """Sampled at a temperature with nothing else shaping the distribution."""
    return not (
        params.greedy
        or params.grammar is not None
        or params.logit_bias
        or _has_penalties(params)
        or params.top_k > 0
        or params.top_p < 1.0
        or params.min_p > 0.0
    )


class Sampler:
    """The chain for one sequence. A grammar, when given, comes first: conceptually every
    later sampler sees only the tokens it allows. (In practice the chain's pick is checked
    against the grammar first, and the whole vocabulary is filtered only when the pick is
    refused, as llama.cpp's common sampler does: most picks pass, and filtering 50k tokens
    every step would cost more than the decode.)"""

    def __init__(self, params: SamplingParams, n_vocab: int, vocab: object = None) -> None:
        self.grammar = None
        self.ptr = None
        self._plain: TemperatureSampler | None = None
        seed = params.seed if params.seed is not None else random.getrandbits(32)
        if _temperature_only(params):
            # The OpenAI default: sampled in numpy (see TemperatureSampler), no chain needed.
            self._plain = TemperatureSampler(params.temperature, seed, n_vocab)
            return
        chain_params = ll.llama_sampler_chain_default_params()
        chain_params.no_perf = True
        self.ptr = ll.llama_sampler_chain_init(chain_params)
        add = lambda s: ll.llama_sampler_chain_add(self.ptr, s)  # noqa: E731
        if params.grammar is not None:
            try:
                self.grammar = grammar_sampler(vocab, params.grammar)
            except GrammarError:
                self.close()
                raise
            self._candidates = _Candidates(n_vocab)
        if params.logit_bias:
            n = len(params.logit_bias)
            biases = (ll.llama_logit_bias * n)(
                *(ll.llama_logit_bias(t, b) for t, b in params.logit_bias)
            )
            add(ll.llama_sampler_init_logit_bias(n_vocab, n, biases))
        if _has_penalties(params):
            add(
                ll.llama_sampler_init_penalties(
                    n_vocab,
                    params.penalty_last_n,
                    params.repeat_penalty or 1.0,
                    params.frequency_penalty,
                    params.presence_penalty,
                )
            )
        if params.greedy:
            add(ll.llama_sampler_init_greedy())
            return
        if params.top_k > 0:
            add(ll.llama_sampler_init_top_k(params.top_k))
        if params.top_p < 1.0:
            add(ll.llama_sampler_init_top_p(params.top_p, 1))
        if params.min_p > 0.0:
            add(ll.llama_sampler_init_min_p(params.min_p, 1))
        add(ll.llama_sampler_init_temp(params.temperature))
        add(ll.llama_sampler_init_dist(seed & 0xFFFFFFFF))

    def sample(self, ctx_ptr: object, index: int) -> int:
        """Sample (and accept) the next token from batch output `index`."""
        if self._plain is not None:
            return self._plain.sample(ll.llama_get_logits_ith(ctx_ptr, index))
        if self.grammar is None:
            return int(ll.llama_sampler_sample(self.ptr, ctx_ptr, index))
        cand = self._candidates
        logits = ll.llama_get_logits_ith(ctx_ptr, index)
        token = cand.pick(self.ptr, logits)
        if not cand.allows(self.grammar, token):
            cand.load(logits)
            ll.llama_sampler_apply(self.grammar, ctypes.byref(cand.array))
            token = cand.pick(self.ptr, None)
        ll.llama_sampler_accept(self.grammar, token)
        ll.llama_sampler_accept(self.ptr, token)
        return token

    def close(self) -> None:
        if self.ptr:
            ll.llama_sampler_free(self.ptr)
            self.ptr = None
        if self.grammar:
            ll.llama_sampler_free(self.grammar)
            self.grammar = None


class TemperatureSampler:
    """Softmax at a temperature over the whole vocabulary, then one draw: llama.cpp's temp +
    dist chain, in numpy, with the request's own seeded RNG.

    Why by hand: it runs once per token per stream on the engine thread, between decodes.
    llama.cpp's chain builds a 49k-entry candidate array and exps it element by element. In
    the decode loop (the logits row fresh from llama_decode) that took 0.42-0.43 ms per token
    and this 0.23-0.31 ms (0.05 ms when the row is already in cache): a vectorized exp, then
    the draw finds its 256-token block from the block sums and its token inside that block,
    instead of a cumulative sum over the whole vocabulary.
    """

    BLOCK = 256

    def __init__(self, temperature: float, seed: int, n_vocab: int) -> None:
        import numpy as np  # only sampled (non-greedy) requests need it; see _Candidates

        self._np = np
        self.n = n_vocab
        self.inv_t = np.float32(1.0 / temperature)
        self.rng = np.random.Generator(np.random.PCG64(seed & 0xFFFFFFFF))
        self.n_blocks = -(-n_vocab // self.BLOCK)
        self.buf = np.zeros(self.n_blocks * self.BLOCK, np.float32)  # the padding stays 0

    def sample(self, logits) -> int:
        np, n, b = self._np, self.n, self.BLOCK
        row = np.frombuffer(
            (ctypes.c_float * n).from_address(ctypes.addressof(logits.contents)), np.float32
        )
        x = self.buf[:n]
        np.multiply(row, self.inv_t, out=x)
        np.subtract(x, x.max(), out=x)
        np.exp(x, out=x)
        block_sums = np.cumsum(self.buf.reshape(self.n_blocks, b).sum(axis=1, dtype=np.float64))
        u = self.rng.random() * block_sums[-1]
        k = min(int(np.searchsorted(block_sums, u, side="right")), self.n_blocks - 1)
        if k:
            u -= block_sums[k - 1]
        inner = np.cumsum(self.buf[k * b : (k + 1) * b], dtype=np.float64)
        j = min(int(np.searchsorted(inner, u, side="right")), b - 1)
        token = k * b + j
        # Rounding can put u just past the last non-zero probability of the block: step back
        # to a token the softmax gave weight to (the padding and exp underflow give none).
        while token > 0 and (token >= n or self.buf[token] == 0.0):
            token -= 1
        return token


class _Candidates:
    """A reusable llama_token_data_array over the whole vocabulary, filled from a logits row.

    numpy is imported here, not at module level: only grammar requests need it, and keeping
    it out of start-up saves ~15 MiB of idle RSS.
    """

    def __init__(self, n_vocab: int) -> None:
        import numpy as np

        token_data = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
        self.n_vocab = n_vocab
        self.data = np.zeros(n_vocab, dtype=token_data)
        self.array = ll.llama_token_data_array()
        self.one = np.zeros(1, dtype=token_data)
        self.one_array = ll.llama_token_data_array()
        self._ptr = ctypes.cast(self.data.ctypes.data, ctypes.POINTER(ll.llama_token_data))
        self._one_ptr = ctypes.cast(self.one.ctypes.data, ctypes.POINTER(ll.llama_token_data))

    def load(self, logits) -> None:
        import numpy as np

        row = np.ctypeslib.as_array(logits, shape=(self.n_vocab,))
        self.data["id"] = np.arange(self.n_vocab, dtype=np.int32)
        self.data["logit"] = row
        self.data["p"] = 0.0
        self.array.data = self._ptr
        self.array.size = self.n_vocab
        self.array.selected = -1
        self.array.sorted = False

    def pick(self, chain: object, logits) -> int:
        """Apply the chain (without accepting) and return the token it selects."""
        if logits is not None:
            self.load(logits)
        ll.llama_sampler_apply(chain, ctypes.byref(self.array))
        sel = self.array.selected
        # The chain may have shrunk/sorted the array in place: read through its own pointer.
        return int(self.array.data[sel].id)

    def allows(self, grammar: object, token: int) -> bool:
        self.one[0] = (token, 1.0, 0.0)
        self.one_array.data = self._one_ptr
        self.one_array.size = 1
        self.one_array.selected = -1
        self.one_array.sorted = False
        ll.llama_sampler_apply(grammar, ctypes.byref(self.one_array))
        return math.isfinite(float(self.one[0]["logit"]))
