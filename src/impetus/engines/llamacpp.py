"""The llama.cpp engine: a GGUF model, one context with N slots, and the scheduler driving it."""

from __future__ import annotations

from pathlib import Path

from impetus.engines.llama_ctypes import ContextConfig, LlamaContext, LlamaModel
from impetus.engines.naming import model_aliases
from impetus.engines.protocol import Generation, GenerationRequest, ModelInfo
from impetus.engines.scheduler import Scheduler
from impetus.models.chat_template import ChatTemplate


class LlamaCppEngine:
    name = "llama.cpp"
    supports_grammar = True  # GBNF sampler (tools, response_format, Ollama format)
    supports_logprobs = True

    def __init__(
        self,
        path: str | Path,
        *,
        ctx: int | None = None,
        parallel: int = 8,
        threads: int | None = None,
        cache_type_k: str = "q8_0",
        max_waiting: int = 64,
        model_id: str | None = None,
    ) -> None:
        path = Path(path)
        self.model = LlamaModel(path)
        try:
            train_ctx = self.model.train_ctx
            # Default KV size: the model's context, capped at 4096 cells so the default model
            # stays within the idle-memory budget; --ctx raises it.
            n_ctx = ctx or min(train_ctx, 4096)
            config = ContextConfig(
                n_ctx=n_ctx, n_seq_max=parallel, n_threads=threads, cache_type_k=cache_type_k
            )
            self.context = LlamaContext(self.model, config)
        except Exception:
            self.model.close()
            raise
        self.info: ModelInfo = self.model.info(model_id or path.stem, self.context.n_ctx)
        self.template = ChatTemplate(
            self.info.chat_template, bos_token=self.info.bos_token, eos_token=self.info.eos_token
        )
        self.scheduler = Scheduler(
            self.model,
            self.context,
            context_limit=self.info.context_length,
            max_waiting=max_waiting,
        )

    @property
    def aliases(self) -> set[str]:
        return model_aliases(self.info)

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        return self.model.tokenize(text, add_special=add_special, parse_special=parse_special)

    def detokenize(self, tokens: list[int]) -> str:
        return self.model.detokenize(tokens)

    def check_grammar(self, grammar: str) -> None:
        """Raise GrammarError if llama.cpp would refuse the grammar."""
        from impetus.engines.sampling import check_grammar

        check_grammar(self.model.vocab, grammar)

    def submit(self, request: GenerationRequest) -> Generation:
        return self.scheduler.submit(request)

    def stats(self) -> dict[str, float]:
        return self.scheduler.snapshot()

    def close(self) -> None:
        self.scheduler.close()
        self.context.close()
        self.model.close()
