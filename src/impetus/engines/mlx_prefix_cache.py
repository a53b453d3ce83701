"""The MLX engine's prefix cache: the KV of recent sequences, reused by prompts that share a prefix.

When a sequence finishes, its row of the batch cache is extracted (`BatchKVCache.extract`) and
kept with the tokens it holds. A new prompt takes the entry with the longest common prefix: each
layer gets a plain `KVCache` viewing the first `n` positions, and only the rest of the prompt is
prefilled. This is what mlx-lm's server does with its LRU prompt cache; entries here are never
mutated (a view is sliced, so the first write into it copies), so one entry can seed many
requests at once.

The budget is in tokens and entries, least recently used out first: KV per token grows with
the model (46 KB for SmolLM2-135M in float32, ~128 KB for a 7B in float16).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from mlx_lm.models.cache import KVCache


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


@dataclass(eq=False)
class _Entry:
    tokens: list[int]
    layers: list[tuple[Any, Any]]  # per layer (keys, values), shape (1, H, len(tokens), D)
    used: float = field(default_factory=time.perf_counter)


class PrefixCache:
    def __init__(self, *, max_tokens: int, max_entries: int = 4) -> None:
        self.max_tokens = max_tokens
        self.max_entries = max_entries
        self._entries: list[_Entry] = []

    @property
    def tokens(self) -> int:
        return sum(len(e.tokens) for e in self._entries)

    def clear(self) -> None:
        self._entries = []

    def store(self, tokens: list[int], cache: list[Any]) -> None:
        """Keep `cache` (per-layer `KVCache`s holding exactly `tokens`)."""
        if not tokens or len(tokens) > self.max_tokens:
            return
        import mlx.core as mx

        layers = [(c.keys[..., : len(tokens), :], c.values[..., : len(tokens), :]) for c in cache]
        # Materialise now: a lazy slice would pin the whole batch cache it was cut from.
        mx.eval([a for kv in layers for a in kv])
        # An entry that is a prefix of the new one adds nothing: the new one serves it too.
        self._entries = [
            e for e in self._entries if common_prefix(e.tokens, tokens) < len(e.tokens)
        ]
        self._entries.append(_Entry(list(tokens), layers))
        self._entries.sort(key=lambda e: e.used)
        while len(self._entries) > self.max_entries or self.tokens > self.max_tokens:
            self._entries.pop(0)

    def lookup(self, prompt: list[int]) -> tuple[int, list[KVCache] | None]:
        """(reused tokens, per-layer caches holding them) for the best entry. At least one
        prompt token is left to prefill: the first sample needs its logits."""
        best, n = None, 0
        for e in self._entries:
            k = common_prefix(e.tokens, prompt)
            if k > n:
                best, n = e, k
        n = min(n, len(prompt) - 1)
        if best is None or n <= 0:
            return 0, None
        best.used = time.perf_counter()
        caches = []
        for keys, values in best.layers:
            c = KVCache()
            c.keys, c.values, c.offset = keys[..., :n, :], values[..., :n, :], n
            caches.append(c)
        return n, caches


def reusable(cache: list[Any]) -> bool:
    """Only plain KV caches can be cut at any position (rotating and state-space ones cannot)."""
    return all(type(c) is KVCache for c in cache)
