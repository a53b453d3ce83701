"""api/tools.py without a server: grammars llama.cpp accepts, prompt rendering, output parsing."""

from __future__ import annotations

import json

import pytest

from impetus.api import tools
from impetus.api.tools import Tool, ToolCall, ToolStream
from impetus.engines.llama_ctypes import LlamaModel
from impetus.engines.sampling import GrammarError, check_grammar
from impetus.models.chat_template import ChatTemplate
from impetus.server.errors import ApiError
from tests.conftest import MODEL_PATH

WEATHER = Tool(
    "get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}}
)
ADD = Tool("add", "", {"type": "object", "properties": {"a": {"type": "integer"}}})


@pytest.fixture(scope="module")
def vocab():
    model = LlamaModel(MODEL_PATH)
    yield model.vocab
    model.close()


@pytest.mark.parametrize("choice", ["auto", "required", "add"])
@pytest.mark.parametrize("parallel", [True, False])
def test_tool_grammars_compile(vocab, choice, parallel):
    plan = tools.plan([WEATHER, ADD], choice, parallel=parallel)
    assert plan.tools_active
    check_grammar(vocab, plan.grammar)


def test_format_grammars_compile(vocab):
    check_grammar(vocab, tools.plan([], "none", json_mode=True).grammar)
    check_grammar(vocab, tools.plan([], "none", response_schema={"type": "array"}).grammar)
    check_grammar(vocab, tools.plan([WEATHER], "auto", json_mode=True).grammar)
    assert tools.plan([WEATHER], "none") == tools.Plan(None, False)
    with pytest.raises(GrammarError):
        check_grammar(vocab, "root ::= missing")


def test_bad_choice_and_schema_are_api_errors():
    with pytest.raises(ApiError) as info:
        tools.plan([WEATHER], "nope")
    assert info.value.status == 400 and info.value.param == "tool_choice"
    with pytest.raises(ApiError):
        tools.plan([], "none", response_schema={"$ref": "#/nowhere"})


def test_parse_calls_dedupes_and_keeps_text():
    block = '<tool_call>\n{"name": "add", "arguments": {"a": 1}}\n</tool_call>'
    content, calls = tools.parse(f'{block}\n{block}\n<tool_call>\n{{"name')
    assert content == "" and [c.name for c in calls] == ["add"]
    assert json.loads(calls[0].arguments) == {"a": 1}
    assert tools.parse("Hello") == ("Hello", [])
    assert tools.parse("<tool_call>\n{broken\n</tool_call>")[1] == []


def test_tool_stream_holds_only_a_possible_call():
    s = ToolStream()
    assert s.feed("<to") == "" and s.feed("ol_call>\n") == ""
    s.feed('{"name": "add", "arguments": {}}\n</tool_call>')
    assert [c.name for c in s.finish()[1]] == ["add"]
    t = ToolStream()
    assert t.feed("<b>") == "<b>" and t.feed("hi") == "hi" and t.finish() == ("", [])


def test_prepare_without_template_support_renders_text():
    call = ToolCall("get_weather", '{"city": "Paris"}', "call_1")
    messages = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "content": "Sunny", "name": "get_weather", "tool_call_id": "call_1"},
        {"role": "tool", "content": "Warm", "name": "get_weather", "tool_call_id": "call_1"},
    ]
    out, extra = tools.prepare(messages, [WEATHER], "auto", None)
    assert extra == {}
    assert out[0]["role"] == "system" and "<tools>" in out[0]["content"]
    assert "<tool_call>" in out[2]["content"]
    assert out[3]["role"] == "user" and out[3]["content"].count("<tool_response>") == 2
    ChatTemplate(None).render(out)  # renders through a plain template


def test_prepare_with_a_tool_aware_template_passes_tools():
    src = "{% for m in messages %}{{ m.role }}{% endfor %}{{ tools | tojson }}"
    call = ToolCall("add", '{"a": 1}', "call_9")
    out, extra = tools.prepare(
        [{"role": "assistant", "content": "", "tool_calls": [call]}], [ADD], "auto", src
    )
    assert extra["tools"][0]["function"]["name"] == "add"
    assert out[0]["tool_calls"][0]["function"]["arguments"] == {"a": 1}
