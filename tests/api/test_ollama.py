"""The Ollama API through the official ollama client against the real server and model."""

from __future__ import annotations

import json

import jsonschema
import ollama
import pytest

from tests.conftest import MODEL_ID

CAPITAL = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 30}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
COLOR = {
    "type": "object",
    "properties": {"color": {"type": "string", "enum": ["red", "green", "blue"]}},
    "required": ["color"],
    "additionalProperties": False,
}


@pytest.fixture
def oll(server):
    return ollama.Client(host=server.url, timeout=120)


def test_version(client):
    body = client.get("/api/version").json()
    assert body["version"].count(".") == 2


def test_show(oll):
    info = oll.show(MODEL_ID)
    assert info.details.format == "gguf" and info.details.family == "llama"
    assert "im_start" in info.template
    assert "completion" in info.capabilities


def test_chat_non_streaming_with_options(oll):
    resp = oll.chat(
        model=MODEL_ID,
        messages=CAPITAL,
        stream=False,
        options={"temperature": 0, "num_predict": 20, "seed": 1, "num_ctx": 2048},
        keep_alive="5m",
    )
    assert resp.done and resp.message.role == "assistant"
    assert resp.message.content  # structure only: Ollama's default repeat_penalty shifts near-ties
    assert resp.done_reason in ("stop", "length")
    assert resp.prompt_eval_count > 10 and 0 < resp.eval_count <= 20
    assert resp.total_duration > 0


def test_chat_stream_is_ndjson(oll):
    parts = list(
        oll.chat(
            model=MODEL_ID,
            messages=[{"role": "user", "content": "Write a long poem about the sea."}],
            stream=True,
            # Greedy and a long answer: a sampled short answer could end before 8 tokens.
            options={"num_predict": 8, "temperature": 0},
        )
    )
    assert all(not p.done for p in parts[:-1]) and parts[-1].done
    assert parts[-1].done_reason == "length" and parts[-1].eval_count == 8
    assert "".join(p.message.content for p in parts)


def test_generate_stream_and_context(oll):
    parts = list(
        oll.generate(model=MODEL_ID, prompt="Say hello.", stream=True, options={"num_predict": 5})
    )
    final = parts[-1]
    assert final.done and final.context and len(final.context) > final.prompt_eval_count
    again = oll.generate(
        model=MODEL_ID,
        prompt="And again.",
        context=final.context,
        options={"num_predict": 3},
    )
    assert again.prompt_eval_count > final.prompt_eval_count


def test_generate_stop_and_raw(oll):
    resp = oll.generate(
        model=MODEL_ID,
        prompt="1, 2, 3, 4,",
        raw=True,
        options={"temperature": 0, "num_predict": 30, "stop": ["7"]},
    )
    assert "7" not in resp.response and resp.done_reason == "stop"


def test_format_schema_validates(oll):
    resp = oll.chat(
        model=MODEL_ID,
        messages=[{"role": "user", "content": "Pick a color. Answer in JSON."}],
        format=COLOR,
        options={"num_predict": 40},
    )
    jsonschema.validate(json.loads(resp.message.content), COLOR)


def test_format_json(oll):
    resp = oll.generate(
        model=MODEL_ID,
        prompt="Describe a cat as JSON with a 'name' key.",
        format="json",
        options={"num_predict": 40, "temperature": 0},
    )
    assert resp.response.lstrip().startswith("{")


def test_tools_and_tool_results(oll):
    # One tool and a question it answers: either a call (schema-valid) or text is fine, but
    # only structurally valid calls may come back.
    resp = oll.chat(
        model=MODEL_ID,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER_TOOL],
        options={"num_predict": 40},
    )
    for call in resp.message.tool_calls or []:
        assert call.function.name == "get_weather"
        jsonschema.validate(dict(call.function.arguments), WEATHER_TOOL["function"]["parameters"])
    follow = oll.chat(
        model=MODEL_ID,
        messages=[
            {"role": "user", "content": "What is the weather in Paris?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
                ],
            },
            {"role": "tool", "content": "Sunny, 24 C", "tool_name": "get_weather"},
        ],
        options={"num_predict": 10},
    )
    assert follow.message.content


def test_empty_prompt_loads_the_model(client):
    body = client.post("/api/generate", json={"model": MODEL_ID}).json()
    assert body["done"] and body["done_reason"] == "load"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/chat", {"model": "nope", "messages": CAPITAL}, 404),
        ("/api/chat", {"messages": CAPITAL}, 400),
        ("/api/chat", {"model": MODEL_ID, "messages": [{"role": "bot"}]}, 400),
        ("/api/generate", {"model": MODEL_ID, "prompt": "x", "options": {"temperature": -1}}, 400),
        ("/api/generate", {"model": MODEL_ID, "prompt": "x", "format": "yaml"}, 400),
        ("/api/generate", {"model": MODEL_ID, "prompt": "x", "images": ["aGk="]}, 400),
        ("/api/generate", {"model": MODEL_ID, "prompt": "x", "context": [-5]}, 400),
        ("/api/show", {"model": "nope"}, 404),
    ],
)
def test_errors_have_ollama_shape(client, path, body, status):
    resp = client.post(path, json=body)
    assert resp.status_code == status, resp.text
    assert set(resp.json()) == {"error"} and resp.json()["error"]


def test_client_raises_response_error(oll):
    with pytest.raises(ollama.ResponseError) as info:
        oll.chat(model="nope", messages=CAPITAL)
    assert info.value.status_code == 404


def test_a_stream_event_with_a_unicode_line_break_reaches_the_sdk_whole(oll):
    """The ollama SDK reads NDJSON with httpx's iter_lines, which splits on U+2028: an event
    carrying one (here the error naming a bad model) must arrive as one line."""
    with pytest.raises(ollama.ResponseError) as err:
        list(oll.pull("bad\u2028name", stream=True))
    assert "bad\u2028name" in str(err.value)
