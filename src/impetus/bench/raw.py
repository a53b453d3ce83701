"""The ceiling: llama.cpp driven directly over the low-level API, with no server in the way.

Same model file, same context settings and the same sampler chain as the server, so the ratio
between the two is the cost of serving.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from impetus.engines.llama_ctypes import ContextConfig, LlamaContext, LlamaModel
from impetus.engines.protocol import SamplingParams
from impetus.engines.sampling import Sampler
from impetus.models.chat_template import ChatTemplate


@dataclass
class RawResult:
    sequences: int
    tok_s: float  # aggregate decode tokens/s
    prefill_ms: float  # one prompt, alone: decode of the prompt + first sample


def chat_tokens(model: LlamaModel, prompt: str) -> list[int]:
    template = ChatTemplate(model.metadata.get("tokenizer.chat_template"))
    text = template.render([{"role": "user", "content": prompt}])
    return model.tokenize(text, add_special=False, parse_special=True)


def raw_decode(
    model_path: str,
    prompts: list[str],
    *,
    sequences: int,
    new_tokens: int = 128,
    n_ctx: int = 4096,
    n_seq_max: int = 8,
    threads: int | None = None,
) -> RawResult:
    model = LlamaModel(model_path)
    ctx = LlamaContext(model, ContextConfig(n_ctx=n_ctx, n_seq_max=n_seq_max, n_threads=threads))
    try:
        prompt_tokens = [chat_tokens(model, prompts[i % len(prompts)]) for i in range(sequences)]
        samplers = [
            Sampler(SamplingParams(temperature=0.7, seed=i), model.n_vocab)
            for i in range(sequences)
        ]
        # Warm up (first-touch of weights, graph allocation) as the server does at load.
        ctx.decode([(t, i, 0, False) for i, t in enumerate(prompt_tokens[0][:8])])
        ctx.seq_rm(0, 0, -1)
        # Prefill one prompt alone (timed: the lone-request TTFT floor), then the rest.
        t0 = time.perf_counter()
        toks = prompt_tokens[0]
        ctx.decode([(t, i, 0, i == len(toks) - 1) for i, t in enumerate(toks)])
        last = [samplers[0].sample(ctx.ptr, len(toks) - 1)]
        prefill_ms = (time.perf_counter() - t0) * 1000
        for s in range(1, sequences):
            toks = prompt_tokens[s]
            ctx.decode([(t, i, s, i == len(toks) - 1) for i, t in enumerate(toks)])
            last.append(samplers[s].sample(ctx.ptr, len(toks) - 1))
        pos = [len(t) for t in prompt_tokens]
        t0 = time.perf_counter()
        for _ in range(new_tokens - 1):
            ctx.decode([(last[s], pos[s], s, True) for s in range(sequences)])
            for s in range(sequences):
                last[s] = samplers[s].sample(ctx.ptr, s)
                pos[s] += 1
        elapsed = time.perf_counter() - t0
        for sm in samplers:
            sm.close()
        return RawResult(
            sequences, round(sequences * (new_tokens - 1) / elapsed, 2), round(prefill_ms, 1)
        )
    finally:
        ctx.close()
        model.close()
