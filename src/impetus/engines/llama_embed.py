"""A llama.cpp context that computes pooled embeddings for several sequences at once.

Separate from `LlamaContext` (the chat scheduler's): embeddings need `embeddings=True`, a pooling
type, and, for encoder models such as BERT, a micro-batch that holds the whole batch, because
non-causal attention cannot be split across micro-batches. Each sequence in a batch gets its own
seq_id; llama.cpp masks attention between them and pools each one separately.

Not thread-safe: the caller (`impetus.rag.embed.Embedder`) holds a lock around `embed`.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Sequence

import numpy as np

from impetus.engines.llama_ctypes import LlamaModel, ModelLoadError, default_threads, ll
from impetus.engines.threads import ThreadGovernor

POOLING = {
    "none": ll.LLAMA_POOLING_TYPE_NONE,
    "mean": ll.LLAMA_POOLING_TYPE_MEAN,
    "cls": ll.LLAMA_POOLING_TYPE_CLS,
    "last": ll.LLAMA_POOLING_TYPE_LAST,
    "rank": ll.LLAMA_POOLING_TYPE_RANK,
}


def model_pooling(model: LlamaModel) -> str | None:
    """The pooling a GGUF declares (`<arch>.pooling_type`), or None when it declares none."""
    arch = model.metadata.get("general.architecture", "")
    raw = model.metadata.get(f"{arch}.pooling_type")
    if raw is None:
        return None
    by_value = {v: k for k, v in POOLING.items()}
    try:
        return by_value.get(int(raw))
    except ValueError:
        return None


class EmbeddingContext:
    """Pooled embeddings for batches of up to `n_batch` tokens and `n_seq_max` sequences."""

    def __init__(
        self,
        model: LlamaModel,
        *,
        n_batch: int,
        n_seq_max: int,
        pooling: str = "mean",
        n_threads: int | None = None,
    ) -> None:
        if pooling not in ("mean", "cls", "last"):
            raise ValueError(f"unsupported pooling for embeddings: {pooling}")
        self.model = model
        self.n_batch = n_batch
        self.n_seq_max = n_seq_max
        params = ll.llama_context_default_params()
        params.n_ctx = n_batch
        params.n_batch = n_batch
        params.n_ubatch = n_batch  # encoders need the whole batch in one micro-batch
        params.n_seq_max = n_seq_max
        threads = n_threads or default_threads()
        params.n_threads = threads
        params.n_threads_batch = threads
        params.embeddings = True
        params.pooling_type = POOLING[pooling]
        params.kv_unified = True
        params.no_perf = True
        self.ptr = ll.llama_init_from_model(model.ptr, params)
        if not self.ptr:
            raise ModelLoadError("llama.cpp could not create an embedding context (out of memory?)")
        # Encoder-only models (BERT) have no KV cache; decoder embedders (e.g. Qwen3-Embedding)
        # do, and it has to be emptied between batches.
        self.memory = ll.llama_get_memory(self.ptr)
        self.n_embd = int(ll.llama_model_n_embd(model.ptr))
        self.batch = ll.llama_batch_init(n_batch, 0, 1)
        # Same barrier-spinning collapse as chat decode when another process takes a core
        # (measured: 1.2-2.0 chunks/s with 2 threads vs 12 with 1 on a half-busy 2-core box).
        self.governor = ThreadGovernor(threads)

    def close(self) -> None:
        if self.ptr:
            ll.llama_batch_free(self.batch)
            ll.llama_free(self.ptr)
            self.ptr = None

    def embed(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        """Pooled (not normalized) float32 vectors, one row per token sequence."""
        total = sum(len(s) for s in sequences)
        if not sequences:
            return np.zeros((0, self.n_embd), np.float32)
        if total > self.n_batch or len(sequences) > self.n_seq_max:
            raise ValueError(f"batch of {len(sequences)} sequences / {total} tokens is too large")
        if any(len(s) == 0 for s in sequences):
            raise ValueError("empty token sequence")
        b = self.batch
        i = 0
        for seq, tokens in enumerate(sequences):
            for pos, tok in enumerate(tokens):
                b.token[i] = tok
                b.pos[i] = pos
                b.n_seq_id[i] = 1
                b.seq_id[i][0] = seq
                b.logits[i] = True
                i += 1
        b.n_tokens = i
        if self.memory:
            ll.llama_memory_clear(self.memory, True)
        t0 = time.perf_counter()
        rc = ll.llama_decode(self.ptr, b)  # llama.cpp runs encode() for models without a cache
        if rc != 0:
            raise RuntimeError(f"llama_decode failed for embeddings (code {rc})")
        # A batch's cost grows with its tokens: compare like with like (power-of-two buckets).
        threads = self.governor.observe(1 << (i - 1).bit_length(), (time.perf_counter() - t0) * 1e3)
        if threads is not None:
            ll.llama_set_n_threads(self.ptr, threads, threads)
        out = np.empty((len(sequences), self.n_embd), np.float32)
        for seq in range(len(sequences)):
            ptr = ll.llama_get_embeddings_seq(self.ptr, seq)
            if not ptr:
                raise RuntimeError("llama.cpp returned no pooled embedding")
            arr = (ctypes.c_float * self.n_embd).from_address(ctypes.addressof(ptr.contents))
            out[seq] = np.frombuffer(arr, dtype=np.float32)
        return out
