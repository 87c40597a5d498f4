"""Nick, channel and user-name rules, userhost splitting, and IRC mask completion and matching."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import trio_chat
from trio_chat.protocol import casefold
from trio_chat.protocol.names import (
    CHANTYPES,
    is_channel_name,
    is_valid_channel,
    is_valid_nick,
    is_valid_username,
    mask_matches,
    normalize_mask,
    split_userhost,
)
from trio_chat.server.config import ServerConfig

NICKLEN = ServerConfig().nicklen
CHANNELLEN = ServerConfig().channellen

# RFC 2812 section 2.3.1: nickname = ( letter / special ) *( letter / digit / special / "-" )
_RFC2812_NICK = re.compile(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]*")

# ---- nicknames ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "nick",
    ["alice", "Bob", "a", "a1", "a-1", "_", "[bot]", "`quote", "^_^", "{x}|y", "\\o", "Z9-_[]\\`^{|}"],
)
def test_valid_nicks(nick: str) -> None:
    assert is_valid_nick(nick, NICKLEN)


@pytest.mark.parametrize(
    "nick",
    [
        "",
        "1abc",  # a digit cannot come first
        "-abc",  # nor a hyphen
        "a b",
        "a!b",
        "a@b",  # would break nick!user@host
        "a.b",  # a dot marks a server name
        "#chan",
        "&chan",
        ":colon",
        "a,b",  # a comma separates targets
        "a*",
        "a?",  # mask characters
        "a\x00",
        "a\r",
        "a\n",
        "a\x07",
        "émile",
        "nick\u00a0",
        "日本",
    ],
)
def test_invalid_nicks(nick: str) -> None:
    assert not is_valid_nick(nick, NICKLEN)


def test_nick_length_is_bounded_by_the_configured_nicklen() -> None:
    assert is_valid_nick("n" * NICKLEN, NICKLEN)
    assert not is_valid_nick("n" * (NICKLEN + 1), NICKLEN)
    assert is_valid_nick("n" * 9, 9)
    assert not is_valid_nick("n" * 10, 9)
    assert not is_valid_nick("n", 0)


@given(
    nick=st.text(alphabet=st.sampled_from("aZ09-_[]\\`^{|} !@#.:,*é\x00"), max_size=12),
    max_len=st.integers(0, 12),
)
def test_nick_rules_are_those_of_rfc2812(nick: str, max_len: int) -> None:
    expected = _RFC2812_NICK.fullmatch(nick) is not None and len(nick) <= max_len
    assert is_valid_nick(nick, max_len) is expected


# ---- channels -----------------------------------------------------------------------------------------------


def test_chantypes_are_hash_and_ampersand() -> None:
    assert CHANTYPES == "#&"


@pytest.mark.parametrize(("name", "expected"), [("#a", True), ("&a", True), ("#", True), ("", False), ("a", False)])
def test_a_channel_name_is_anything_that_starts_with_a_chantype(name: str, expected: bool) -> None:
    assert is_channel_name(name) is expected


@pytest.mark.parametrize("name", ["+modeless", "!safe", "@op", "nick", " #a"])
def test_other_prefixes_are_not_channels_here(name: str) -> None:
    # Only what CHANTYPES announces: anything else is a nick target.
    assert not is_channel_name(name)


@pytest.mark.parametrize(
    "name",
    ["#chat", "&local", "##", "#a-b_c.d", "#C++", "#日本語", "#[bot]", "#a!b@c", "#\x01ctcp", "#tab\there"],
)
def test_valid_channel_names(name: str) -> None:
    assert is_valid_channel(name, CHANNELLEN)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "#",  # the prefix alone
        "&",
        "chat",  # no prefix
        "+chat",
        "!chat",
        "#a b",  # space ends a parameter
        "#a,b",  # comma separates JOIN targets
        "#a\x07b",  # BEL
        "#a:b",  # colon
        "#a\r",
        "#a\n",
        "#a\x00",
    ],
)
def test_invalid_channel_names(name: str) -> None:
    assert not is_valid_channel(name, CHANNELLEN)


def test_channel_length_is_bounded_by_the_configured_channellen_prefix_included() -> None:
    assert is_valid_channel("#" + "c" * (CHANNELLEN - 1), CHANNELLEN)
    assert not is_valid_channel("#" + "c" * CHANNELLEN, CHANNELLEN)
    assert is_valid_channel("#abc", 4)
    assert not is_valid_channel("#abcd", 4)


# ---- user names ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["alice", "~alice", "a.b", "a-b_c", "ÜSER", "x"])
def test_valid_usernames(user: str) -> None:
    assert is_valid_username(user)


@pytest.mark.parametrize("user", ["", "a b", "a@b", "@", "a\x00", "a\tb", "a\x1f", "a\r", "a\n"])
def test_invalid_usernames(user: str) -> None:
    assert not is_valid_username(user)


# ---- nick!user@host -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "parts"),
    [
        ("nick!user@host.example", ("nick", "user", "host.example")),
        ("nick", ("nick", "", "")),
        ("irc.example.net", ("irc.example.net", "", "")),
        ("nick@host", ("nick", "", "host")),
        ("nick!user", ("nick", "user", "")),
        ("nick!~user@2001:db8::1", ("nick", "~user", "2001:db8::1")),
        ("nick!user@host@extra", ("nick", "user", "host@extra")),
        ("", ("", "", "")),
    ],
)
def test_split_userhost(source: str, parts: tuple[str, str, str]) -> None:
    assert split_userhost(source) == parts


# ---- ban masks ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mask", "full"),
    [
        ("bob", "bob!*@*"),  # a nick
        ("*", "*!*@*"),
        ("host.example", "*!*@host.example"),  # a dot means a host
        ("*.example.com", "*!*@*.example.com"),
        ("user@host", "*!user@host"),
        ("bob!user", "bob!user@*"),
        ("bob!*", "bob!*@*"),
        ("bob!user@host", "bob!user@host"),
        ("*!*@*", "*!*@*"),
    ],
)
def test_partial_masks_are_completed_as_servers_do(mask: str, full: str) -> None:
    assert normalize_mask(mask) == full


_MASK_PART = st.text(alphabet=st.sampled_from("ab*?."), max_size=4)


@given(first=_MASK_PART, user=st.none() | _MASK_PART, host=st.none() | _MASK_PART)
def test_a_completed_mask_has_all_three_parts_and_completes_to_itself(
    first: str, user: str | None, host: str | None
) -> None:
    mask = first + ("" if user is None else "!" + user) + ("" if host is None else "@" + host)
    full = normalize_mask(mask)
    nick, _, rest = full.partition("!")
    user_part, _, host_part = rest.partition("@")
    assert full == f"{nick}!{user_part}@{host_part}"
    assert mask in full  # completion only adds wildcards around what was given
    assert normalize_mask(full) == full


# ---- mask matching ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mask", "hostmask"),
    [
        ("*!*@*", "alice!a@host.example"),
        ("*", ""),
        ("alice!*@*", "alice!a@host.example"),
        ("*!*@*.example", "alice!a@host.example"),
        ("a?ice!*@*", "alice!a@h"),
        ("?????!*@*", "alice!a@h"),
        ("*!a@h", "alice!a@h"),
        ("alice!a@h", "alice!a@h"),
        ("*!*@2001:db8::*", "x!y@2001:db8::1"),
    ],
)
def test_masks_that_match(mask: str, hostmask: str) -> None:
    assert mask_matches(mask, hostmask)


@pytest.mark.parametrize(
    ("mask", "hostmask"),
    [
        ("alice!*@*", "alice2!a@h"),  # anchored at the end...
        ("alice!*@*", "malice!a@h"),  # ...and at the start
        ("a?ice!*@*", "aice!a@h"),  # ? is exactly one character
        ("a?ice!*@*", "alllice!a@h"),
        ("????!*@*", "alice!a@h"),
        ("*!*@*.example", "alice!a@host.example.org"),
        ("", "alice!a@h"),
    ],
)
def test_masks_that_do_not_match(mask: str, hostmask: str) -> None:
    assert not mask_matches(mask, hostmask)


@pytest.mark.parametrize(
    ("mask", "hostmask", "expected"),
    [
        ("*!*@host.example", "a!b@hostxexample", False),  # a dot is a dot
        ("a+!*@*", "aa!x@y", False),
        ("(a)!*@*", "(a)!x@y", True),
        ("a$!*@*", "a$!x@y", True),
        ("x{2}!*@*", "x{2}!u@h", True),
        ("x{2}!*@*", "xx!u@h", False),
        ("a|b!*@*", "a!u@h", False),
        ("^a!*@*", "^a!u@h", True),
    ],
)
def test_regex_metacharacters_in_a_mask_are_literal(mask: str, hostmask: str, expected: bool) -> None:
    assert mask_matches(mask, hostmask) is expected


@pytest.mark.parametrize(
    ("mask", "hostmask"),
    [
        ("ALICE!*@*", "alice!a@h"),
        ("alice!*@*", "ALICE!a@h"),
        ("*!*@HOST.Example", "x!y@host.EXAMPLE"),
        ("[bot]!*@*", "{BOT}!u@h"),
        ("{bot}!*@*", "[bot]!u@h"),
        ("a\\b!*@*", "A|B!u@h"),
        ("~x!*@*", "^x!u@h"),
    ],
)
def test_matching_ignores_rfc1459_case(mask: str, hostmask: str) -> None:
    assert mask_matches(mask, hostmask)


def test_matching_does_not_fold_beyond_rfc1459() -> None:
    assert not mask_matches("é!*@*", "É!u@h")
    assert not mask_matches("`!*@*", "@!u@h")


def test_wildcards_match_any_character_newline_included() -> None:
    assert mask_matches("*", "a\nb")
    assert mask_matches("a?b", "a\nb")
    assert not mask_matches("a", "a\n")  # the end of the subject is its end, not a final newline


_MASK_ALPHABET = st.sampled_from("aAbB[]{}\\|~^.!@*?$(")


@given(mask=st.text(alphabet=_MASK_ALPHABET, max_size=8), hostmask=st.text(alphabet=_MASK_ALPHABET, max_size=10))
def test_matching_is_a_glob_over_the_case_folded_strings(mask: str, hostmask: str) -> None:
    # After rfc1459 folding neither string holds a bracket, so fnmatch's glob (* and ?) is an exact oracle.
    folded_mask, folded_host = casefold(mask), casefold(hostmask)
    assert "[" not in folded_mask
    assert mask_matches(mask, hostmask) is fnmatch.fnmatchcase(folded_host, folded_mask)


def test_a_mask_with_many_stars_is_matched_in_reasonable_time() -> None:
    # A regex (* -> .*) took hours on these (any user can send such a WHO or ban and stall the server); the
    # glob matcher takes milliseconds.  Run in a child process so a regression is killed, not waited for.
    code = (
        "from trio_chat.protocol.names import mask_matches\n"
        "assert not mask_matches('*a' * 12 + '*b', 'a' * 60)\n"
        "assert not mask_matches('*' * 40 + 'b', 'a' * 200)\n"
        "assert mask_matches('*a' * 12 + '*', 'a' * 60)\n"
    )
    root = Path(trio_chat.__file__).parent.parent
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True, timeout=10)


def test_a_star_in_the_name_is_matched_by_the_mask_star_not_as_a_literal() -> None:
    # Found by the glob property above: the matcher compared the text's "*" with the mask's "*" literally and
    # then had no wildcard left to absorb the rest.
    assert mask_matches("*", "*?")
    assert mask_matches("*x", "**x")
    assert not mask_matches("*b", "a*c")
