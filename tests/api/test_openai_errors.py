"""Every bad input gets an OpenAI-shaped error with the right status; none crashes the server."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import MODEL_ID

MSG = [{"role": "user", "content": "hi"}]


def _assert_openai_error(resp, status: int, param: str | None = None, code: str | None = None):
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["message"]
    if param is not None:
        assert err["param"] == param
    if code is not None:
        assert err["code"] == code
    return err


@pytest.mark.parametrize(
    "body",
    [b"not json", b"{", b'{"model": "x",', b"\xff\xfe", b""],
)
def test_body_that_is_not_json_is_400(client, body):
    resp = client.post(
        "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    _assert_openai_error(resp, 400)


def test_json_that_is_not_an_object_is_400(client):
    _assert_openai_error(client.post("/v1/chat/completions", json=[1, 2]), 400)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", 2.5),
        ("temperature", -1),
        ("temperature", "hot"),
        ("top_p", 1.5),
        ("top_k", -1),
        ("min_p", 2),
        ("max_tokens", 0),
        ("max_completion_tokens", -5),
        ("presence_penalty", 3),
        ("frequency_penalty", -2.5),
        ("seed", "abc"),
        ("stop", 5),
        ("stop", ["ok", ""]),
        ("stream", "yes"),
        ("n", 9),
        ("logit_bias", {"42": 150}),
        ("logit_bias", {"hello": 5}),
        ("logit_bias", [1, 2]),
    ],
)
def test_out_of_range_parameter_names_the_param(client, field, value):
    body = {"model": MODEL_ID, "messages": MSG, field: value}
    err = _assert_openai_error(client.post("/v1/chat/completions", json=body), 400)
    assert err["param"].startswith(field)
    assert field in err["message"]


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        (None, "messages"),
        ([], "messages"),
        ([{"content": "hi"}], "messages[0].role"),
        ([{"role": "wizard", "content": "hi"}], "messages[0].role"),
        ([{"role": "user", "content": 5}], "messages[0].content"),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
            "messages[0].content",
        ),
    ],
)
def test_bad_messages(client, messages, param):
    body = {"model": MODEL_ID}
    if messages is not None:
        body["messages"] = messages
    err = _assert_openai_error(client.post("/v1/chat/completions", json=body), 400)
    assert err["param"].startswith(param)


def test_unknown_model_is_404_model_not_found(client, openai_client):
    body = {"model": "gpt-17", "messages": MSG}
    _assert_openai_error(
        client.post("/v1/chat/completions", json=body), 404, param="model", code="model_not_found"
    )
    with pytest.raises(openai.NotFoundError):
        openai_client.chat.completions.create(model="gpt-17", messages=MSG)


def test_prompt_longer_than_context_is_400(client):
    long_text = "hello " * 5000
    body = {"model": MODEL_ID, "messages": [{"role": "user", "content": long_text}]}
    _assert_openai_error(
        client.post("/v1/chat/completions", json=body), 400, code="context_length_exceeded"
    )
    body = {"model": MODEL_ID, "prompt": long_text}
    _assert_openai_error(
        client.post("/v1/completions", json=body), 400, code="context_length_exceeded"
    )


def test_body_over_the_limit_is_413(client):
    big = {"model": MODEL_ID, "messages": [{"role": "user", "content": "x" * (9 * 1024 * 1024)}]}
    _assert_openai_error(client.post("/v1/chat/completions", json=big), 413)


def test_chunked_body_over_the_limit_is_413(client):
    def chunks():
        yield b'{"model": "m", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"y" * (1024 * 1024)
        yield b'"}]}'

    resp = client.post(
        "/v1/chat/completions", content=chunks(), headers={"content-type": "application/json"}
    )
    _assert_openai_error(resp, 413)


def test_unknown_route_and_method(client):
    _assert_openai_error(client.get("/v1/nothing-here"), 404)
    _assert_openai_error(client.get("/v1/chat/completions"), 405)


def test_completions_bad_prompt(client):
    _assert_openai_error(client.post("/v1/completions", json={"prompt": ""}), 400)
    _assert_openai_error(client.post("/v1/completions", json={"prompt": []}), 400)
    _assert_openai_error(
        client.post("/v1/completions", json={"prompt": [10**9]}), 400, param="prompt"
    )
    _assert_openai_error(client.post("/v1/completions", json={}), 400, param="prompt")


def test_logit_bias_for_a_token_the_model_lacks_is_400(client):
    body = {"model": MODEL_ID, "messages": MSG, "logit_bias": {"99999999": -100}}
    err = _assert_openai_error(client.post("/v1/chat/completions", json=body), 400)
    assert "99999999" in err["message"] and "vocabulary" in err["message"]


def test_server_still_healthy_after_all_that(client):
    assert client.get("/health").json()["status"] == "ready"
