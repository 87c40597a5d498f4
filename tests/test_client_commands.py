"""Slash commands to IRC messages and local actions: pure, no I/O."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_chat.client.commands import (
    COMMANDS,
    ClearBuffer,
    CloseBuffer,
    Ctcp,
    Ignore,
    InputContext,
    OpenQuery,
    Quit,
    Say,
    Send,
    SetOption,
    ShowError,
    ShowHelp,
    SwitchBuffer,
    help_lines,
    parse_input,
    say,
    split_text,
    text_budget,
)
from trio_chat.protocol import Message

IN_LOBBY = InputContext("alice", "#lobby")
IN_QUERY = InputContext("alice", "bob")
IN_SERVER = InputContext("alice", None)


def sends(text: str, ctx: InputContext = IN_LOBBY) -> list[str]:
    actions = parse_input(text, ctx)
    assert all(isinstance(a, Send) for a in actions), actions
    return [a.message.to_line() for a in actions if isinstance(a, Send)]


def test_plain_text_goes_to_the_current_buffer() -> None:
    assert parse_input("hello there", IN_LOBBY) == [Say("#lobby", "privmsg", ("hello there",))]
    assert parse_input("hi", IN_QUERY) == [Say("bob", "privmsg", ("hi",))]
    assert parse_input("//etc/passwd is a path", IN_LOBBY) == [Say("#lobby", "privmsg", ("/etc/passwd is a path",))]
    assert parse_input("   ", IN_LOBBY) == []
    assert parse_input("hello", IN_SERVER) == [
        ShowError("This is the server buffer: /join a channel or /query someone to talk.")
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/join #dev", ["JOIN #dev"]),
        ("/join dev,#ops key", ["JOIN #dev,#ops key"]),
        ("/j #dev", ["JOIN #dev"]),
        ("/part", ["PART #lobby"]),
        ("/part see you all", ["PART #lobby :see you all"]),
        ("/part #dev bye", ["PART #dev :bye"]),
        ("/nick alicia", ["NICK alicia"]),
        ("/topic", ["TOPIC #lobby"]),
        ("/topic Welcome all", ["TOPIC #lobby :Welcome all"]),
        ("/topic #dev code talk", ["TOPIC #dev :code talk"]),
        ("/names", ["NAMES #lobby"]),
        ("/who", ["WHO #lobby"]),
        ("/who *bob*", ["WHO *bob*"]),
        ("/whois bob", ["WHOIS bob"]),
        ("/away", ["AWAY"]),
        ("/away lunch break", ["AWAY :lunch break"]),
        ("/invite bob", ["INVITE bob #lobby"]),
        ("/invite bob #dev", ["INVITE bob #dev"]),
        ("/kick bob", ["KICK #lobby bob"]),
        ("/kick bob be nice", ["KICK #lobby bob :be nice"]),
        ("/kick #dev bob out", ["KICK #dev bob :out"]),
        ("/mode +o bob", ["MODE #lobby +o bob"]),
        ("/mode #dev +t", ["MODE #dev +t"]),
        ("/mode", ["MODE #lobby"]),
        ("/list", ["LIST"]),
        ("/quote PRIVMSG #x :raw line", ["PRIVMSG #x :raw line"]),
        ("/QUOTE ping :x", ["ping x"]),
        ("/version", ["VERSION"]),
    ],
)
def test_commands_become_messages(text: str, expected: list[str]) -> None:
    assert sends(text) == expected


USAGE = {
    "/part": "/part [#channel] [reason]",
    "/topic": "/topic [#channel] [new topic]",
    "/names": "/names [#channel]",
    "/kick": "/kick [#channel] nick [reason]",
    "/invite": "/invite nick [#channel]",
    "/whois": "/whois nick",
    "/whowas": "/whowas nick",
    "/op": "/op nick [nick…]",
    "/voice": "/voice nick [nick…]",
    "/ban": "/ban [#channel] nick|mask",
    "/unban": "/unban [#channel] nick|mask",
    "/kickban": "/kickban [#channel] nick [reason]",
    "/ctcp": "/ctcp nick|#channel TYPE [args]",
    "/ping": "/ping nick",
}
"""What each command says when it is typed without what it needs."""


def usage(text: str) -> ShowError:
    """The usage line of the command ``text`` starts with: that command's, not any other's."""
    return ShowError(f"Usage: {USAGE[text.split(maxsplit=1)[0]]}")


def test_commands_outside_a_channel() -> None:
    assert sends("/mode +i", IN_SERVER) == ["MODE alice +i"]
    assert sends("/whois", IN_QUERY) == ["WHOIS bob"]
    for text in ("/part", "/topic", "/names", "/kick bob", "/invite bob", "/whois"):
        assert parse_input(text, IN_SERVER) == [usage(text)], text


def test_messages_actions_and_queries() -> None:
    assert parse_input("/msg bob hi there", IN_SERVER) == [Say("bob", "privmsg", ("hi there",))]
    assert parse_input("/notice #dev heads up", IN_SERVER) == [Say("#dev", "notice", ("heads up",))]
    assert parse_input("/me waves", IN_LOBBY) == [Say("#lobby", "action", ("waves",))]
    assert parse_input("/query bob", IN_LOBBY) == [OpenQuery("bob")]
    assert parse_input("/query bob psst", IN_LOBBY) == [OpenQuery("bob"), Say("bob", "privmsg", ("psst",))]
    assert Say("#a", "action", ("waves",)).messages() == [Message("PRIVMSG", ("#a", "\x01ACTION waves\x01"))]
    assert Say("#a", "notice", ("hi",)).messages() == [Message("NOTICE", ("#a", "hi"))]
    assert isinstance(parse_input("/me waves", IN_SERVER)[0], ShowError)
    assert isinstance(parse_input("/msg bob", IN_SERVER)[0], ShowError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/op bob", ["MODE #lobby +o bob"]),
        ("/op #dev bob carol", ["MODE #dev +oo bob carol"]),
        ("/deop a b c d e", ["MODE #lobby -oooo a b c d", "MODE #lobby -o e"]),
        ("/voice bob", ["MODE #lobby +v bob"]),
        ("/devoice bob", ["MODE #lobby -v bob"]),
        ("/ban bob", ["MODE #lobby +b bob!*@*"]),
        ("/ban #dev *!*@spam.example", ["MODE #dev +b *!*@spam.example"]),
        ("/unban bob", ["MODE #lobby -b bob!*@*"]),
        ("/kickban bob", ["MODE #lobby +b bob!*@*", "KICK #lobby bob"]),
        ("/kickban #dev bob go away", ["MODE #dev +b bob!*@*", "KICK #dev bob :go away"]),
        ("/whowas bob", ["WHOWAS bob"]),
    ],
)
def test_channel_operator_commands(text: str, expected: list[str]) -> None:
    assert sends(text) == expected


def test_channel_operator_commands_need_a_channel_and_a_nick() -> None:
    for text in ("/op bob", "/ban bob", "/kickban bob"):
        assert parse_input(text, IN_SERVER) == [usage(text)], text
    for text in ("/op", "/voice", "/ban", "/unban", "/kickban", "/kickban *!*@h", "/whowas"):
        assert parse_input(text, IN_LOBBY) == [usage(text)], text


def test_local_commands_ignore_clear_and_set() -> None:
    assert parse_input("/ignore", IN_LOBBY) == [Ignore()]
    assert parse_input("/ignore bob", IN_LOBBY) == [Ignore("bob")]
    assert parse_input("/unignore bob", IN_LOBBY) == [Ignore("bob", undo=True)]
    assert parse_input("/clear", IN_LOBBY) == [ClearBuffer()]
    assert parse_input("/set", IN_LOBBY) == [SetOption()]
    assert parse_input("/set Nicklist_Width", IN_LOBBY) == [SetOption("nicklist_width")]
    assert parse_input("/set timestamp_format %H:%M:%S", IN_LOBBY) == [SetOption("timestamp_format", "%H:%M:%S")]


def test_ctcp_commands() -> None:
    assert parse_input("/ctcp bob version", IN_LOBBY) == [Ctcp("bob", "VERSION")]
    assert parse_input("/ctcp #dev PING 123 456", IN_LOBBY) == [Ctcp("#dev", "PING", "123 456")]
    assert parse_input("/ping bob", IN_LOBBY) == [Ctcp("bob", "PING")]
    assert parse_input("/ping", IN_QUERY) == [Ctcp("bob", "PING")]
    assert parse_input("/version bob", IN_LOBBY) == [Ctcp("bob", "VERSION")]
    for text in ("/ctcp bob", "/ping", "/ctcp bob \x01X"):
        assert parse_input(text, IN_LOBBY) == [usage(text)], text


def test_local_actions() -> None:
    assert parse_input("/quit", IN_LOBBY) == [Quit(None)]
    assert parse_input("/quit gone fishing", IN_LOBBY) == [Quit("gone fishing")]
    assert parse_input("/buffer 3", IN_LOBBY) == [SwitchBuffer(number=3)]
    assert parse_input("/buffer #dev", IN_LOBBY) == [SwitchBuffer(name="#dev")]
    assert parse_input("/close", IN_LOBBY) == [CloseBuffer(None)]
    assert parse_input("/frobnicate", IN_LOBBY) == [ShowError("Unknown command /frobnicate; /help lists the commands.")]
    assert parse_input("/quote PRIVMSG #a :\x00", IN_LOBBY) == [
        ShowError("Cannot send that line: line contains NUL or CR")
    ]


def test_help_lists_every_command_with_a_summary() -> None:
    [shown] = parse_input("/help", IN_LOBBY)
    assert isinstance(shown, ShowHelp)
    text = "\n".join(shown.lines)
    required: tuple[str, ...] = (
        "join",
        "part",
        "msg",
        "query",
        "me",
        "nick",
        "topic",
        "names",
        "who",
        "whois",
        "away",
        "invite",
    )
    required += ("kick", "mode", "list", "quit", "help", "quote", "op", "deop", "voice", "devoice", "ban", "unban")
    required += ("kickban", "whowas", "ctcp", "ping", "version", "ignore", "unignore", "clear", "set")
    width = max(len(info.usage) for info in COMMANDS.values())
    for name in required:
        info = COMMANDS[name]
        assert f"\n  {info.usage.ljust(width)}  {info.summary}\n" in text, name
    assert len(shown.lines) == len(COMMANDS) + 3, "a heading, one line per command, the aliases, the keys"
    assert shown.lines[-2] == (
        "Aliases: /exit = /quit, /j = /join, /leave = /part, /login = /identify, /m = /msg, /q = /query, "
        "/raw = /quote, /w = /whois."
    )
    assert help_lines("kick") == ("/kick [#channel] nick [reason]  —  remove someone from a channel",)
    assert help_lines("/j") == ("/join #channel[,#other] [key]  —  join channels (also /j)",)
    assert help_lines("part") == ("/part [#channel] [reason]  —  leave a channel (default: this one) (also /leave)",)
    assert help_lines("nope") == ("No such command: /nope",)


def test_long_messages_are_split_within_the_budget() -> None:
    budget = text_budget("alice", "#lobby")
    prefix = len(":alice!~abcdefghij@" + "h" * 63 + " PRIVMSG #lobby :")
    assert budget <= 510 - prefix
    action = say("#lobby", "é" * 600, "alice", "action")
    for chunk in action.chunks:
        assert len(f"\x01ACTION {chunk}\x01".encode()) <= budget
    assert "".join(action.chunks) == "é" * 600


def test_split_prefers_spaces_and_never_breaks_a_character() -> None:
    assert split_text("aaa bbb ccc", 7) == ["aaa bbb", "ccc"]
    assert split_text("aaaaaaaaaa", 4) == ["aaaa", "aaaa", "aa"]
    assert split_text("ééééé", 5) == ["éé", "éé", "é"]
    assert split_text("", 10) == [""]
    assert split_text("日本語", 4) == ["日", "本", "語"]


@given(st.text(min_size=1, max_size=2000).filter(lambda t: t.strip()), st.integers(min_value=4, max_value=450))
def test_split_round_trips(text: str, budget: int) -> None:
    pieces = split_text(text, budget)
    assert all(len(p.encode()) <= budget for p in pieces)
    # The pieces are the text in order; between two of them at most the one space split at is dropped (a split
    # inside a word happens only where no space fits, so a piece that follows one never starts at a space).
    pos = 0
    for i, piece in enumerate(pieces):
        assert text.startswith(piece, pos), (pieces, pos)
        pos += len(piece)
        if i < len(pieces) - 1 and text[pos : pos + 1] == " ":
            pos += 1
    assert pos == len(text), pieces
