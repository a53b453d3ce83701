"""OpenAI tools, response_format, logprobs and n through the official SDK, on the real server.

Structure is compared, never texts of near-tie prompts (docs/determinism.md)."""

from __future__ import annotations

import json
import math

import jsonschema
import pytest

from tests.conftest import MODEL_ID

WEATHER_PARAMS = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 30},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
ADD_PARAMS = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
    "additionalProperties": False,
}
TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_PARAMS},
    },
    {
        "type": "function",
        "function": {"name": "add", "description": "Sum", "parameters": ADD_PARAMS},
    },
]
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "city": {"type": "string", "enum": ["Paris", "London", "Rome"]},
    },
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}


def _check_call(call, name=None):
    assert call.type == "function" and call.id
    schema = {"get_weather": WEATHER_PARAMS, "add": ADD_PARAMS}[call.function.name]
    jsonschema.validate(json.loads(call.function.arguments), schema)
    if name:
        assert call.function.name == name


def test_required_tool_call_is_schema_valid(openai_client):
    reply = openai_client.chat.completions.create(
        model=MODEL_ID,
        messages=ASK,
        tools=TOOLS,
        tool_choice="required",
        parallel_tool_calls=False,
        max_tokens=60,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None and choice.message.tool_calls
    for call in choice.message.tool_calls:
        _check_call(call)


def test_named_function_is_forced(openai_client):
    reply = openai_client.chat.completions.create(
        model=MODEL_ID,
        messages=[{"role": "user", "content": "What is 2 plus 3?"}],
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "add"}},
        parallel_tool_calls=False,
        max_tokens=60,
    )
    calls = reply.choices[0].message.tool_calls
    assert len(calls) == 1
    _check_call(calls[0], "add")


def test_tool_choice_none_answers_in_text(openai_client):
    reply = openai_client.chat.completions.create(
        model=MODEL_ID, messages=ASK, tools=TOOLS, tool_choice="none", max_tokens=10
    )
    assert reply.choices[0].message.tool_calls is None
    assert reply.choices[0].message.content


def test_auto_gives_text_or_valid_calls(openai_client):
    reply = openai_client.chat.completions.create(
        model=MODEL_ID, messages=ASK, tools=TOOLS, max_tokens=30
    )
    msg = reply.choices[0].message
    if msg.tool_calls:
        assert reply.choices[0].finish_reason == "tool_calls"
        for call in msg.tool_calls:
            _check_call(call)
    else:
        # text, or a call cut off by max_tokens: never raw tool-call markup
        assert not (msg.content or "").lstrip().startswith("<tool_call>")
        assert msg.content or reply.choices[0].finish_reason == "length"


def test_streamed_tool_calls_accumulate_like_openai(openai_client):
    stream = openai_client.chat.completions.create(
        model=MODEL_ID,
        messages=ASK,
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=100,
        stream=True,
    )
    calls: dict[int, dict] = {}
    finish = None
    for chunk in stream:
        delta = chunk.choices[0].delta
        for tc in delta.tool_calls or []:
            slot = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
            slot["id"] = tc.id or slot["id"]
            if tc.function and tc.function.name:
                slot["name"] += tc.function.name
            if tc.function and tc.function.arguments:
                slot["arguments"] += tc.function.arguments
        finish = chunk.choices[0].finish_reason or finish
        assert not (delta.content or "").startswith("<tool_call>")
    assert finish in ("tool_calls", "length") and calls
    for slot in calls.values():
        assert slot["id"] and slot["name"] == "get_weather"
    # parallel calls may run into max_tokens: then the last one streamed only its beginning
    complete = list(calls.values())[: None if finish == "tool_calls" else -1]
    for slot in complete:
        jsonschema.validate(json.loads(slot["arguments"]), WEATHER_PARAMS)


def test_tool_results_feed_back(openai_client):
    messages = [
        *ASK,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "arguments": '{"city": "Paris", "unit": "celsius"}',
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny and 24 degrees."},
    ]
    reply = openai_client.chat.completions.create(
        model=MODEL_ID, messages=messages, tools=TOOLS, tool_choice="none", max_tokens=30
    )
    assert reply.choices[0].message.content
    assert reply.usage.prompt_tokens > 100  # tools, the call and the result are in the prompt


