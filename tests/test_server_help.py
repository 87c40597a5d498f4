"""HELP and HELPOP: 704/705/706 with a text for every command, 524 for an unknown topic (modern.ircdocs.horse)."""

from __future__ import annotations

import pytest

from tests.helpers import drain, running_server
from trio_chat.protocol import Message
from trio_chat.server.commands import COMMANDS
from trio_chat.server.handlers.help import HELP_TEXTS


def replies(messages: list[Message]) -> list[tuple[str, tuple[str, ...]]]:
    return [(m.command, m.params) for m in messages]


def test_every_command_has_a_help_text_and_every_text_a_command() -> None:
    assert set(HELP_TEXTS) == set(COMMANDS)
    for name, text in HELP_TEXTS.items():
        first = text.split("\n")[0]
        assert first.split()[0] == name, f"{name}: the text starts with its syntax"
        assert all(len(line) <= 100 for line in text.split("\n")), name


@pytest.mark.parametrize("verb", ["HELP", "HELPOP"])
async def test_help_on_a_command(verb: str) -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await alice.send(f"{verb} privmsg")
        lines = await drain(alice)
        assert lines[0].command == "704" and lines[0].params[:2] == ("alice", "PRIVMSG")
        assert lines[0].params[2].startswith("PRIVMSG <target>")
        assert {m.command for m in lines[1:-1]} == {"705"}
        assert all(m.params[:2] == ("alice", "PRIVMSG") for m in lines)
        assert replies(lines[-1:]) == [("706", ("alice", "PRIVMSG", "End of /HELP"))]


async def test_help_without_a_topic_lists_every_command() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await alice.send("HELP")
        lines = await drain(alice)
        assert [m.command for m in lines] == ["704"] + ["705"] * (len(lines) - 2) + ["706"]
        assert all(m.params[1] == "*" for m in lines)
        listed = {word for m in lines[1:-1] for word in m.params[2].split()}
        assert set(COMMANDS) <= listed
        assert ("705", ("alice", "*", "")) in replies(lines), "an empty line is sent as an empty last parameter"


async def test_unknown_topic_is_524() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await alice.send("HELP THISISNOTACOMMAND", "HELPOP :two words", "HELP :")
        lines = await drain(alice)
        assert replies(lines[:2]) == [
            ("524", ("alice", "THISISNOTACOMMAND", "No help available on this topic")),
            ("524", ("alice", "*", "No help available on this topic")),
        ]
        assert lines[2].command == "704" and lines[2].params[1] == "*", "an empty topic is the index"


async def test_help_before_registration_is_451() -> None:
    async with running_server() as net:
        alice = await net.connect("alice")
        await alice.send("HELP")
        assert (await alice.expect_next(r" 451 ")).command == "451"
