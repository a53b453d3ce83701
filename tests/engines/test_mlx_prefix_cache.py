"""The MLX prefix cache: what it keeps and hands out, and a multi-turn follow-up that reuses it."""

from __future__ import annotations

import asyncio

import pytest

mx = pytest.importorskip("mlx.core")
pytest.importorskip("mlx_lm")

from mlx_lm.models.cache import KVCache  # noqa: E402

from impetus.engines.mlx_engine import MlxEngine  # noqa: E402
from impetus.engines.mlx_prefix_cache import PrefixCache  # noqa: E402
from impetus.engines.protocol import GenerationRequest, SamplingParams  # noqa: E402
from tests.conftest import MODEL_PATH  # noqa: E402


def _cache(tokens: list[int], layers: int = 2) -> list[KVCache]:
    """Per-layer caches whose every position holds its token id (so a slice shows its tokens)."""
    out = []
    for _ in range(layers):
        c = KVCache()
        row = mx.array(tokens, dtype=mx.float32).reshape(1, 1, len(tokens), 1)
        c.update_and_fetch(row, row)
        out.append(c)
    return out


def _held(caches: list[KVCache]) -> list[int]:
    keys, _ = caches[0].keys_and_values()
    return [int(v) for v in keys.reshape(-1).tolist()]


def test_lookup_takes_the_longest_prefix_and_leaves_a_token_to_prefill():
    pc = PrefixCache(max_tokens=100)
    pc.store([1, 2, 3], _cache([1, 2, 3]))
    pc.store([1, 2, 9, 9, 9], _cache([1, 2, 9, 9, 9]))
    n, caches = pc.lookup([1, 2, 9, 9, 5, 6])
    assert n == 4 and _held(caches) == [1, 2, 9, 9]
    n, caches = pc.lookup([1, 2, 3])  # the whole prompt is cached: one token is left to decode
    assert n == 2 and _held(caches) == [1, 2]
    assert pc.lookup([7, 8]) == (0, None)


def test_entries_are_not_changed_by_the_requests_they_seed():
    pc = PrefixCache(max_tokens=100)
    pc.store([1, 2, 3, 4], _cache([1, 2, 3, 4]))
    _, caches = pc.lookup([1, 2, 7, 7])
    for c in caches:  # the new request writes its own tokens after the shared prefix
        row = mx.array([7.0, 7.0]).reshape(1, 1, 2, 1)
        c.update_and_fetch(row, row)
    assert _held(caches) == [1, 2, 7, 7]
    _, again = pc.lookup([1, 2, 3, 4, 5])
    assert _held(again) == [1, 2, 3, 4]


def test_a_longer_turn_replaces_its_prefix_and_the_budget_evicts_the_oldest():
    pc = PrefixCache(max_tokens=10, max_entries=2)
    pc.store([1, 2], _cache([1, 2]))
    pc.store([1, 2, 3, 4], _cache([1, 2, 3, 4]))  # the follow-up turn: [1, 2] is redundant
    assert pc.tokens == 4
    pc.store([5, 6, 7], _cache([5, 6, 7]))
    pc.store([8, 9, 10], _cache([8, 9, 10]))  # 3 entries > 2: the oldest goes
    assert pc.tokens == 6 and pc.lookup([1, 2, 3, 4])[0] == 0
    pc.store(list(range(20, 31)), _cache(list(range(20, 31))))  # over the budget alone: not kept
    assert pc.tokens == 6
    pc.clear()
    assert pc.tokens == 0


SYSTEM = (
    "<|im_start|>system\nYou are a concise assistant. You answer questions about arithmetic"
    " with a single number and nothing else, and you never explain.<|im_end|>\n"
)


def _turn(text: str) -> str:
    return f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"


def test_a_follow_up_reuses_the_conversation_and_answers_as_a_cold_run():
    engine = MlxEngine(MODEL_PATH, parallel=2, ctx=512)

    async def run(prompt: str):
        ids = engine.tokenize(prompt, add_special=True, parse_special=True)
        gen = engine.submit(GenerationRequest(ids, SamplingParams(temperature=0, max_tokens=3)))
        text, tokens = "", []
        async for event in gen:
            text += event.text
            tokens += event.token_ids
        return text, tokens, gen.usage, len(ids)

    async def main():
        first = await run(SYSTEM + _turn("What is 2+2?"))
        follow_up = SYSTEM + _turn("What is 2+2?") + first[0] + "<|im_end|>\n" + _turn("And 3+3?")
        warm = await run(follow_up)
        engine.scheduler.clear_prefix_cache()
        cold = await run(follow_up)
        return first, warm, cold

    try:
        first, warm, cold = asyncio.run(main())
        stats = engine.stats()
    finally:
        engine.close()
    assert warm[2].cached_tokens >= first[3]  # the whole first turn was reused
    assert cold[2].cached_tokens == 0
    assert warm[1] == cold[1] and warm[0] == cold[0]
    # ~60 prompt tokens cold against ~15 warm: at least a third off, even on a busy machine.
    assert warm[2].ttft_seconds < 0.67 * cold[2].ttft_seconds, (warm[2], cold[2])
    assert stats["prefix_cache_hits"] >= 1 and stats["prompt_tokens_cached"] >= first[3]
