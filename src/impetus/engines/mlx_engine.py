"""The MLX engine: a GGUF file or an MLX model folder, run by mlx / mlx-lm, batched.

It has the same surface as `LlamaCppEngine` (info, aliases, tokenize, detokenize, submit,
stats, close), so the server and the routers treat both alike. On Apple Silicon it runs on the
GPU; elsewhere `mlx[cpu]` runs it on the CPU.
"""

from __future__ import annotations

import gc
from pathlib import Path

from impetus.engines.naming import model_aliases
from impetus.engines.protocol import Generation, GenerationRequest, ModelInfo


def mlx_available() -> bool:
    """True when mlx and mlx-lm import (they are an optional extra)."""
    try:
        import mlx.core  # noqa: F401
        import mlx_lm  # noqa: F401
    except Exception:
        return False
    return True


class MlxEngine:
    name = "mlx"
    supports_grammar = True  # the same GBNF as llama.cpp, through llguidance (mlx_grammar.py)
    supports_logprobs = True

    def __init__(
        self,
        path: str | Path,
        *,
        ctx: int | None = None,
        parallel: int = 8,
        max_waiting: int = 64,
        model_id: str | None = None,
        prefill_chunk: int = 256,
    ) -> None:
        from impetus.engines import mlx_gguf
        from impetus.engines.mlx_grammar import GrammarCompiler
        from impetus.engines.mlx_scheduler import MlxScheduler
        from impetus.models.chat_template import ChatTemplate

        path = Path(path)
        loaded = mlx_gguf.load(path)
        tok = loaded.tokenizer
        self.tokenizer = tok
        train_ctx = loaded.train_context_length
        # The same default as llama.cpp: the model's context, at most 4096 unless --ctx says more.
        # MLX grows its KV caches on demand, so this is a limit per request, not an allocation.
        limit = min(train_ctx, ctx) if ctx else min(train_ctx, 4096)
        name = model_id or (path.name if path.is_dir() else path.stem)
        self.info = ModelInfo(
            name=name,
            path=str(path),
            architecture=loaded.architecture,
            context_length=limit,
            train_context_length=train_ctx,
            vocab_size=tok.vocab_size,
            eos_token_ids=tuple(sorted(tok.eog_ids)),
            bos_token=tok.token_text(tok.bos_id),
            eos_token=tok.token_text(tok.eos_id),
            add_bos=tok.add_bos,
            chat_template=tok.chat_template,
            size_bytes=loaded.size_bytes,
            metadata=loaded.metadata,
        )
        self.template = ChatTemplate(
            self.info.chat_template, bos_token=self.info.bos_token, eos_token=self.info.eos_token
        )
        self._model = loaded.model
        self.grammar = GrammarCompiler(tok)
        self.scheduler = MlxScheduler(
            loaded.model,
            tok,
            context_limit=limit,
            parallel=parallel,
            max_waiting=max_waiting,
            prefill_chunk=prefill_chunk,
            grammar=self.grammar,
        )

    @property
    def aliases(self) -> set[str]:
        return model_aliases(self.info)

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        return self.tokenizer.encode(text, add_special=add_special, parse_special=parse_special)

    def detokenize(self, tokens: list[int]) -> str:
        return self.tokenizer.detokenize(tokens)

    def piece(self, token: int) -> bytes:
        """A token's bytes (a UTF-8 character may span tokens; control tokens are empty)."""
        return self.tokenizer.piece(token)

    def check_grammar(self, grammar: str) -> None:
        """Raise GrammarError if the grammar cannot constrain this model (compiles it once)."""
        self.grammar.check(grammar)

    def submit(self, request: GenerationRequest) -> Generation:
        return self.scheduler.submit(request)

    def stats(self) -> dict[str, float]:
        return self.scheduler.snapshot()

    def close(self) -> None:
        """Stop the thread and give the model's memory back to the system."""
        import mlx.core as mx

        self.scheduler.close()
        self.scheduler.prefix_cache = None
        self.scheduler.model = None
        self._model = None
        gc.collect()
        mx.clear_cache()
