"""Per-request samplers for the MLX engine, with llama.cpp's chain and semantics.

The chain is the one `engines/sampling.py` builds for llama.cpp: penalties over the last
`penalty_last_n` generated tokens, then top-k, top-p, min-p, temperature, and a draw. Every
sequence has its own history and its own PRNG key (from `seed`), so a seeded request gives the
same text alone or batched. The random stream is MLX's, not llama.cpp's: the same seed gives
reproducible, but different, text on the two engines.

A grammar (`mlx_grammar.Constraint`), when given, masks the logits before the chain, as in
llama.cpp. Logprobs are the log-softmax of the model's raw logits row, before any of this, as
the llama.cpp scheduler reports them.
"""

from __future__ import annotations

import math
import random
from collections import Counter, deque
from typing import Any

import mlx.core as mx

from impetus.engines.protocol import SamplingParams, TokenLogprob


class Sampler:
    def __init__(self, params: SamplingParams, constraint: Any = None) -> None:
        self.params = params
        self.constraint = constraint
        p = params
        self.penalize = bool(
            p.penalty_last_n != 0
            and (p.presence_penalty or p.frequency_penalty or p.repeat_penalty not in (0.0, 1.0))
        )
        self.history: deque[int] = deque(maxlen=p.penalty_last_n if p.penalty_last_n > 0 else None)
        # Built once: `__call__` runs for every token.
        self.bias_ids = mx.array([t for t, _ in p.logit_bias]) if p.logit_bias else None
        self.bias = (
            mx.array([b for _, b in p.logit_bias], dtype=mx.float32) if p.logit_bias else None
        )
        self.key = None
        if not p.greedy:
            seed = p.seed if p.seed is not None else random.getrandbits(32)
            self.key = mx.random.key(seed & 0xFFFFFFFF)

    @property
    def plain_greedy(self) -> bool:
        p = self.params
        return p.greedy and not self.penalize and self.constraint is None and not p.logit_bias

    def accept(self, token: int) -> None:
        if self.penalize:
            self.history.append(token)
        if self.constraint is not None:
            self.constraint.accept(token)

    def __call__(self, logits: mx.array) -> mx.array:
        """The next token (a 0-d array, not evaluated) from one row of logits."""
        p = self.params
        x = logits.astype(mx.float32)
        neg_inf = mx.array(-math.inf, dtype=mx.float32)
        if self.constraint is not None:
            allowed = self.constraint.allowed()
            if allowed.shape[0] < x.shape[-1]:  # the model's vocabulary may be padded
                pad = mx.zeros((x.shape[-1] - allowed.shape[0],), dtype=mx.bool_)
                allowed = mx.concatenate([allowed, pad])
            x = mx.where(allowed, x, neg_inf)
        if self.bias_ids is not None:
            x[self.bias_ids] = x[self.bias_ids] + self.bias
        if self.penalize and self.history:
            counts = Counter(self.history)
            ids = mx.array(list(counts))
            n = mx.array(list(counts.values()), dtype=mx.float32)
            vals = x[ids]
            rp = p.repeat_penalty or 1.0
            if rp != 1.0:
                vals = mx.where(vals <= 0, vals * rp, vals / rp)
            vals = vals - n * p.frequency_penalty - (n > 0) * p.presence_penalty
            x[ids] = vals
        if p.greedy:
            return mx.argmax(x)
        if 0 < p.top_k < x.shape[-1]:
            kth = mx.min(mx.topk(x, p.top_k))
            x = mx.where(x < kth, neg_inf, x)
        if p.top_p < 1.0:
            desc = -mx.sort(-x)
            probs = mx.softmax(desc)
            # Keep the smallest prefix whose mass reaches top_p (at least one token).
            keep = mx.sum((mx.cumsum(probs) - probs) < p.top_p)
            cutoff = desc[mx.maximum(keep, 1) - 1]
            x = mx.where(x < cutoff, neg_inf, x)
        if p.min_p > 0.0:
            x = mx.where(x < mx.max(x) + math.log(p.min_p), neg_inf, x)
        keys = mx.random.split(self.key)
        self.key = keys[0]
        return mx.random.categorical(x / p.temperature, key=keys[1])


def sample_batch(logits: mx.array, samplers: list[Sampler]) -> list[int]:
    """One token per row of `logits` (B, V), one sampler per row; evaluates once."""
    if all(s.plain_greedy for s in samplers):
        tokens = mx.argmax(logits, axis=-1)
    else:
        tokens = mx.stack([s(logits[i]) for i, s in enumerate(samplers)])
    out = tokens.tolist()
    for s, t in zip(samplers, out, strict=True):
        s.accept(t)
    return out


def logprobs(logits: mx.array, tokens: list[int], tops: list[int]) -> list[TokenLogprob]:
    """Each row's sampled token logprob and its `top` best alternatives: log-softmax of the raw
    logits (B, V), computed in float32 (llama.cpp's path uses float64 over float32 logits)."""
    x = logits.astype(mx.float32)
    lp = x - mx.logsumexp(x, axis=-1, keepdims=True)
    k = max(tops)
    chosen = mx.take_along_axis(lp, mx.array(tokens)[:, None], axis=-1)[:, 0]
    if k > 0:
        ids = mx.argpartition(-lp, kth=k - 1, axis=-1)[:, :k]
        vals = mx.take_along_axis(lp, ids, axis=-1)
        order = mx.argsort(-vals, axis=-1)
        ids = mx.take_along_axis(ids, order, axis=-1)
        vals = mx.take_along_axis(vals, order, axis=-1)
        mx.eval(chosen, ids, vals)
        ids_l, vals_l = ids.tolist(), vals.tolist()
    else:
        mx.eval(chosen)
        ids_l = vals_l = [[] for _ in tokens]
    return [
        TokenLogprob(t, float(c), tuple(zip(i[:n], v[:n], strict=True)))
        for t, c, i, v, n in zip(tokens, chosen.tolist(), ids_l, vals_l, tops, strict=True)
    ]
