"""Token-aware chunking that follows the document's structure.

Chunks never cross a section (a page or a heading); inside a section they are built from whole
paragraphs, then sentences, then words, up to `max_tokens`, and the next chunk starts with about
`overlap` tokens of the previous one. Every chunk is an exact slice `text[start:end]` of the
extracted document, so offsets point back into it, and every word is in some chunk.

A sentence over the cap is cut into runs of words of about `overlap` tokens (half the cap at
most), so the next chunk can repeat the last run as its overlap; a run that still counts over
the cap is halved until it fits, and a single "word" over it (a URL, base64, minified code) is
cut by characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from impetus.rag.extract import Extracted

_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE = re.compile(r"(?<=[.!?;:])\s+")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Chunk:
    text: str
    start: int
    end: int
    page: int | None
    section: str | None


def _matches(text: str, base: int, pattern: re.Pattern) -> list[tuple[int, int]]:
    """Spans of `text` that match `pattern`."""
    return [(base + m.start(), base + m.end()) for m in pattern.finditer(text)]


def _pieces(text: str, base: int, pattern: re.Pattern) -> list[tuple[int, int]]:
    """Spans of `text` between matches of `pattern` (the separators are dropped)."""
    out, last = [], 0
    for m in pattern.finditer(text):
        if m.start() > last:
            out.append((base + last, base + m.start()))
        last = m.end()
    if last < len(text):
        out.append((base + last, base + len(text)))
    return out


def chunk_document(
    doc: Extracted, count_tokens: Callable[[str], int], max_tokens: int = 200, overlap: int = 40
) -> list[Chunk]:
    full = doc.text
    chunks: list[Chunk] = []
    for sec in doc.sections:
        run = overlap if 0 < overlap < max_tokens // 2 else max_tokens // 2
        units = _units(full, sec.start, sec.start + len(sec.text), count_tokens, max_tokens, run)
        i = 0
        while i < len(units):
            used, j = 0, i
            while j < len(units) and (j == i or used + units[j][2] <= max_tokens):
                used += units[j][2]
                j += 1
            start, end = units[i][0], units[j - 1][1]
            chunks.append(Chunk(full[start:end], start, end, sec.page, sec.heading))
            if j >= len(units):
                break
            # Step back over the tail of this chunk for the overlap, but always move forward.
            back, k = 0, j
            while k - 1 > i and back + units[k - 1][2] <= overlap:
                k -= 1
                back += units[k][2]
            i = k
    return chunks


def _units(
    full: str, start: int, end: int, count: Callable[[str], int], limit: int, run: int
) -> list[tuple[int, int, int]]:
    """(start, end, tokens) of paragraphs, split into sentences and then into runs of words of
    about `run` tokens when too long."""
    out: list[tuple[int, int, int]] = []
    for ps, pe in _pieces(full[start:end], start, _PARAGRAPH):
        n = count(full[ps:pe])
        if n <= limit:
            out.append((ps, pe, n))
            continue
        for ss, se in _pieces(full[ps:pe], ps, _SENTENCE):
            n = count(full[ss:se])
            if n <= limit:
                out.append((ss, se, n))
                continue
            # The words themselves (not the gaps between them), so none is lost at a cut.
            words = _matches(full[ss:se], ss, _WORD)
            step = max(1, len(words) * max(1, run) // n)
            for w in range(0, len(words), step):
                _fit_words(full, words[w : w + step], count, limit, run, out)
    return out


def _fit_words(
    full: str,
    words: list[tuple[int, int]],
    count: Callable[[str], int],
    limit: int,
    run: int,
    out: list[tuple[int, int, int]],
) -> None:
    """A run of words as one unit if it fits the limit, else its halves (token counts per
    word vary: a run of numbers or rare words costs more than the average)."""
    start, end = words[0][0], words[-1][1]
    n = count(full[start:end])
    if n <= limit:
        out.append((start, end, n))
    elif len(words) > 1:
        half = len(words) // 2
        _fit_words(full, words[:half], count, limit, run, out)
        _fit_words(full, words[half:], count, limit, run, out)
    else:  # one word: slices of about `run` tokens, as for runs of words
        size = max(1, (end - start) * max(1, run) // n)
        for cs in range(start, end, size):
            ce = min(cs + size, end)
            out.append((cs, ce, count(full[cs:ce])))
