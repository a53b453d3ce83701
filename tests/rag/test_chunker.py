"""The chunker (token cap, overlap, headings, long paragraphs, offsets) and hybrid fusion."""

from __future__ import annotations

import datetime as dt
import re
from itertools import pairwise

import pytest

from impetus.rag.chunker import Chunk, chunk_document
from impetus.rag.extract import Extracted, Section, extract
from impetus.rag.store import Hit, rrf


def words(text: str) -> int:
    """A stand-in tokenizer: one token per word, so counts are easy to reason about."""
    return len(text.split())


def para(i: int, n: int = 10) -> str:
    return " ".join(f"p{i}w{j}" for j in range(n))


def one_section(text: str) -> Extracted:
    return Extracted("text", [Section(text, 0)])


def assert_exact_slices(doc: Extracted, chunks: list[Chunk]) -> None:
    full = doc.text
    for c in chunks:
        assert full[c.start : c.end] == c.text
        assert c.text == c.text.strip() and c.text


def test_chunks_fill_up_to_the_cap_with_whole_paragraphs() -> None:
    doc = one_section("\n\n".join(para(i) for i in range(30)))  # 30 paragraphs of 10 words
    chunks = chunk_document(doc, words, max_tokens=50, overlap=0)
    assert_exact_slices(doc, chunks)
    assert [words(c.text) for c in chunks] == [50] * 6
    for c in chunks:  # cut between paragraphs, never inside one
        assert c.text.startswith("p") and c.text.split()[0].endswith("w0")
        assert c.text.split()[-1].endswith("w9")


def test_overlap_repeats_the_tail_of_the_previous_chunk() -> None:
    doc = one_section("\n\n".join(para(i) for i in range(30)))
    chunks = chunk_document(doc, words, max_tokens=50, overlap=20)
    assert_exact_slices(doc, chunks)
    assert all(words(c.text) <= 50 for c in chunks)
    for prev, nxt in pairwise(chunks):
        shared = doc.text[nxt.start : prev.end]
        assert nxt.start < prev.end  # they overlap...
        assert words(shared) == 20  # ...by whole paragraphs, up to `overlap` tokens
        assert prev.text.endswith(shared) and nxt.text.startswith(shared)
    # Every word is in some chunk, and the last chunk ends the text.
    covered = {w for c in chunks for w in c.text.split()}
    assert covered == set(doc.text.split())
    assert chunks[-1].end == len(doc.text)


def test_overlap_never_stalls_on_units_bigger_than_it() -> None:
    doc = one_section("\n\n".join(para(i, 30) for i in range(5)))  # 30-word paragraphs
    chunks = chunk_document(doc, words, max_tokens=40, overlap=20)
    # Each chunk holds one paragraph (two would pass 40), and none can be repeated as the
    # overlap (30 > 20): the chunker moves on rather than looping.
    assert [c.text for c in chunks] == [para(i, 30) for i in range(5)]


def test_chunks_follow_headings_and_never_cross_a_section() -> None:
    text = (
        "# Alpha\n\n" + "\n\n".join(para(i) for i in range(7)) + "\n\n"
        "# Beta\n\n" + "\n\n".join(para(i + 100) for i in range(3)) + "\n"
    )
    doc = extract("notes.md", text.encode())
    assert [s.heading for s in doc.sections] == ["Alpha", "Beta"]
    chunks = chunk_document(doc, words, max_tokens=30, overlap=10)
    assert_exact_slices(doc, chunks)
    spans = {s.heading: (s.start, s.start + len(s.text)) for s in doc.sections}
    for c in chunks:
        start, end = spans[c.section]
        assert start <= c.start < c.end <= end  # inside its own section
    alpha = [c for c in chunks if c.section == "Alpha"]
    beta = [c for c in chunks if c.section == "Beta"]
    assert alpha and beta
    assert all("p100w" not in c.text for c in alpha)
    assert all("p0w" not in c.text and "Alpha" not in c.text for c in beta)
    assert beta[0].text.startswith("# Beta")  # a section starts a fresh chunk


def test_pages_are_kept_per_chunk() -> None:
    doc = Extracted("pdf")
    pos = 0
    for page, body in enumerate([para(1, 40), para(2, 40)], start=1):
        doc.sections.append(Section(body, pos, page=page))
        pos += len(body) + 2
    chunks = chunk_document(doc, words, max_tokens=25, overlap=5)
    assert_exact_slices(doc, chunks)
    assert {c.page for c in chunks} == {1, 2}
    assert all(("p1w" in c.text) == (c.page == 1) for c in chunks)


def test_a_long_paragraph_is_split_at_sentences() -> None:
    sentences = [f"Sentence {i} has exactly seven words here." for i in range(20)]
    doc = one_section(" ".join(sentences))  # one paragraph of 140 words
    chunks = chunk_document(doc, words, max_tokens=30, overlap=0)
    assert_exact_slices(doc, chunks)
    assert len(chunks) > 1
    for c in chunks:
        assert words(c.text) <= 30
        assert c.text.startswith("Sentence") and c.text.endswith("here.")  # whole sentences


