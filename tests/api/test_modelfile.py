"""api/modelfile.py: Ollama Modelfile text in and out."""

from __future__ import annotations

import pytest

from impetus.api import modelfile

TEXT = '''# a comment
FROM smollm2:135m
SYSTEM """You are
Mario."""
parameter temperature 0.2
PARAMETER stop "<|im_end|>"
PARAMETER stop "say \\"hi\\""
MESSAGE user Who are you?
MESSAGE assistant "It's me"
ADAPTER ./lora.gguf
'''


def test_parse_every_value_form():
    spec = modelfile.parse(TEXT)
    assert spec["from"] == "smollm2:135m"
    assert spec["system"] == "You are\nMario."
    assert spec["parameters"] == {"temperature": "0.2", "stop": ["<|im_end|>", 'say "hi"']}
    assert spec["messages"] == [
        {"role": "user", "content": "Who are you?"},
        {"role": "assistant", "content": "It's me"},
    ]
    assert spec["adapters"] == ["./lora.gguf"]


def test_render_parses_back():
    spec = modelfile.parse(TEXT)
    del spec["adapters"]
    again = modelfile.parse(modelfile.render("base", spec))
    assert again == {**spec, "from": "base"}
    shown = modelfile.render_parameters({"temperature": 0.2, "stop": ["a", "b"]})
    assert shown.splitlines() == [
        f'{"stop":<30} "a"',
        f'{"stop":<30} "b"',
        f"{'temperature':<30} 0.2",
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("BOGUS x", "unknown command 'BOGUS'"),
        ('SYSTEM """never closed', "never closed"),
        ("FROM x\nMESSAGE", "line 2: MESSAGE needs a name and a value"),
        ('SYSTEM "open', "never closed"),
    ],
)
def test_errors_name_the_line(text, words):
    with pytest.raises(modelfile.ModelfileError, match=words):
        modelfile.parse(text)
