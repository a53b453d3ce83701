"""Make llama.cpp's WordPiece (BERT) tokenizer agree with Hugging Face's.

llama.cpp's BERT normalizer differs from `tokenizers`' BertNormalizer in two ways that change
vectors noticeably (cosine 0.78 for Korean, 0.87 for Hindi against the reference):

- its "NFD" maps each character to the first character of its decomposition and its accent
  stripping drops every mark (\\p{M}), so Hangul syllables lose their vowels and Devanagari
  loses its spacing vowel signs (Mc). HF decomposes fully and drops only nonspacing marks (Mn).
- HF turns a word of more than 100 characters into [UNK]; llama.cpp splits it into pieces.

So when a BERT GGUF strips accents, the embedder loads it with accent stripping off
(`OVERRIDES`) and calls `prepare` first, which does the HF steps in Python.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

STRIP_ACCENTS_KEY = "tokenizer.ggml.normalizer.strip_accents"
LOWERCASE_KEY = "tokenizer.ggml.normalizer.lowercase"
OVERRIDES = {STRIP_ACCENTS_KEY: False}
MAX_WORD_CHARS = 100  # `max_input_chars_per_word` of every BERT WordPiece tokenizer
UNK = "[UNK]"

_LONG_RUN = re.compile(rf"\S{{{MAX_WORD_CHARS + 1},}}")


def strips_accents(metadata: Mapping[str, str]) -> bool:
    """Whether llama.cpp would strip accents for this GGUF (its default follows lowercase)."""
    if metadata.get("tokenizer.ggml.model") != "bert":
        return False
    default = metadata.get(LOWERCASE_KEY, "true")
    return metadata.get(STRIP_ACCENTS_KEY, default) == "true"


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def _mark_long_words(text: str) -> str:
    out: list[str] = []
    word: list[str] = []

    def flush() -> None:
        if len(word) > MAX_WORD_CHARS:
            out.append(f" {UNK} ")
        else:
            out.extend(word)
        word.clear()

    for ch in text:
        if ch.isspace() or _is_punctuation(ch) or _is_cjk(ch):
            flush()
            out.append(ch)
        else:
            word.append(ch)
    flush()
    return "".join(out)


def prepare(text: str, *, strip_accents: bool) -> str:
    """`text` as HF's BertNormalizer would leave it (accents only), long words as [UNK]."""
    if strip_accents and not text.isascii():
        text = "".join(
            ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn"
        )
    if _LONG_RUN.search(text):
        text = _mark_long_words(text)
    return text