def test_json_schema_strict_output_validates(openai_client):
    reply = openai_client.chat.completions.create(
        model=MODEL_ID,
        messages=[{"role": "user", "content": "Invent a person. Reply in JSON."}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": PERSON, "strict": True},
        },
        # The schema bounds the output (a 20-character name may still be 20 \u escapes, ~130
        # tokens): with room to finish, the grammar must close the object.
        max_tokens=400,
    )
    assert reply.choices[0].finish_reason == "stop"
    jsonschema.validate(json.loads(reply.choices[0].message.content), PERSON)


def test_json_object_output_parses(openai_client):
    reply = openai_client.chat.completions.create(
        model=MODEL_ID,
        messages=[{"role": "user", "content": "Give me a JSON object with a key 'color'."}],
        response_format={"type": "json_object"},
        max_tokens=60,
        temperature=0,
    )
    if reply.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(reply.choices[0].message.content), dict)
    else:
        assert reply.choices[0].message.content.lstrip().startswith("{")


def test_chat_logprobs(openai_client):
    reply = openai_client.chat.completions.create(
        model=MODEL_ID, messages=ASK, max_tokens=5, logprobs=True, top_logprobs=3, temperature=0
    )
    content = reply.choices[0].logprobs.content
    assert len(content) == reply.usage.completion_tokens
    for entry in content:
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 3
        tops = [t.logprob for t in entry.top_logprobs]
        assert tops == sorted(tops, reverse=True)
        assert math.isclose(entry.logprob, tops[0], abs_tol=1e-4)  # greedy takes the best
        assert bytes(entry.bytes).decode("utf-8", "replace") == entry.token
    assert "".join(e.token for e in content) == reply.choices[0].message.content


def test_streamed_logprobs(openai_client):
    stream = openai_client.chat.completions.create(
        model=MODEL_ID, messages=ASK, max_tokens=6, logprobs=True, stream=True
    )
    entries = [
        e
        for c in stream
        if c.choices and c.choices[0].logprobs
        for e in c.choices[0].logprobs.content
    ]
    assert len(entries) == 6 and all(e.logprob <= 0 for e in entries)


def test_completions_logprobs(openai_client):
    reply = openai_client.completions.create(
        model=MODEL_ID,
        prompt="The capital of France is",
        max_tokens=4,
        logprobs=2,
        extra_body={"ignore_eos": True},
    )
    lp = reply.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == 4
    assert all(len(t) <= 2 for t in lp.top_logprobs)
    assert lp.text_offset[0] == 0


def test_n_choices(openai_client):
    reply = openai_client.chat.completions.create(
        model=MODEL_ID, messages=ASK, max_tokens=8, n=2, seed=7
    )
    assert [c.index for c in reply.choices] == [0, 1]
    assert all(c.message.content for c in reply.choices)
    assert (
        reply.usage.completion_tokens
        == sum(8 if c.finish_reason == "length" else 1 for c in reply.choices)
        or reply.usage.completion_tokens <= 16
    )


def test_n_streamed(openai_client):
    stream = openai_client.chat.completions.create(
        model=MODEL_ID, messages=ASK, max_tokens=6, n=2, stream=True
    )
    finished = {c.choices[0].index for c in stream if c.choices[0].finish_reason}
    assert finished == {0, 1}


def test_n_completions(openai_client):
    reply = openai_client.completions.create(model=MODEL_ID, prompt="Hello", max_tokens=4, n=2)
    assert [c.index for c in reply.choices] == [0, 1]


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tool_choice": "required"}, "tool_choice"),  # no tools
        ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, None),
        ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, None),
        ({"response_format": {"type": "xml"}}, None),
        ({"response_format": {"type": "json_schema"}}, None),
        ({"top_logprobs": 50}, "top_logprobs"),
        ({"n": 9}, "n"),
    ],
)
def test_bad_tool_and_format_requests_are_400(client, extra, param):
    resp = client.post("/v1/chat/completions", json={"model": MODEL_ID, "messages": ASK, **extra})
    assert resp.status_code == 400, resp.text
    err = resp.json()["error"]
    assert err["message"] and err["type"] == "invalid_request_error"
    if param:
        assert err["param"] == param


