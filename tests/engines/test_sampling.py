"""The numpy temperature sampler: the draw follows the softmax, seeds reproduce, edges hold."""

from __future__ import annotations

import ctypes
import math

import numpy as np
import pytest

from impetus.engines.sampling import TemperatureSampler


def _logits(values) -> ctypes._Pointer:
    arr = (ctypes.c_float * len(values))(*values)
    _logits.keep = arr  # the sampler reads through the pointer: keep the buffer alive
    return ctypes.cast(arr, ctypes.POINTER(ctypes.c_float))


def _draws(sampler: TemperatureSampler, logits, n: int) -> np.ndarray:
    return np.array([sampler.sample(logits) for _ in range(n)])


@pytest.mark.parametrize("n_vocab", [1000, 49152])  # one not a multiple of the block size
def test_draws_follow_the_softmax_at_the_temperature(n_vocab):
    rng = np.random.default_rng(0)
    values = rng.normal(0, 3, n_vocab).astype(np.float32)
    logits = _logits(values.tolist())
    t = 0.7
    expected = np.exp((values - values.max()) / t)
    expected /= expected.sum()
    draws = _draws(TemperatureSampler(t, seed=5, n_vocab=n_vocab), logits, 20_000)
    assert draws.min() >= 0 and draws.max() < n_vocab
    counts = np.bincount(draws, minlength=n_vocab)
    for token in np.argsort(-expected)[:5]:  # the likeliest tokens, within 4 standard errors
        p = expected[token]
        se = math.sqrt(p * (1 - p) / len(draws))
        assert abs(counts[token] / len(draws) - p) < 4 * se + 1e-3, token


def test_the_same_seed_draws_the_same_tokens_and_another_seed_does_not():
    values = np.random.default_rng(1).normal(0, 1, 5000).astype(np.float32).tolist()
    logits = _logits(values)
    a = _draws(TemperatureSampler(1.0, seed=42, n_vocab=5000), logits, 50)
    b = _draws(TemperatureSampler(1.0, seed=42, n_vocab=5000), logits, 50)
    c = _draws(TemperatureSampler(1.0, seed=43, n_vocab=5000), logits, 50)
    assert (a == b).all()
    assert (a != c).any()


def test_tokens_without_probability_are_never_drawn():
    n = 513  # the last block holds one real token and 255 of padding
    values = [-math.inf] * n
    values[512] = 0.0
    values[3] = 0.0
    draws = _draws(TemperatureSampler(0.8, seed=7, n_vocab=n), _logits(values), 2000)
    assert set(draws.tolist()) == {3, 512}
