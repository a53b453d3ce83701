"""The legacy /v1/completions endpoint."""

from __future__ import annotations

import json

from tests.conftest import MODEL_ID

PROMPT = "The quick brown fox"


def test_completion_basic(openai_client):
    r = openai_client.completions.create(model=MODEL_ID, prompt=PROMPT, max_tokens=8, temperature=0)
    assert r.object == "text_completion"
    assert r.choices[0].text
    assert r.usage.completion_tokens <= 8
    assert r.choices[0].finish_reason in ("stop", "length")


def test_completion_default_max_tokens_is_16(openai_client):
    r = openai_client.completions.create(
        model=MODEL_ID, prompt=PROMPT, temperature=0, extra_body={"ignore_eos": True}
    )
    assert r.usage.completion_tokens == 16
    assert r.choices[0].finish_reason == "length"


def test_completion_stream_equals_whole(openai_client):
    # A prompt without near-tied tokens: the second request hits the prefix cache, and llama.cpp's
    # logits are not bit-exact across KV placements (docs/determinism.md).
    kw = dict(model=MODEL_ID, prompt="1, 2, 3, 4, 5,", max_tokens=12, temperature=0)
    whole = openai_client.completions.create(**kw).choices[0].text
    parts = [
        c.choices[0].text for c in openai_client.completions.create(**kw, stream=True) if c.choices
    ]
    assert "".join(parts) == whole


def test_completion_echo_and_token_prompt(openai_client, client):
    r = openai_client.completions.create(
        model=MODEL_ID, prompt=PROMPT, max_tokens=4, temperature=0, echo=True
    )
    assert r.choices[0].text.startswith(PROMPT)
    # A prompt given as token ids is the same prompt as the text: the ids request finds the
    # text request's whole prompt in the prefix cache, and continues like it. (A prompt without
    # near-ties: the hit's cells sit elsewhere in the shared cache, docs/determinism.md.)
    from impetus.engines.llama_ctypes import LlamaModel
    from tests.conftest import MODEL_PATH

    counting = "1, 2, 3, 4, 5,"
    model = LlamaModel(MODEL_PATH)
    ids = model.tokenize(counting, add_special=True, parse_special=True)
    model.close()
    kw = dict(model=MODEL_ID, max_tokens=6, temperature=0)
    by_text = openai_client.completions.create(prompt=counting, **kw)
    by_ids = client.post("/v1/completions", json={"prompt": ids, **kw}).json()
    assert by_ids["usage"]["prompt_tokens"] == by_text.usage.prompt_tokens == len(ids)
    assert by_ids["usage"]["prompt_tokens_details"]["cached_tokens"] >= len(ids) - 1
    assert by_ids["choices"][0]["text"] == by_text.choices[0].text


def test_stream_chunks_survive_clients_that_split_lines_on_unicode_breaks(client):
    """U+2028, U+2029 and U+0085 in streamed text are escaped inside the JSON: httpx's
    iter_lines (and str.splitlines) split on them, and would cut a chunk in two."""
    prompt = "one\u2028two\u2029three\x85four"
    with client.stream(
        "POST",
        "/v1/completions",
        json={"prompt": prompt, "max_tokens": 3, "echo": True, "stream": True},
    ) as r:
        lines = [line for line in r.iter_lines() if line.startswith("data: {")]
    chunks = [json.loads(line[6:]) for line in lines]  # each line is one whole JSON object
    text = "".join(c["choices"][0]["text"] for c in chunks if c.get("choices"))
    assert text.startswith(prompt)
