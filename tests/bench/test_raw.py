"""The raw loops the serving bench measures servers against, on the real model."""

from __future__ import annotations

from impetus.bench.raw import raw_closed_loop, raw_decode
from tests.conftest import MODEL_PATH

PROMPTS = ["Name a colour.", "Name a fruit.", "Name a country."]


def test_the_closed_loop_runs_every_request_to_its_length():
    """Three requests on two streams: the third starts when one ends; a loop that lost a
    request or overran a stream's length would hang or fail here, not return a rate."""
    rate = raw_closed_loop(str(MODEL_PATH), PROMPTS, sequences=2, new_tokens=6, n_ctx=512)
    assert rate > 0
    decode = raw_decode(str(MODEL_PATH), PROMPTS, sequences=2, new_tokens=6, n_ctx=512)
    assert decode.tok_s > 0 and decode.prefill_ms > 0
