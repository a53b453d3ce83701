"""Constrained decoding on MLX: the API's GBNF grammars through llguidance, end to end.

The grammars are the ones `api/tools.py` builds for llama.cpp, so these tests also show that both
engines accept the same constraints. mlx[cpu] is slow: outputs are kept to a few dozen tokens.
"""

from __future__ import annotations

import json

import jsonschema
import pytest

pytest.importorskip("mlx.core")
pytest.importorskip("mlx_lm")
pytest.importorskip("llguidance")

from impetus.api import tools
from impetus.engines import mlx_gguf
from impetus.engines.mlx_grammar import GrammarCompiler
from impetus.engines.protocol import GrammarError
from tests.conftest import MODEL_ID, MODEL_PATH

WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 24},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
# The schema goes into the prompt, and every prompt token costs ~0.1-0.3 s on mlx[cpu].
CITY = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 20}},
    "required": ["city"],
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": CITY,
        },
    }
]


@pytest.fixture(scope="module")
def compiler():
    return GrammarCompiler(mlx_gguf.load(MODEL_PATH).tokenizer)


def _ids(compiler, text: str) -> list[int]:
    return compiler._tok.encode(text, add_special=False, parse_special=False)


def test_the_mask_follows_the_grammar(compiler):
    gbnf = tools.plan([], "auto", response_schema=WEATHER).grammar
    c = compiler.constraint(gbnf)
    allowed = c.allowed().tolist()
    assert allowed[_ids(compiler, "{")[0]]
    assert not allowed[_ids(compiler, "Hello")[0]]
    assert not any(allowed[t] for t in compiler._tok.eog_ids)  # not done yet
    for t in _ids(compiler, '{"city": "Oslo", "unit": "celsius"}'):
        assert c.allowed().tolist()[t], compiler._tok.piece(t)
        c.accept(t)
    allowed = c.allowed().tolist()
    assert any(allowed[t] for t in compiler._tok.eog_ids)  # complete: it may end
    assert not allowed[_ids(compiler, ",")[0]]


def test_every_api_grammar_compiles_and_bad_ones_are_refused(compiler):
    tool = tools.Tool("get_weather", "", WEATHER)
    for plan in (
        tools.plan([tool], "required"),
        tools.plan([tool], "get_weather", parallel=False),
        tools.plan([tool, tools.Tool("noop")], "auto"),
        tools.plan([], "auto", json_mode=True),
    ):
        compiler.check(plan.grammar)
    with pytest.raises(GrammarError):
        compiler.check("root ::= undefined-rule")
    with pytest.raises(GrammarError):
        compiler.check('root ::= "unterminated')


def test_forced_tool_call_has_arguments_valid_for_the_schema(mlx_openai):
    reply = mlx_openai.chat.completions.create(
        model=MODEL_ID,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
        temperature=0,
        max_tokens=60,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls", choice
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), CITY)


def test_json_schema_output_validates(mlx_openai):
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 16},
            "age": {"type": "integer", "minimum": 0, "maximum": 150},
        },
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    reply = mlx_openai.chat.completions.create(
        model=MODEL_ID,
        messages=[{"role": "user", "content": "Invent a person."}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": schema, "strict": True},
        },
        temperature=0,
        max_tokens=40,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "stop", choice
    jsonschema.validate(json.loads(choice.message.content), schema)
