"""How long a scheduler step will take, so prompt chunks can be sized to a token-gap budget.

A step decodes one token for each of `rows` streams plus a chunk of prompt tokens. Its
llama_decode time is modelled as `decode(rows) + prefill_ms * chunk`, both learnt online.

Both parts drift while a long prompt prefills: every stream's attention spans all the KV cells
in use (one unified cache), so the same 7 rows cost 34-38 ms with 600 cells in use and 70 ms
with 4,300 (measured, SmolLM2-135M on 2 cores). During a long prefill every step is mixed, so a
decode cost learnt only from decode-only steps goes stale, and charging the whole error to the
prompt tokens made them look 3-4x dearer than they were: the chunk sat at its floor, steps ran
over budget all the same, and the streams' token gaps reached p99 125-155 ms. Each mixed step's error is therefore shared between the two
parts in proportion to their predicted shares; decode-only steps correct the decode part alone.
"""

from __future__ import annotations

SHORT_PROMPT_TOKENS = 256  # a prompt up to this long (uncached) is done within SHORT_PROMPT_STEPS
SHORT_PROMPT_STEPS = 3


class StepCost:
    def __init__(self, *, prefill_ms: float = 3.0, rate: float = 0.25) -> None:
        self.prefill_ms = prefill_ms  # per prompt token in a step that also decodes
        self.rate = rate
        self._decode: dict[int, float] = {}  # rows -> ms of a decode-only step

    def decode_ms(self, rows: int) -> float:
        if rows in self._decode:
            return self._decode[rows]
        if not self._decode:
            return 8.0 + 4.0 * rows  # a first guess; one observed step replaces it
        # The nearest known row count, scaled: a step costs a fixed part plus a part per row.
        near = min(self._decode, key=lambda r: abs(r - rows))
        return self._decode[near] * (2 + rows) / (2 + near)

    def observe(self, rows: int, chunk: int, ms: float) -> None:
        """Learn from one step of `rows` decoding streams and `chunk` prompt tokens."""
        if rows == 0:
            return  # a prompt alone runs at full speed with no budget: nothing to size
        d = self.decode_ms(rows)
        if chunk == 0:
            self._decode[rows] = d + self.rate * (ms - d)
            return
        predicted = d + self.prefill_ms * chunk
        err = ms - predicted
        share = d / predicted
        self._decode[rows] = max(0.1, d + self.rate * err * share)
        self.prefill_ms = max(0.05, self.prefill_ms + self.rate * err * (1 - share) / chunk)

    def chunk(self, rows: int, budget_ms: float, cap: int, floor: int = 2, prompt: int = 0) -> int:
        """Prompt tokens to add to a step with `rows` decoding streams to stay within budget.

        At least `floor`, so a prompt always progresses, even when the decode alone is over it
        (a floor of 4 tokens kept the long-prompt bench's gap p99 at 124-153 ms, 2 at 107).

        `prompt`, the uncached length of the prompt being prefilled: a short one (a chat turn,
        at most SHORT_PROMPT_TOKENS) gets at least a third of itself per step, so it is done
        in SHORT_PROMPT_STEPS steps even when the decode alone fills the budget. On a slow
        minute the floor alone made a 90-token prompt wait 3-6 s behind 7 streams (the c=8
        TTFT p95 went past llama-server's); spread over three steps its stall is brief. A long
        prompt keeps to the budget: it would slow every stream for its whole prefill.
        """
        decode = self.decode_ms(rows)
        tokens = max(min(floor, cap), min(cap, int((budget_ms - decode) / self.prefill_ms)))
        if 0 < prompt <= SHORT_PROMPT_TOKENS:
            # Not bounded by the budget: bounding each step at 2 budgets cut c=8's ITL p99 from
            # 212-220 to 151-162 ms but raised TTFT p50 from 0.8-0.9 to 1.3-1.5 s and TTFT p95
            # past llama-server's in a bench run (docs/scheduler.md); first tokens came first.
            tokens = max(tokens, min(cap, -(-prompt // SHORT_PROMPT_STEPS)))
        return tokens
