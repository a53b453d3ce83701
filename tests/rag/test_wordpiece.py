from __future__ import annotations

from impetus.rag import wordpiece


def test_prepare_strips_nonspacing_marks_only() -> None:
    assert wordpiece.prepare("Café", strip_accents=True) == "Cafe"
    assert wordpiece.prepare("Café", strip_accents=False) == "Café"
    assert wordpiece.prepare("안", strip_accents=True) == "\u110b\u1161\u11ab"  # full NFD
    assert "\u093f" in wordpiece.prepare("हिन्दी", strip_accents=True)  # Mc vowel sign stays
    assert wordpiece.prepare("plain ascii", strip_accents=True) == "plain ascii"


def test_long_words_become_unk() -> None:
    assert wordpiece.prepare("a" * 100, strip_accents=True) == "a" * 100
    out = wordpiece.prepare("x " + "b" * 101 + ", y", strip_accents=True)
    assert out.split() == ["x", "[UNK]", ",", "y"]
    assert wordpiece.prepare("東" * 300, strip_accents=True) == "東" * 300  # CJK chars are words


def test_strips_accents_follows_llama_cpp_defaults() -> None:
    assert wordpiece.strips_accents({"tokenizer.ggml.model": "bert"})
    assert not wordpiece.strips_accents(
        {"tokenizer.ggml.model": "bert", "tokenizer.ggml.normalizer.lowercase": "false"}
    )
    assert not wordpiece.strips_accents({"tokenizer.ggml.model": "gpt2"})
