"""api/tool_stream.py without a server: incremental tool-call parsing agrees with tools.parse
however the text is split into tokens."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from impetus.api import tools
from impetus.api.tool_stream import ArgsDelta, CallEnd, CallStart, Text, ToolCallStream


def block(name: str, args: str, pad: str = "") -> str:
    return (
        f'<tool_call>\n{{{pad}"name":{pad} "{name}",{pad} "arguments": {args}{pad}}}\n</tool_call>'
    )


NESTED = '{"q": "a } tricky \\" {string", "list": [1, {"x": [true, null]}], "n": -1.5e3}'
OUTPUTS = [
    block("get_weather", '{"city": "Paris", "unit": "celsius"}'),
    block("add", '{ "a" : 1 ,\n "b": 2 }', pad=" "),
    block("search", NESTED),
    # parallel calls, one of them a verbatim repeat, one a repeat's prefix-sharing sibling
    "\n".join(
        [
            block("add", '{"a": 1, "b": 2}'),
            block("add", '{"a": 1, "b": 2}'),
            block("add", '{"a": 1, "b": 23}'),
            block("get_weather", '{"city": "Rome"}'),
        ]
    ),
    block("count", "12") + "\n" + block("count", "1"),  # scalar arguments
    block("add", '{"a": 1, "b": 2}') + '\n<tool_call>\n{"name": "add", "argu',  # cut off
    "Paris is the capital of France.",
    "<b>bold</b> text",
    "<tool_c",  # the opening tag cut off by max_tokens
    "  ",
]


def run(text: str, cuts: list[int]) -> tuple[list, ToolCallStream]:
    parser = ToolCallStream()
    events = []
    prev = 0
    for cut in [*sorted(set(cuts)), len(text)]:
        events += parser.feed(text[prev:cut])
        prev = cut
    events += parser.finish()
    return events, parser


def check(text: str, cuts: list[int]) -> list:
    events, parser = run(text, cuts)
    content, calls = tools.parse(text)
    assert "".join(e.text for e in events if isinstance(e, Text)) == content
    starts = [e for e in events if isinstance(e, CallStart)]
    ends = [e for e in events if isinstance(e, CallEnd)]
    assert [s.index for s in starts] == list(range(len(starts)))
    assert [(c.name, c.arguments) for c in parser.calls] == [(c.name, c.arguments) for c in calls]
    assert [e.call for e in ends] == parser.calls
    for end in ends:
        start = starts[end.index]
        assert (start.name, start.id) == (end.call.name, end.call.id)
        streamed = "".join(
            e.text for e in events if isinstance(e, ArgsDelta) and e.index == end.index
        )
        assert json.loads(streamed) == json.loads(end.call.arguments)
    return events


def test_every_output_one_character_at_a_time():
    for text in OUTPUTS:
        check(text, list(range(len(text))))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(OUTPUTS), st.lists(st.integers(min_value=0, max_value=400), max_size=30))
def test_any_split_gives_the_same_calls(text, cuts):
    check(text, [c for c in cuts if c < len(text)])


def test_arguments_stream_in_many_fragments_and_repeats_are_dropped():
    text = OUTPUTS[3]
    events = check(text, list(range(len(text))))
    starts = [e for e in events if isinstance(e, CallStart)]
    assert [s.name for s in starts] == ["add", "add", "get_weather"]
    assert sum(isinstance(e, ArgsDelta) and e.index == 0 for e in events) > 5


def test_cut_off_call_is_left_open_and_text_is_not_held():
    _, parser = run(block("add", '{"a": 1'), [])
    assert parser.open_call == 0 and parser.calls == []
    events, parser = run("<tool", [])
    assert events == [] and parser.open_call is None
    assert ToolCallStream().feed("Hi") == [Text("Hi")]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(
    args=st.dictionaries(st.text(max_size=6), json_values, max_size=4),
    indent=st.sampled_from([None, 1, 2]),
    ascii_only=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=40),
)
def test_random_arguments_stream_as_prefixes_clients_can_parse(args, indent, ascii_only, cuts):
    """Every accumulated prefix parses as partial JSON (what the anthropic SDK does per delta,
    with jiter), and the whole equals the arguments."""
    from jiter import from_json

    text = block("f", json.dumps(args, indent=indent, ensure_ascii=ascii_only))
    events = check(text, [c for c in cuts if c < len(text)])
    buf = ""
    for e in events:
        if isinstance(e, ArgsDelta):
            buf += e.text
            from_json(buf.encode(), partial_mode=True)
    assert json.loads(buf) == args
