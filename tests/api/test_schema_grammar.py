"""Integer bounds in JSON Schema grammars: every value in range matches, none outside."""

from __future__ import annotations

import re

import pytest

from impetus.api.schema_grammar import integer_range
from impetus.api.tools import json_schema_grammar
from impetus.engines.llama_ctypes import LlamaModel
from impetus.engines.sampling import check_grammar
from tests.conftest import MODEL_PATH


def _regex(expr: str) -> re.Pattern:
    """The GBNF expression as a regex: it only uses literals, classes, | and groups."""
    return re.compile(re.sub(r'"([^"]*)"', lambda m: re.escape(m.group(1)), expr).replace(" ", ""))


@pytest.mark.parametrize(
    "lo, hi",
    [(0, 150), (-20, 7), (5, 5), (-150, -3), (17, 1234), (-1000, 1000), (99, 100), (0, 0)],
)
def test_integer_range_matches_exactly_the_range(lo, hi):
    pattern = _regex(integer_range(lo, hi))
    for n in range(lo - 300, hi + 301):
        assert bool(pattern.fullmatch(str(n))) == (lo <= n <= hi), n
    for text in ("007", "-0", "+5", "01", ""):
        assert not pattern.fullmatch(text)


def test_one_sided_bounds_stay_within_int64():
    pattern = _regex(integer_range(10, 10**18 - 1))
    assert pattern.fullmatch("10") and pattern.fullmatch("999999999999999999")
    assert not pattern.fullmatch("9") and not pattern.fullmatch("1000000000000000000")


def test_minimum_above_maximum_is_refused():
    with pytest.raises(ValueError, match="above maximum"):
        integer_range(5, 4)


def test_schema_bounds_reach_a_grammar_llama_cpp_accepts():
    schema = {
        "type": "object",
        "properties": {
            "age": {"type": "integer", "minimum": 0, "maximum": 150},
            "delta": {"type": "integer", "exclusiveMinimum": -10, "exclusiveMaximum": 10},
            "count": {"type": "integer", "minimum": 1},
        },
        "required": ["age", "delta", "count"],
    }
    grammar = json_schema_grammar(schema)
    assert '"1" ("0" [0-9] | [1-4] [0-9] | "5" [0-0])' in grammar
    model = LlamaModel(MODEL_PATH)
    try:
        check_grammar(model.vocab, grammar)
    finally:
        model.close()


def test_json_strings_refuse_raw_control_characters():
    """A raw newline inside a JSON string is invalid JSON: the grammar must never offer it
    (the Python converter's own `char` rule did, and a sampled one broke json.loads)."""
    from impetus.engines.llama_ctypes import ll
    from impetus.engines.sampling import _Candidates, grammar_sampler

    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    model = LlamaModel(MODEL_PATH)
    grammar = grammar_sampler(model.vocab, json_schema_grammar(schema))
    try:
        for token in model.tokenize('{"city": "Par', add_special=False, parse_special=False):
            ll.llama_sampler_accept(grammar, token)
        candidates = _Candidates(model.n_vocab)

        def allowed(text: str) -> bool:
            (token,) = model.tokenize(text, add_special=False, parse_special=False)
            return candidates.allows(grammar, token)

        assert allowed("is") and allowed('"')
        for control in ("\n", "\t", "\r"):
            assert not allowed(control), repr(control)
    finally:
        ll.llama_sampler_free(grammar)
        model.close()
