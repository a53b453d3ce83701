"""Constrained decoding for the MLX engine: llama.cpp's GBNF grammars, applied by llguidance.

The API layer builds one GBNF grammar per request (`api/tools.py`: tool calls, JSON Schema,
json_object, Ollama `format`) for llama.cpp's grammar sampler. The MLX engine takes the very
same text: llguidance converts GBNF to its Lark dialect and computes, each step, the bitmask of
tokens the grammar allows, which masks the logits before the sampler chain (as llama.cpp puts
the grammar first). So both engines accept exactly the same constraints.

Why llguidance: it reads GBNF directly (outlines-core takes only JSON Schema or a regex, and
the tools "auto" grammar is neither; xgrammar needs torch), it has no dependencies, and on this
2-core CPU a mask costs 0.04-0.4 ms per token with a 49k vocabulary and a grammar compiles in
7-15 ms (docs/mlx.md). It is imported only when a constrained request reaches an MLX engine.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from impetus.engines.mlx_tokenizer import MlxTokenizer
from impetus.engines.protocol import GrammarError

log = logging.getLogger("impetus.mlx")


class _Vocab:
    """What `llguidance.TokenizerWrapper` reads: every token's bytes, the specials, an encoder.

    Control tokens have no bytes in our tokenizer (they print nothing); llguidance needs a
    name for them, so they get their text and are listed as special (it never lets a grammar
    spell them out of ordinary bytes)."""

    def __init__(self, tok: MlxTokenizer) -> None:
        self._tok = tok
        self.eos_token_id = tok.eos_id if tok.eos_id is not None else min(tok.eog_ids)
        self.bos_token_id = tok.bos_id
        self.special_token_ids = [i for i, p in enumerate(tok.pieces) if not p]
        # (An id with no text at all, a hole in a folder's vocabulary, gets a placeholder name.)
        self.tokens = [p or (tok.texts[i] or f"<[{i}]>").encode() for i, p in enumerate(tok.pieces)]

    def __call__(self, text: str | bytes) -> list[int]:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        return self._tok.encode(text, add_special=False, parse_special=False)


class GrammarCompiler:
    """One per engine: the llguidance view of its vocabulary (built on first use, ~0.3 s for
    a 49k vocabulary), and GBNF -> matcher compilation."""

    def __init__(self, tok: MlxTokenizer) -> None:
        self._tok = tok
        self._lock = threading.Lock()
        self._ll_tokenizer: Any = None

    def _tokenizer(self) -> Any:
        with self._lock:
            if self._ll_tokenizer is None:
                import llguidance

                wrapper = llguidance.TokenizerWrapper(_Vocab(self._tok))
                self._ll_tokenizer = llguidance.LLTokenizer(
                    wrapper, eos_token=sorted(self._tok.eog_ids)
                )
            return self._ll_tokenizer

    def compile(self, gbnf: str) -> Any:
        """A fresh `LLMatcher` for `gbnf`; GrammarError when llguidance cannot use it."""
        import llguidance

        try:
            lark = llguidance.grammar_from("gbnf", gbnf)
        except Exception as exc:  # the converter raises ValueError, the compiler RuntimeError
            raise GrammarError(str(exc)) from exc
        matcher = llguidance.LLMatcher(self._tokenizer(), lark, log_level=0)
        if matcher.is_error():
            raise GrammarError(matcher.get_error())
        return matcher

    def check(self, gbnf: str) -> None:
        self.compile(gbnf)

    def constraint(self, gbnf: str) -> Constraint:
        return Constraint(self.compile(gbnf), self._tok.vocab_size, self._tok.eog_ids)


class Constraint:
    """One request's grammar state: which tokens may come next, and the tokens taken so far."""

    def __init__(self, matcher: Any, vocab_size: int, eog_ids: frozenset[int]) -> None:
        import numpy as np
        from llguidance.numpy import allocate_token_bitmask

        self._np = np
        self.matcher = matcher
        self.vocab_size = vocab_size
        self._eog = sorted(eog_ids)
        self._bits = allocate_token_bitmask(1, vocab_size)

    def allowed(self):
        """A bool mask over the vocabulary, as an mx.array (the model may pad its vocabulary:
        the caller pads with False)."""
        import mlx.core as mx
        from llguidance.numpy import fill_next_token_bitmask

        np = self._np
        if self.matcher.is_error():
            # Cannot happen while every token comes from this mask; if it does, end cleanly.
            log.warning("grammar matcher failed: %s", self.matcher.get_error())
            mask = np.zeros(self.vocab_size, dtype=bool)
            mask[self._eog] = True
            return mx.array(mask)
        fill_next_token_bitmask(self.matcher, self._bits)
        bits = np.unpackbits(self._bits.view(np.uint8), bitorder="little")
        return mx.array(bits[: self.vocab_size].astype(bool))

    def accept(self, token: int) -> None:
        self.matcher.consume_token(token)
