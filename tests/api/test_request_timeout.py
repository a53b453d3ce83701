"""The server's request timeout ends a generation like max_tokens and frees its slot."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.conftest import ServerProcess

LONG = {
    "messages": [{"role": "user", "content": "Tell me a long story."}],
    "max_tokens": 3000,
    "ignore_eos": True,
}


@pytest.fixture(scope="module")
def srv():
    # One slot: a request that kept its slot past the timeout would block the next one.
    s = ServerProcess("--parallel", "1", env={"IMPETUS_REQUEST_TIMEOUT": "1.5"})
    s.wait_ready()
    yield s
    s.stop()


def test_a_long_generation_ends_at_the_timeout_with_length(srv):
    t0 = time.monotonic()
    reply = httpx.post(srv.url + "/v1/chat/completions", json=LONG, timeout=60)
    took = time.monotonic() - t0
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert 0 < body["usage"]["completion_tokens"] < 3000
    assert body["choices"][0]["message"]["content"]
    assert took < 10, took  # 3,000 tokens would take ~30 s here


def test_a_stream_ends_at_the_timeout_and_the_slot_is_free_at_once(srv):
    finishes = []
    with httpx.stream(
        "POST", srv.url + "/v1/chat/completions", json={**LONG, "stream": True}, timeout=60
    ) as r:
        for line in r.iter_lines():
            if line.startswith("data: {"):
                for c in json.loads(line[6:])["choices"]:
                    if c.get("finish_reason"):
                        finishes.append(c["finish_reason"])
    assert finishes == ["length"]
    t0 = time.monotonic()
    short = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    assert httpx.post(srv.url + "/v1/chat/completions", json=short, timeout=30).status_code == 200
    assert time.monotonic() - t0 < 2.0  # the only slot was not held by the timed-out stream
