"""Retrieval-augmented generation: embeddings now, indexes and retrieval next.

Nothing heavy is imported here: the server imports this package at start-up, and the embedding
model (llama.cpp, numpy, the converter) loads only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from impetus.rag.embed import Embedder, EmbeddingResult, InputTooLong, load_default_embedder

__all__ = ["Embedder", "EmbeddingResult", "InputTooLong", "load_default_embedder"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from impetus.rag import embed

        return getattr(embed, name)
    raise AttributeError(f"module 'impetus.rag' has no attribute {name!r}")
