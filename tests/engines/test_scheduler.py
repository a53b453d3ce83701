"""Continuous batching through the real server: batch-invariant output, the prefix cache,
backpressure and cancellation. (The speed side lives in `impetus bench serving`.)"""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest

from tests.conftest import MODEL_ID, ServerProcess

# Confident prompts, open-ended ones (where the 135M model's top two tokens are often nearly
# tied, so any change in the math shows), and one long enough (100+ tokens) to be prefilled in
# chunks beside the other streams.
PASSAGE = (
    "The committee met on Tuesday to discuss the budget, the new library, the state of the"
    " roads and the plan for the harbour. "
) * 4
PROMPTS = [
    "Count from 1 to 30, separated by commas.",
    "Repeat exactly: The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog.",
    "Write a short poem about autumn leaves.",
    "Summarise this in two sentences: " + PASSAGE,
    "What should I cook tonight? Give me one idea.",
    "Count from 10 to 40.",
    "Write a short poem about autumn leaves.",
    "Count from 1 to 30, separated by commas.",
]


def _body(prompt: str, **kw) -> dict:
    return {"model": MODEL_ID, "messages": [{"role": "user", "content": prompt}], **kw}


async def _post_all(url: str, bodies: list[dict]) -> list[dict]:
    async with httpx.AsyncClient(base_url=url, timeout=300) as c:
        resps = await asyncio.gather(*(c.post("/v1/chat/completions", json=b) for b in bodies))
    for r in resps:
        assert r.status_code == 200, r.text
    return [r.json() for r in resps]


def _texts(replies: list[dict]) -> list[str]:
    return [r["choices"][0]["message"]["content"] for r in replies]


@pytest.fixture(scope="module")
def own_server():
    """A server whose KV cache these tests may empty. Output is independent of batching only
    for the same cell order (docs/determinism.md), so each run starts from an empty cache."""
    with ServerProcess() as srv:
        yield srv


def _empty_cache(url: str) -> None:
    """Reload the model: a new context, every cell free."""
    with httpx.Client(base_url=url, timeout=120) as c:
        r = c.post(f"/admin/models/{MODEL_ID}/unload", json={"force": True})
        assert r.status_code == 200 and r.json()["unloaded"], r.text
        assert c.post(f"/admin/models/{MODEL_ID}/load", json={"pin": True}).status_code == 200


def _alone_then_batched(url: str, bodies: list[dict], n_alone: int) -> tuple[list, list]:
    alone = []
    for b in bodies[:n_alone]:
        _empty_cache(url)
        alone.append(_texts(asyncio.run(_post_all(url, [b])))[0])
    _empty_cache(url)
    return alone, _texts(asyncio.run(_post_all(url, bodies)))


def test_greedy_output_is_identical_alone_and_batched(own_server):
    bodies = [_body(p, temperature=0, max_tokens=48) for p in PROMPTS]
    alone, batched = _alone_then_batched(own_server.url, bodies, 5)
    assert batched[:5] == alone
    assert batched[0] == batched[7] and batched[2] == batched[6]  # same prompt, different slot


def test_seeded_sampling_is_reproducible_under_batching(own_server):
    bodies = [_body(p, temperature=0.8, seed=100 + i, max_tokens=40) for i, p in enumerate(PROMPTS)]
    alone, batched = _alone_then_batched(own_server.url, bodies, 4)
    assert batched[:4] == alone


def test_32_parallel_requests_on_8_slots_all_complete(server):
    bodies = [_body(PROMPTS[i % 8], max_tokens=12, ignore_eos=True, seed=i) for i in range(32)]
    replies = asyncio.run(_post_all(server.url, bodies))
    assert len(replies) == 32
    assert all(r["usage"]["completion_tokens"] == 12 for r in replies)
    assert all(r["choices"][0]["finish_reason"] == "length" for r in replies)


def test_prefix_cache_hit_gives_the_same_output_as_cold(own_server):
    system = "You are a careful assistant who answers in full sentences. " * 8
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": "Write a short poem about the sea."},
    ]
    body = {"model": MODEL_ID, "messages": messages, "temperature": 0, "max_tokens": 40}
    _empty_cache(own_server.url)
    with httpx.Client(base_url=own_server.url, timeout=120) as client:
        first = client.post("/v1/chat/completions", json=body).json()
        second = client.post("/v1/chat/completions", json=body).json()
    assert (
        second["usage"]["prompt_tokens_details"]["cached_tokens"]
        >= first["usage"]["prompt_tokens"] - 1
    )
    assert second["choices"][0]["message"]["content"] == first["choices"][0]["message"]["content"]


def test_metrics_report_the_serving_state(client):
    client.post("/v1/chat/completions", json=_body("hi", max_tokens=4))
    text = client.get("/metrics").text
    for name in (
        "impetus_requests_total",
        "impetus_prompt_tokens_total",
        "impetus_completion_tokens_total",
        "impetus_time_to_first_token_seconds_bucket",
        "impetus_inter_token_latency_seconds_bucket",
        "impetus_queue_wait_seconds_bucket",
        "impetus_tokens_per_second",
        "impetus_queue_depth",
        "impetus_active_requests",
        "impetus_kv_cache_usage_ratio",
        "impetus_prefix_cache_hit_ratio",
        "impetus_process_rss_bytes",
        "impetus_process_cpu_seconds_total",
    ):
        assert name in text, name
    done = re.search(
        r'impetus_requests_total\{route="/v1/chat/completions",status="200"\} (\d+)', text
    )
    assert done and int(float(done.group(1))) >= 1
    rss = float(re.search(r"^impetus_process_rss_bytes (\S+)", text, re.M).group(1))
    assert 50e6 < rss < 2e9


@pytest.fixture(scope="module")
def tiny_server():
    """One slot, a wait queue of one: the easiest place to overflow."""
    with ServerProcess("--parallel", "1", env={"IMPETUS_QUEUE_SIZE": "1"}) as srv:
        yield srv


def test_overfull_queue_gets_429_and_the_server_stays_healthy(tiny_server):
    long = _body("Tell me a long story.", max_tokens=400, ignore_eos=True)

    async def scenario() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=tiny_server.url, timeout=300) as c:
            first = asyncio.create_task(c.post("/v1/chat/completions", json=long))
            await asyncio.sleep(0.5)
            second = asyncio.create_task(c.post("/v1/chat/completions", json=long))
            await asyncio.sleep(0.3)
            third = await c.post("/v1/chat/completions", json=long)
            return [await first, await second, third]

    first, second, third = asyncio.run(scenario())
    assert third.status_code == 429
    err = third.json()["error"]
    assert err["type"] == "rate_limit_exceeded" and err["message"]
    assert int(third.headers["retry-after"]) >= 1
    assert first.status_code == 200 and second.status_code == 200
    assert httpx.get(tiny_server.url + "/health").json()["status"] == "ready"
    metrics = httpx.get(tiny_server.url + "/metrics").text
    assert 'status="429"' in metrics


def test_disconnect_frees_the_only_slot(tiny_server):
    body = {**_body("Tell me a long story.", max_tokens=3000, ignore_eos=True), "stream": True}
    with httpx.Client(base_url=tiny_server.url, timeout=60) as c:
        with c.stream("POST", "/v1/chat/completions", json=body) as resp:
            for i, _ in enumerate(resp.iter_lines()):
                if i > 6:
                    break
        t0 = time.perf_counter()
        r = c.post("/v1/chat/completions", json=_body("hi", max_tokens=4))
        assert r.status_code == 200
        # With one slot, this could only run once the abandoned stream was freed.
        assert time.perf_counter() - t0 < 5
