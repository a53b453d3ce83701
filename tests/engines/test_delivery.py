"""The engine thread's own writes to a client socket (DirectStream) and the choice between them
and the event loop (route), on real socket pairs."""

from __future__ import annotations

import asyncio
import os
import socket
from types import SimpleNamespace

import pytest

from impetus.engines.delivery import DirectStream, deliver, route
from impetus.engines.protocol import Generation, GenerationRequest, TokenEvent, TokenLogprob


def frame(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def encode(text: str) -> bytes:
    return f"data: {text}\n\n".encode()


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    yield ours, theirs
    ours.close()
    theirs.close()


def read_all(sock: socket.socket) -> bytes:
    sock.setblocking(False)
    out = b""
    while True:
        try:
            data = sock.recv(1 << 16)
        except BlockingIOError:
            return out
        if not data:
            return out
        out += data


def test_writes_are_chunk_framed_in_order(pair):
    ours, theirs = pair
    stream = DirectStream(ours.fileno(), encode)
    assert stream.write("a") and stream.write("é") and stream.write("")
    assert read_all(theirs) == frame(b"data: a\n\n") + frame("data: é\n\n".encode()) + frame(
        b"data: \n\n"
    )
    assert stream.writes == 3


def test_a_full_socket_disarms_and_keeps_the_untaken_tail_for_the_loop(pair):
    ours, theirs = pair
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    stream = DirectStream(ours.fileno(), encode)
    stream.arm(0)
    sent = []
    for i in range(10_000):  # nobody reads: the socket fills
        text = f"token {i} " * 20
        if not stream.write(text):
            break
        sent.append(frame(encode(text)))
        if stream.armed_at == -1:
            break
    assert stream.armed_at == -1, "the socket never filled"
    tail = stream.take_pending()
    # Refused outright (nothing written) or taken in part: either way no byte is lost, and
    # the bytes that went plus the tail are exactly the accepted chunks, in order.
    received = b""
    theirs.settimeout(1)
    expected = b"".join(sent)
    while len(received) < len(expected) - len(tail):
        received += theirs.recv(1 << 16)
    assert received + tail == expected
    assert stream.take_pending() == b""
    stream.arm(0)  # the loop has written the tail: it may arm again
    assert stream.armed_at == 0


def test_arming_waits_for_the_tail(pair):
    ours, _ = pair
    stream = DirectStream(ours.fileno(), encode)
    stream._pending = b"tail"
    stream.arm(3)
    assert stream.armed_at == -1  # a tail not yet written by the loop blocks arming


def test_close_stops_every_later_write_and_releases_the_descriptor(pair):
    ours, theirs = pair
    stream = DirectStream(ours.fileno(), encode)
    fd = stream._fd
    stream.arm(0)
    stream.close()
    assert not stream.write("late")
    assert stream.armed_at == -1
    with pytest.raises(OSError):
        os.fstat(fd)  # our dup is gone: nothing can land on a connection reusing the number
    assert read_all(theirs) == b""
    ours.send(b"x")  # the connection's own descriptor is untouched
    assert theirs.recv(1) == b"x"


def test_a_vanished_client_makes_writes_fall_back(pair):
    ours, theirs = pair
    stream = DirectStream(ours.fileno(), encode)
    theirs.close()
    assert not stream.write("x")  # EPIPE: the event loop's own write will notice and cancel
    assert not stream.write("y")


def _generation(loop) -> tuple[Generation, SimpleNamespace]:
    gen = Generation(GenerationRequest([1, 2, 3]), cancel=lambda g: None)
    return gen, SimpleNamespace(gen=gen, loop=loop)


def test_route_writes_only_while_the_loop_has_taken_everything_routed(pair):
    ours, theirs = pair
    loop = asyncio.new_event_loop()
    try:
        gen, seq = _generation(loop)
        outbox: list = []
        event = TokenEvent("hi", (7,))
        assert not route(outbox, seq, event)  # no socket handed over
        assert outbox == [(seq, event)]
        outbox.clear()

        stream = DirectStream(ours.fileno(), encode)
        gen.direct = stream
        assert not route(outbox, seq, event)  # handed over, not armed
        outbox.clear()
        stream.arm(gen.consumed)
        assert route(outbox, seq, event) and outbox == []
        assert read_all(theirs) == frame(b"data: hi\n\n")

        # An event that must go through the loop (logprobs) leaves one routed but unconsumed:
        # nothing more may be written directly until the loop has taken it and re-armed.
        lp = TokenEvent("x", (8,), logprob=TokenLogprob(8, -0.1))
        assert not route(outbox, seq, lp)
        deliver(outbox)
        assert gen.routed == 1
        outbox.clear()
        assert not route(outbox, seq, TokenEvent("later", (9,)))
        outbox.clear()
        loop.run_until_complete(asyncio.sleep(0))  # the loop runs the delivery
        assert gen._queue.qsize() == 1
        gen._queue.get_nowait()
        gen.consumed += 1
        stream.arm(gen.consumed)
        assert route(outbox, seq, TokenEvent("again", (10,))) and outbox == []
        assert read_all(theirs) == frame(b"data: again\n\n")
        stream.close()
    finally:
        loop.close()


def test_direct_tokens_count_their_gaps_and_the_first_token_hook_runs_on_the_loop(pair):
    ours, _ = pair
    loop = asyncio.new_event_loop()
    try:
        gen, seq = _generation(loop)
        first: list[Generation] = []
        gen.on_first_token = first.append
        gen.direct = DirectStream(ours.fileno(), encode)
        gen.direct.arm(0)
        for text in ("a", "b", "c"):
            assert route([], seq, TokenEvent(text, (1,)))
        assert first == []  # scheduled on the loop, not run on the engine thread
        loop.run_until_complete(asyncio.sleep(0))
        assert first == [gen]
        assert len(gen.token_gaps) == 2 and all(g >= 0 for g in gen.token_gaps)
        gen.direct.close()
    finally:
        loop.close()
