from impetus.engines.textstream import TextStream


def _feed(stream: TextStream, pieces: list[bytes]) -> str:
    return "".join(stream.push(p) for p in pieces) + stream.flush()


def test_multibyte_character_split_across_tokens_is_never_split():
    euro = "€".encode()  # 3 bytes
    s = TextStream()
    assert s.push(euro[:1]) == ""
    assert s.push(euro[1:2]) == ""
    assert s.push(euro[2:] + b"!") == "€!"


def test_emoji_and_cjk_round_trip():
    text = "naïve 日本語 🐉 done"
    data = text.encode()
    pieces = [data[i : i + 1] for i in range(len(data))]
    assert _feed(TextStream(), pieces) == text


def test_stop_string_spanning_tokens_is_cut_and_not_emitted():
    s = TextStream(("END",))
    out = [s.push(b"hello E"), s.push(b"N"), s.push(b"D tail")]
    assert "".join(out) == "hello "
    assert s.stopped
    assert s.push(b"more") == ""


def test_partial_stop_prefix_is_released_when_it_does_not_complete():
    s = TextStream(("END",))
    assert s.push(b"an E") == "an "
    assert s.push(b"dge") == "Edge"
    assert s.flush() == ""
    assert not s.stopped


def test_earliest_of_several_stops_wins():
    s = TextStream(("b", "a"))
    assert s.push(b"xxab") == "xx"


def test_flush_returns_held_text_at_the_end():
    s = TextStream(("STOP",))
    assert s.push(b"ST") == ""
    assert s.flush() == "ST"
