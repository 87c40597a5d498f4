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


@pytest.mark.parametrize("line", [b":src", b"@a=b", b":src :trailing", b"@a=b :src", b"PRIV-MSG x", b"@=v CMD"])
def test_malformed_lines(line: bytes) -> None:
    with pytest.raises(MalformedMessage):
        parse_line(line)


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
