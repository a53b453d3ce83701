"""Per-request llama.cpp sampler chains.

Every sequence gets its own chain, so its penalties history and its RNG (seeded) are its own:
a seeded request gives the same text whether it runs alone or batched with others.
"""

from __future__ import annotations

import random

from impetus.engines.llama_ctypes import ll
from impetus.engines.protocol import SamplingParams


class GrammarError(ValueError):
    """llama.cpp could not parse a GBNF grammar."""


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


class Sampler:
    def __init__(self, params: SamplingParams, n_vocab: int, vocab: object = None) -> None:
        chain_params = ll.llama_sampler_chain_default_params()
        chain_params.no_perf = True
        self.ptr = ll.llama_sampler_chain_init(chain_params)
        add = lambda s: ll.llama_sampler_chain_add(self.ptr, s)  # noqa: E731
        if params.grammar is not None:
            # First: every later sampler only ever sees tokens the grammar allows.
            try:
                add(grammar_sampler(vocab, params.grammar))
            except GrammarError:
                self.close()
                raise
        if (
            params.presence_penalty
            or params.frequency_penalty
            or params.repeat_penalty not in (0.0, 1.0)
        ):
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
        seed = params.seed if params.seed is not None else random.getrandbits(32)
        add(ll.llama_sampler_init_dist(seed & 0xFFFFFFFF))

    def sample(self, ctx_ptr: object, index: int) -> int:
        """Sample (and accept) the next token from batch output `index`."""
        return int(ll.llama_sampler_sample(self.ptr, ctx_ptr, index))

    def close(self) -> None:
        if self.ptr:
            ll.llama_sampler_free(self.ptr)
            self.ptr = None