def _accumulate(stream) -> tuple[dict[int, dict], str | None, int]:
    """What an OpenAI SDK user does with streamed tool calls; also counts argument fragments."""
    calls: dict[int, dict] = {}
    finish, fragments = None, 0
    for chunk in stream:
        for tc in chunk.choices[0].delta.tool_calls or []:
            slot = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
            slot["id"] = tc.id or slot["id"]
            if tc.function and tc.function.name:
                slot["name"] += tc.function.name
            if tc.function and tc.function.arguments:
                slot["arguments"] += tc.function.arguments
                fragments += 1
        finish = chunk.choices[0].finish_reason or finish
    return calls, finish, fragments


def test_tool_call_arguments_stream_token_by_token(openai_client):
    request = {
        "model": MODEL_ID,
        "messages": [{"role": "user", "content": "Weather in Paris, in celsius?"}],
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "temperature": 0,
        "max_tokens": 80,
    }
    whole = openai_client.chat.completions.create(**request).choices[0].message.tool_calls
    calls, finish, fragments = _accumulate(
        openai_client.chat.completions.create(**request, stream=True)
    )
    assert finish == "tool_calls" and list(calls) == [0]
    assert calls[0]["name"] == whole[0].function.name == "get_weather"
    assert calls[0]["id"].startswith("call_")
    streamed = json.loads(calls[0]["arguments"])
    jsonschema.validate(streamed, WEATHER_PARAMS)
    assert streamed == json.loads(whole[0].function.arguments)
    # {"city": "...", "unit": "..."} is a dozen tokens: it must not arrive in one piece
    assert fragments > 3


def test_parallel_streamed_calls_get_increasing_indexes(openai_client):
    calls, finish, _ = _accumulate(
        openai_client.chat.completions.create(
            model=MODEL_ID,
            messages=[{"role": "user", "content": "Weather in Paris and in Rome?"}],
            tools=TOOLS,
            tool_choice="required",
            temperature=0,
            max_tokens=150,
            stream=True,
        )
    )
    assert finish in ("tool_calls", "length") and calls
    assert sorted(calls) == list(range(len(calls)))
    ids = [slot["id"] for slot in calls.values()]
    assert len(set(ids)) == len(ids)
    complete = calls if finish == "tool_calls" else dict(list(calls.items())[:-1])
    for slot in complete.values():
        schema = {"get_weather": WEATHER_PARAMS, "add": ADD_PARAMS}[slot["name"]]
        jsonschema.validate(json.loads(slot["arguments"]), schema)


def test_parallel_calls_come_back_whole_and_parallel_false_gives_one(openai_client):
    """Several calls in one message when the model asks for them (any of a few seeds), each
    with valid arguments and its own id; parallel_tool_calls=False allows exactly one."""
    ask = [{"role": "user", "content": "Weather in Paris and in Rome?"}]
    counts = []
    for seed in (1, 2, 3, 4):
        kwargs = dict(model=MODEL_ID, messages=ask, tools=TOOLS, tool_choice="required")
        kwargs |= dict(temperature=0.8, seed=seed, max_tokens=150)
        calls = openai_client.chat.completions.create(**kwargs).choices[0].message.tool_calls
        counts.append(len(calls))
        assert len({c.id for c in calls}) == len(calls)
        for c in calls:
            schema = {"get_weather": WEATHER_PARAMS, "add": ADD_PARAMS}[c.function.name]
            jsonschema.validate(json.loads(c.function.arguments), schema)
        one = openai_client.chat.completions.create(**kwargs, parallel_tool_calls=False)
        assert len(one.choices[0].message.tool_calls) == 1
    assert max(counts) >= 2, counts