def test_a_long_sentence_is_split_at_words() -> None:
    doc = one_section(" ".join(f"w{i}" for i in range(500)))  # no paragraph or sentence break
    chunks = chunk_document(doc, words, max_tokens=64, overlap=16)
    assert_exact_slices(doc, chunks)
    assert len(chunks) >= 500 // 64
    assert all(words(c.text) <= 64 for c in chunks)
    got = [w for c in chunks for w in c.text.split()]
    assert set(got) == {f"w{i}" for i in range(500)}
    for prev, nxt in pairwise(chunks):
        assert 0 < words(doc.text[nxt.start : prev.end]) <= 16


def test_runs_of_costly_words_are_halved_until_they_fit() -> None:
    def costly(text: str) -> int:  # numbers cost 8 tokens, as long digit strings do
        return sum(8 if w[0].isdigit() else 1 for w in text.split())

    body = " ".join(["word"] * 60 + [str(10**12 + i) for i in range(12)] + ["word"] * 60)
    doc = one_section(body)
    chunks = chunk_document(doc, costly, max_tokens=32, overlap=8)
    assert_exact_slices(doc, chunks)
    assert all(costly(c.text) <= 32 for c in chunks)
    assert sum(c.text.count("100000000") for c in chunks) >= 12  # none lost (some repeated)


def test_a_word_over_the_cap_is_cut_by_characters() -> None:
    blob = "QUJD" * 300  # 1,200 characters, no space: a base64 attachment, minified code

    def per4(text: str) -> int:
        return sum(-(-len(w) // 4) for w in text.split())

    doc = one_section(f"Before. {blob} After.")
    chunks = chunk_document(doc, per4, max_tokens=50, overlap=10)
    assert_exact_slices(doc, chunks)
    assert all(per4(c.text) <= 50 for c in chunks)
    assert "".join(c.text for c in chunks if "QUJD" in c.text).count(blob[:40]) >= 1
    assert chunks[0].text.startswith("Before.") and chunks[-1].text.endswith("After.")


def test_offsets_point_at_the_text_through_several_sections() -> None:
    html = (
        "<html><body><h1>Intro</h1><p>First   paragraph\n with  odd spacing.</p>"
        "<h2>Details</h2><p>The answer is forty-two.</p><p>Another paragraph.</p></body></html>"
    )
    doc = extract("page.html", html.encode())
    chunks = chunk_document(doc, words, max_tokens=4, overlap=1)
    assert_exact_slices(doc, chunks)
    answer = next(c for c in chunks if "forty-two" in c.text)
    assert answer.section == "Details"
    assert doc.text[answer.start : answer.end] == answer.text


def test_the_real_tokenizer_keeps_every_chunk_under_the_cap(embedder) -> None:
    text = "\n\n".join(
        " ".join(f"Paragraph {i} sentence {j} talks about tokenization, overlap and caps." for j in range(i % 9 + 1))
        for i in range(40)
    )  # fmt: skip
    doc = one_section(text)
    chunks = chunk_document(doc, embedder.count_tokens, max_tokens=60, overlap=12)
    assert_exact_slices(doc, chunks)
    assert all(embedder.count_tokens(c.text) <= 60 for c in chunks)
    assert re.sub(r"\s+", " ", " ".join(c.text for c in chunks)).count("Paragraph 39") >= 1


# -- reciprocal-rank fusion -------------------------------------------------------------------
def hit(chunk_id: str) -> Hit:
    return Hit(
        chunk_id=chunk_id, doc_id=chunk_id, text=chunk_id, score=0.0, source="s", type="text",
        page=None, section=None, start=0, end=1, date=dt.datetime(2024, 1, 1), tags=[], meta={},
    )  # fmt: skip


VECTOR = [hit("a"), hit("b"), hit("c")]
KEYWORD = [hit("b"), hit("c"), hit("a")]


@pytest.mark.parametrize(
    ("weight", "order"),
    [
        (1.0, ["a", "b", "c"]),  # the vector list's order
        (0.0, ["b", "c", "a"]),  # the keyword list's order
        (0.5, ["b", "a", "c"]),  # both: b is near the top of each
    ],
)
def test_rrf_weight_moves_the_fused_order(weight: float, order: list[str]) -> None:
    fused = rrf([VECTOR, KEYWORD], [weight, 1.0 - weight], k=3)
    assert [h.chunk_id for h in fused] == order
    for h in fused:
        v = next(i for i, x in enumerate(VECTOR) if x.chunk_id == h.chunk_id) + 1
        k = next(i for i, x in enumerate(KEYWORD) if x.chunk_id == h.chunk_id) + 1
        assert h.score == pytest.approx(weight / (60 + v) + (1 - weight) / (60 + k))
    assert [h.score for h in fused] == sorted((h.score for h in fused), reverse=True)


def test_rrf_keeps_hits_found_by_one_list_and_cuts_at_k() -> None:
    fused = rrf([[hit("a"), hit("b")], [hit("c")]], [0.5, 0.5], k=2)
    assert [h.chunk_id for h in fused] == ["a", "c"]  # rank 1 in either list ties; b is cut
    assert VECTOR[0].score == 0.0  # the inputs are not modified
