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
from impetus.engines.scheduler import _common_prefix
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


def raw_closed_loop(
    model_path: str,
    prompts: list[str],
    *,
    sequences: int = 8,
    new_tokens: int = 128,
    n_ctx: int = 4096,
    threads: int | None = None,
) -> float:
    """A serving workload without a server: aggregate tokens/s of `sequences` streams over
    `prompts` (one request each, `new_tokens` new tokens, the next request starting as one
    ends, like the closed-loop clients), run by a plain loop over the llama.cpp API.

    Every step is one llama_decode holding every stream's next token plus whole new prompts
    (as many as fit in the batch: llama-server's order), and the chat template's shared prefix
    is decoded once and shared by every request (seq_cp). Raw batched decode (`raw_decode`)
    leaves prefill out; this shows what the prompts cost on the same workload. It is not an
    upper bound: the scheduler's chunked prefill beside the decoding streams beat it (1.04x).
    """
    model = LlamaModel(model_path)
    prefix_seq = sequences  # an extra sequence holds the shared prefix
    config = ContextConfig(n_ctx=n_ctx, n_seq_max=sequences + 1, n_threads=threads)
    ctx = LlamaContext(model, config)
    try:
        tokens = [chat_tokens(model, p) for p in prompts]
        # Shared by every prompt, and at least one token of each left to decode for its logits.
        common = min(
            min(len(t) for t in tokens) - 1, *(_common_prefix(tokens[0], t) for t in tokens)
        )
        ctx.decode([(t, i, prefix_seq, False) for i, t in enumerate(tokens[0][:common])])
        pending = list(range(len(tokens)))
        slots: list[dict | None] = [None] * sequences
        done = 0
        t0 = time.perf_counter()
        while done < len(tokens):
            entries: list[tuple[int, int, int, bool]] = []
            owners: list[tuple[int, int]] = []  # (slot, batch index of its logits)
            for s, st in enumerate(slots):
                if st is not None:
                    owners.append((s, len(entries)))
                    entries.append((st["last"], st["pos"], s, True))
            for s in range(sequences):
                if slots[s] is not None or not pending:
                    continue
                toks = tokens[pending[0]]
                if len(entries) + len(toks) - common > ctx.batch_capacity:
                    break
                r = pending.pop(0)
                ctx.seq_rm(s, 0, -1)
                ctx.seq_cp(prefix_seq, s, 0, common)
                n = len(toks)
                entries += [(toks[i], i, s, i == n - 1) for i in range(common, n)]
                owners.append((s, len(entries) - 1))
                sampler = Sampler(SamplingParams(temperature=0.7, seed=r), model.n_vocab)
                slots[s] = {"pos": n - 1, "sampler": sampler, "generated": 0, "last": -1}
            ctx.decode(entries)
            for s, index in owners:
                st = slots[s]
                st["last"] = st["sampler"].sample(ctx.ptr, index)
                st["pos"] += 1
                st["generated"] += 1
                if st["generated"] == new_tokens:
                    st["sampler"].close()
                    slots[s] = None
                    done += 1
        elapsed = time.perf_counter() - t0
        return round(len(tokens) * new_tokens / elapsed, 2)
    finally:
        ctx.close()
        model.close()
