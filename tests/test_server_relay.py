"""Relay: one broadcast serialised once per tag variant (plain, server-time, message-tags, both)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

import trio_chat.server.relay as relay_module
from trio_chat.protocol.message import MAX_SERVER_TAG_BYTES, Message, format_tags, parse_line
from trio_chat.server.relay import VARIANT_TAGS, VARIANT_TIME, Relay

PLAIN = 0
BOTH = VARIANT_TIME | VARIANT_TAGS
ALL_VARIANTS = (PLAIN, VARIANT_TIME, VARIANT_TAGS, BOTH)

TIME = "2024-05-01T12:00:00.123Z"
MSGID = "Xq1-42"
MESSAGE = Message("PRIVMSG", ("#room", "hello there"), "alice!a@host.example")
BODY = b":alice!a@host.example PRIVMSG #room :hello there\r\n"


def _tags(line: bytes) -> dict[str, str]:
    return dict(parse_line(line, max_tag_bytes=MAX_SERVER_TAG_BYTES).tags)


def _full(client_tags: Mapping[str, str] | None = None) -> Relay:
    return Relay(
        MESSAGE, time=TIME, msgid=MSGID, client_tags={"+draft/react": "👍"} if client_tags is None else client_tags
    )


def test_the_variant_bits_are_distinct_and_index_four_variants() -> None:
    assert {PLAIN, VARIANT_TIME, VARIANT_TAGS, BOTH} == {0, 1, 2, 3}


def test_plain_recipients_get_the_message_without_any_tags() -> None:
    assert _full().line(PLAIN) == BODY == MESSAGE.to_bytes()


def test_server_time_recipients_get_only_the_time_tag() -> None:
    assert _full().line(VARIANT_TIME) == b"@time=" + TIME.encode() + b" " + BODY


def test_message_tags_recipients_get_msgid_and_client_tags_but_no_time() -> None:
    line = _full().line(VARIANT_TAGS)
    assert line.endswith(b" " + BODY)
    assert _tags(line) == {"msgid": MSGID, "+draft/react": "👍"}


def test_recipients_with_both_get_every_tag() -> None:
    line = _full().line(BOTH)
    assert _tags(line) == {"msgid": MSGID, "+draft/react": "👍", "time": TIME}


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_every_variant_carries_the_same_message(variant: int) -> None:
    parsed = parse_line(_full().line(variant), max_tag_bytes=MAX_SERVER_TAG_BYTES)
    assert (parsed.command, parsed.params, parsed.source) == (MESSAGE.command, MESSAGE.params, MESSAGE.source)


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_without_any_tag_every_variant_is_the_plain_line(variant: int) -> None:
    # Never an empty tag section ("@ :alice ..."), which would be a malformed line.
    assert Relay(MESSAGE).line(variant) == BODY
    assert Relay(MESSAGE, time=None, msgid="", client_tags={}).line(variant) == BODY


def test_a_message_without_msgid_or_client_tags_gives_message_tags_clients_the_plain_line() -> None:
    relay = Relay(MESSAGE, time=TIME)
    assert relay.line(VARIANT_TAGS) == BODY
    assert relay.line(BOTH) == b"@time=" + TIME.encode() + b" " + BODY


def test_client_tags_without_a_msgid_are_still_relayed() -> None:
    relay = Relay(MESSAGE, client_tags={"+typing": "active"})
    assert relay.line(VARIANT_TAGS) == b"@+typing=active " + BODY
    assert relay.line(VARIANT_TIME) == BODY


def test_a_client_tag_with_an_empty_value_is_written_as_a_bare_key() -> None:
    line = Relay(MESSAGE, client_tags={"+example.com/flag": ""}).line(VARIANT_TAGS)
    assert line == b"@+example.com/flag " + BODY
    assert _tags(line) == {"+example.com/flag": ""}


def test_client_tag_values_are_escaped_on_the_wire() -> None:
    value = "a b;c\\d\r\ne=f"
    line = Relay(MESSAGE, client_tags={"+x": value}).line(VARIANT_TAGS)
    assert line == b"@+x=a\\sb\\:c\\\\d\\r\\ne=f " + BODY
    assert _tags(line) == {"+x": value}


def test_tag_variants_do_not_leak_into_each_other_whatever_the_order_they_are_built_in() -> None:
    relay = _full()
    both = relay.line(BOTH)
    assert relay.line(VARIANT_TIME) == b"@time=" + TIME.encode() + b" " + BODY
    assert relay.line(PLAIN) == BODY
    assert _tags(relay.line(VARIANT_TAGS)) == {"msgid": MSGID, "+draft/react": "👍"}
    assert relay.line(BOTH) is both


@pytest.mark.parametrize("variant", ALL_VARIANTS)
def test_each_variant_is_built_once_and_then_served_from_the_cache(variant: int) -> None:
    relay = _full()
    first = relay.line(variant)
    assert relay.line(variant) is first
    # Network.deliver_all reads the cache list directly (``relay.lines[variant] or relay.line(variant)``).
    assert relay.lines[variant] is first


def test_a_fan_out_serialises_tags_once_per_variant_not_once_per_recipient(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, str]] = []

    def counting(tags: Mapping[str, str]) -> str:
        calls.append(dict(tags))
        return format_tags(tags)

    monkeypatch.setattr(relay_module, "format_tags", counting)
    relay = _full()
    recipients = [ALL_VARIANTS[i % 4] for i in range(1000)]
    lines = [relay.line(variant) for variant in recipients]
    assert len(calls) == 3  # time, tags, both; the plain line needs no tags at all
    assert len({id(line) for line in lines}) == 4
    assert all(line == relay.line(variant) for line, variant in zip(lines, recipients, strict=True))


def test_the_message_is_serialised_when_the_relay_is_built() -> None:
    relay = Relay(MESSAGE, time=TIME)
    assert relay.body == BODY
    # A message that cannot be written fails once, at the broadcast, not at each recipient.
    with pytest.raises(ValueError, match="middle parameter"):
        Relay(Message("PRIVMSG", ("two words", "text")), time=TIME)


_TAG_NAMES = st.text(alphabet=st.sampled_from("abcxyz0123-"), min_size=1, max_size=8)
# A relayed value was unescaped from a client's (strict UTF-8) line, so it may hold anything but NUL, which no line
# may carry, and surrogates, which UTF-8 cannot.
_TAG_VALUES = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=20)


@given(
    client_tags=st.dictionaries(_TAG_NAMES.map(lambda name: "+" + name), _TAG_VALUES, max_size=5),
    msgid=st.none() | st.text(alphabet=st.sampled_from("ABCxyz019-_"), min_size=1, max_size=12),
    time=st.none() | st.just(TIME),
    variant=st.sampled_from(ALL_VARIANTS),
)
def test_any_tags_survive_the_round_trip_through_the_wire(
    client_tags: dict[str, str], msgid: str | None, time: str | None, variant: int
) -> None:
    line = Relay(MESSAGE, time=time, msgid=msgid, client_tags=client_tags).line(variant)
    assert line.endswith(b"\r\n")
    assert b"\r" not in line[:-2]
    assert b"\n" not in line[:-2]
    expected: dict[str, str] = {}
    if variant & VARIANT_TAGS:
        expected.update(client_tags)
        if msgid is not None:
            expected["msgid"] = msgid
    if variant & VARIANT_TIME and time is not None:
        expected["time"] = time
    parsed = parse_line(line, max_tag_bytes=MAX_SERVER_TAG_BYTES)
    assert dict(parsed.tags) == expected
    assert parsed.params == MESSAGE.params
    assert line.endswith(BODY)


def test_the_fan_out_carries_the_colon() -> None:
    relay = Relay(Message("PRIVMSG", ("#c", "hi"), "alice!u@h"), time="2023-11-14T22:13:20.000Z")
    assert relay.line(0) == b":alice!u@h PRIVMSG #c :hi\r\n"
    assert relay.line(VARIANT_TIME) == b"@time=2023-11-14T22:13:20.000Z :alice!u@h PRIVMSG #c :hi\r\n"
