"""The parser and serialiser against the ircdocs vectors, the limits, and arbitrary input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from parser_tests import data as vectors

from trio_chat.protocol import (
    EmptyLine,
    ForbiddenCharacter,
    InputTooLong,
    InvalidUTF8,
    MalformedMessage,
    Message,
    ProtocolError,
    parse_line,
)
from trio_chat.protocol.message import escape_tag_value, unescape_tag_value


def _atoms(msg: Message) -> dict[str, Any]:
    return {"tags": dict(msg.tags), "source": msg.source, "verb": msg.command, "params": list(msg.params)}


def _expected(atoms: dict[str, Any]) -> dict[str, Any]:
    return {
        "tags": atoms.get("tags") or {},
        "source": atoms.get("source"),
        "verb": atoms["verb"],
        "params": atoms.get("params") or [],
    }


@pytest.mark.parametrize("case", vectors.msg_split["tests"], ids=lambda c: c["input"][:40])
def test_split_vectors(case: dict[str, Any]) -> None:
    assert _atoms(parse_line(case["input"].encode())) == _expected(case["atoms"])


@pytest.mark.parametrize("case", vectors.msg_join["tests"], ids=lambda c: c.get("desc", "")[:40])
def test_join_vectors(case: dict[str, Any]) -> None:
    atoms = case["atoms"]
    msg = Message(atoms["verb"], tuple(atoms.get("params") or ()), atoms.get("source"), atoms.get("tags") or {})
    assert msg.to_line() in case["matches"]


def test_crlf_and_lf_endings_are_stripped() -> None:
    assert parse_line(b"PING x\r\n") == parse_line(b"PING x\n") == Message("PING", ("x",))


def test_body_limit_is_510_bytes_without_crlf() -> None:
    ok = b"PRIVMSG #a :" + b"x" * (510 - 12)
    assert len(parse_line(ok + b"\r\n").params[1]) == 510 - 12
    with pytest.raises(InputTooLong) as info:
        parse_line(ok + b"x\r\n")
    assert info.value.numeric == "417"
    assert info.value.command == "PRIVMSG"


def test_tag_limit_is_separate_from_the_body_limit() -> None:
    tags = b"@+k=" + b"v" * (4094 - 3)
    assert parse_line(tags + b" PRIVMSG #a :" + b"x" * 490).tags["+k"] == "v" * 4091
    with pytest.raises(InputTooLong):
        parse_line(tags + b"v PRIVMSG #a :hi")


@pytest.mark.parametrize("line", [b"PRIVMSG #a :a\0b", b"PRIVMSG #a :a\rb", b"\0"])
def test_nul_and_bare_cr_are_refused(line: bytes) -> None:
    with pytest.raises(ForbiddenCharacter):
        parse_line(line)


def test_invalid_utf8_names_the_command() -> None:
    with pytest.raises(InvalidUTF8) as info:
        parse_line(b"privmsg #a :caf\xe9")
    assert info.value.command == "PRIVMSG"


@pytest.mark.parametrize("line", [b"", b"   ", b"\r\n"])
def test_empty_lines(line: bytes) -> None:
    with pytest.raises(EmptyLine):
        parse_line(line)


@pytest.mark.parametrize("line", [b":src", b"@a=b", b":src :trailing", b"@a=b :src", b"PRIV\x01MSG x", b"@=v CMD"])
def test_malformed_lines(line: bytes) -> None:
    with pytest.raises(MalformedMessage):
        parse_line(line)


@pytest.mark.parametrize("command", ["NONEXISTENT_COMMAND", "PRIV-MSG", "x.y"])
def test_a_command_word_the_server_may_not_know_still_parses(command: str) -> None:
    # The server answers it with 421 (unknown command), as ergo and others do, not with a parse error.
    assert parse_line(f"{command} x".encode()).command.upper() == command.upper()


def test_middle_parameter_that_cannot_be_written_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        Message("MODE", ("a b", "c")).to_line()


_text = st.text(st.characters(exclude_characters="\0\r\n", exclude_categories=["Cs"]), max_size=30)
_middle = _text.filter(lambda s: bool(s) and " " not in s and not s.startswith(":"))
_key = st.from_regex(r"\A\+?([a-z0-9.-]{1,8}/)?[A-Za-z0-9-]{1,10}\Z")


@given(
    command=st.from_regex(r"\A([A-Za-z]{1,10}|[0-9]{3})\Z"),
    middles=st.lists(_middle, max_size=5),
    trailing=st.none() | _text,
    source=st.none() | _middle,
    tags=st.dictionaries(_key, _text, max_size=4),
)
def test_round_trip(
    command: str, middles: list[str], trailing: str | None, source: str | None, tags: dict[str, str]
) -> None:
    params = tuple(middles) + ((trailing,) if trailing is not None else ())
    msg = Message(command, params, source, tags)
    assert parse_line(msg.to_bytes(), max_body_bytes=10**6, max_tag_bytes=10**6) == msg


@given(st.binary(max_size=600))
def test_arbitrary_bytes_give_a_message_or_a_protocol_error(data: bytes) -> None:
    try:
        msg = parse_line(data)
    except ProtocolError:
        return
    assert isinstance(msg, Message)


@given(_text)
def test_tag_escaping_round_trips(value: str) -> None:
    escaped = escape_tag_value(value)
    assert not any(c in escaped for c in " ;\r\n")
    assert unescape_tag_value(escaped) == value


@pytest.mark.parametrize(
    ("message", "line"),
    [
        (Message("PRIVMSG", ("bob", "psst"), "alice!u@h"), ":alice!u@h PRIVMSG bob :psst"),
        (Message("NOTICE", ("#c", "hi")), "NOTICE #c :hi"),
        (Message("PART", ("#c", "bye")), "PART #c :bye"),
        (Message("PART", ("#c",)), "PART #c"),
        (Message("QUIT", ("gone",)), "QUIT :gone"),
        (Message("QUIT", ()), "QUIT"),
        (Message("KICK", ("#c", "bob", "out")), "KICK #c bob :out"),
        (Message("KICK", ("#c", "bob")), "KICK #c bob"),
        (Message("TOPIC", ("#c", "news")), "TOPIC #c :news"),
        (Message("TOPIC", ("#c",)), "TOPIC #c"),
        (Message("AWAY", ("lunch",)), "AWAY :lunch"),
        (Message("AWAY", ()), "AWAY"),
        (Message("ERROR", ("Closing",)), "ERROR :Closing"),
        (Message("001", ("alice", "Welcome"), "srv"), ":srv 001 alice :Welcome"),
        (Message("324", ("alice", "#c", "+nt"), "srv"), ":srv 324 alice #c :+nt"),
        (Message("353", ("alice", "=", "#c", "alice"), "srv"), ":srv 353 alice = #c :alice"),
        # Other commands keep the colon only where it is needed.
        (Message("JOIN", ("#c",)), "JOIN #c"),
        (Message("MODE", ("#c", "+o", "bob")), "MODE #c +o bob"),
        (Message("NICK", ("bob",)), "NICK bob"),
        (Message("PING", ("token",)), "PING token"),
        (Message("CAP", ("*", "ACK", "sasl")), "CAP * ACK sasl"),
        (Message("PRIVMSG", ("bob", "two words")), "PRIVMSG bob :two words"),
    ],
)
def test_text_parameters_and_numerics_always_have_their_colon(message: Message, line: str) -> None:
    assert message.to_line() == line
    assert message.to_bytes() == line.encode() + b"\r\n"
    assert parse_line(message.to_bytes()) == message


def test_trailing_can_be_forced_either_way() -> None:
    message = Message("PRIVMSG", ("bob", "psst"))
    assert message.to_line(trailing=False) == "PRIVMSG bob psst"
    assert message.to_line(trailing=True) == "PRIVMSG bob :psst"
    assert Message("JOIN", ("#c",)).to_bytes(trailing=True) == b"JOIN :#c\r\n"
    assert Message("PRIVMSG", ("bob", "")).to_line(trailing=False) == "PRIVMSG bob :"  # needed: still written


@given(
    command=st.sampled_from(["PRIVMSG", "NOTICE", "PART", "QUIT", "KICK", "TOPIC", "AWAY", "ERROR", "001", "353"]),
    middles=st.lists(_middle, max_size=3),
    trailing=_text,
)
def test_forced_trailing_round_trips(command: str, middles: list[str], trailing: str) -> None:
    msg = Message(command, (*middles, trailing))
    assert parse_line(msg.to_bytes(), max_body_bytes=10**6) == msg
