"""LineBuffer: a received byte stream cut into lines (CRLF or bare LF), with the ReadQ bound on an unfinished line."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_chat.protocol import LineBuffer, ProtocolError, ReadQExceeded

# Streams rich in line endings, lone CRs, NULs and non-UTF-8 bytes: the buffer must not care about any of it.
_PIECES = st.one_of(
    st.sampled_from([b"\r", b"\n", b"\r\n", b"\n\r", b"\0", b"\xff"]),
    st.binary(max_size=6),
)
STREAMS = st.lists(_PIECES, max_size=40).map(b"".join)


def _expected_lines(stream: bytes) -> tuple[list[bytes], bytes]:
    """The specification: complete lines end at LF, one CR just before it is dropped; the rest is unfinished."""
    *complete, tail = stream.split(b"\n")
    return [line.removesuffix(b"\r") for line in complete], tail


def _chunked(stream: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(stream)]
    return [stream[a:b] for a, b in pairwise(bounds)]


def test_crlf_lines_come_out_without_their_ending() -> None:
    buffer = LineBuffer(512)
    assert buffer.feed(b"NICK alice\r\nUSER a 0 * :Alice\r\n") == [b"NICK alice", b"USER a 0 * :Alice"]
    assert len(buffer) == 0


def test_bare_lf_ends_a_line_too_and_endings_may_be_mixed() -> None:
    buffer = LineBuffer(512)
    assert buffer.feed(b"PING a\nPING b\r\nPING c\n") == [b"PING a", b"PING b", b"PING c"]


def test_an_unfinished_line_is_held_until_its_ending_arrives() -> None:
    buffer = LineBuffer(512)
    assert buffer.feed(b"PRIVMSG #room :hel") == []
    assert len(buffer) == len(b"PRIVMSG #room :hel")
    assert buffer.feed(b"lo") == []
    assert buffer.feed(b" there\r\nJOIN #b") == [b"PRIVMSG #room :hello there"]
    assert len(buffer) == len(b"JOIN #b")
    assert buffer.feed(b"\r\n") == [b"JOIN #b"]
    assert len(buffer) == 0


def test_cr_and_lf_arriving_in_different_reads_still_make_one_crlf() -> None:
    buffer = LineBuffer(512)
    assert buffer.feed(b"QUIT :bye\r") == []
    assert buffer.feed(b"\n") == [b"QUIT :bye"]


def test_a_lf_at_the_start_of_the_buffer_ends_an_empty_line_whatever_the_buffer_ends_with() -> None:
    # The byte before position 0 does not exist: a CR at the *end* of the buffer must not be taken for it.
    buffer = LineBuffer(512)
    assert buffer.feed(b"\nPING\r") == [b""]
    assert len(buffer) == len(b"PING\r")
    assert buffer.feed(b"\n") == [b"PING"]


def test_only_the_cr_right_before_lf_is_an_ending_others_are_kept_for_the_parser() -> None:
    buffer = LineBuffer(512)
    assert buffer.feed(b"a\rb\r\n") == [b"a\rb"]
    assert buffer.feed(b"c\r\r\n") == [b"c\r"]
    assert buffer.feed(b"\rd\n") == [b"\rd"]
    assert buffer.feed(b"e\n\r") == [b"e"]
    assert len(buffer) == 1  # the CR after a LF starts the next line


def test_empty_lines_are_returned_as_empty_lines() -> None:
    buffer = LineBuffer(512)
    assert buffer.feed(b"\r\n\n\r\n") == [b"", b"", b""]
    assert len(buffer) == 0


def test_feeding_nothing_returns_nothing_and_keeps_the_held_line() -> None:
    buffer = LineBuffer(512)
    assert buffer.feed(b"") == []
    buffer.feed(b"PART #a")
    assert buffer.feed(b"") == []
    assert len(buffer) == len(b"PART #a")
    assert buffer.feed(b"\n") == [b"PART #a"]


def test_bytearray_input_is_accepted_and_lines_are_immutable_bytes() -> None:
    buffer = LineBuffer(512)
    data = bytearray(b"PING x\r\n")
    lines = buffer.feed(data)
    data[:] = b"XXXXXXXX"  # the caller reuses its receive buffer
    assert lines == [b"PING x"]
    assert type(lines[0]) is bytes


def test_an_unfinished_line_of_exactly_the_bound_is_held() -> None:
    buffer = LineBuffer(10)
    assert buffer.feed(b"x" * 10) == []
    assert len(buffer) == 10
    assert buffer.feed(b"\n") == [b"x" * 10]


def test_one_byte_past_the_bound_without_a_line_ending_raises_readq_exceeded() -> None:
    buffer = LineBuffer(10)
    buffer.feed(b"x" * 6)
    with pytest.raises(ReadQExceeded) as info:
        buffer.feed(b"x" * 5)
    # The server disconnects on it; the client catches the ProtocolError family; neither sends a numeric.
    assert isinstance(info.value, ProtocolError)
    assert info.value.numeric is None


def test_a_single_read_larger_than_the_bound_raises_at_once() -> None:
    with pytest.raises(ReadQExceeded):
        LineBuffer(16).feed(b"A" * 1_000_000)


def test_a_complete_line_longer_than_the_bound_is_returned_not_refused() -> None:
    # Over-long lines are the parser's business (417), not the ReadQ's.
    buffer = LineBuffer(10)
    assert buffer.feed(b"x" * 100 + b"\r\n") == [b"x" * 100]
    assert len(buffer) == 0


def test_the_bound_counts_only_the_unfinished_line_not_the_completed_ones() -> None:
    buffer = LineBuffer(10)
    assert buffer.feed(b"a" * 50 + b"\n" + b"b" * 10) == [b"a" * 50]
    assert len(buffer) == 10
    with pytest.raises(ReadQExceeded):
        LineBuffer(10).feed(b"a" * 50 + b"\n" + b"b" * 11)


def test_a_zero_bound_holds_nothing_but_complete_lines_still_pass() -> None:
    buffer = LineBuffer(0)
    assert buffer.feed(b"PING a\r\n") == [b"PING a"]
    with pytest.raises(ReadQExceeded):
        buffer.feed(b"P")


@given(stream=STREAMS, data=st.data())
def test_any_chunking_of_a_stream_gives_the_lines_of_the_whole_stream(stream: bytes, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12), label="cuts")
    buffer = LineBuffer(1 << 16)
    lines: list[bytes] = []
    for chunk in _chunked(stream, cuts):
        lines += buffer.feed(chunk)
    expected, tail = _expected_lines(stream)
    assert lines == expected
    assert len(buffer) == len(tail)


@given(stream=STREAMS, bound=st.integers(0, 12), data=st.data())
def test_readq_exceeded_is_raised_exactly_when_the_unfinished_line_outgrows_the_bound(
    stream: bytes, bound: int, data: st.DataObject
) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12), label="cuts")
    buffer = LineBuffer(bound)
    received = b""
    lines: list[bytes] = []
    for chunk in _chunked(stream, cuts):
        received += chunk
        expected, tail = _expected_lines(received)
        if len(tail) > bound:
            with pytest.raises(ReadQExceeded):
                buffer.feed(chunk)
            return
        lines += buffer.feed(chunk)
        assert lines == expected
        assert len(buffer) == len(tail)
