"""WHOX (IRCv3 whox, modern.ircdocs.horse): ``WHO <mask> %<fields>[,<token>]`` answered with 354 in the spec's
field order whatever order the fields are asked in, then 315; unknown fields ignored; ``WHOX`` in ISUPPORT."""

from __future__ import annotations

from dataclasses import replace

import pytest
import trio.testing

from tests.helpers import FAST, drain, join, running_server
from trio_chat.protocol import Message
from trio_chat.server.handlers.info import Whox

ACCOUNTS = replace(FAST, password_hash_cost=4)


def replies(messages: list[Message]) -> list[tuple[str, tuple[str, ...]]]:
    return [(m.command, m.params) for m in messages]


async def test_whox_is_advertised() -> None:
    async with running_server() as net:
        alice = await net.connect("alice")
        await alice.send("NICK alice", "USER alice 0 * :Alice")
        lines = await alice.collect_until(r" 376 | 422 ")
        assert "WHOX" in [p for m in lines if m.command == "005" for p in m.params[1:-1]]


@pytest.mark.parametrize("fields", ["tcuihsnfdlaor", "roaldfnshiuct"])
async def test_every_field_in_the_spec_order(fields: str) -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#chan")
        await bob.send(f"WHO alice %{fields},123")
        assert replies(await drain(bob)) == [
            (
                "354",
                (
                    "bob",
                    "123",
                    "#chan",
                    "~alice",
                    "255.255.255.255",  # the host is no IP address (memory streams): not disclosed
                    "unknown",
                    "test.server",
                    "alice",
                    "H@",
                    "0",
                    "0",
                    "0",
                    "n/a",
                    "Alice Person",
                ),
            ),
            ("315", ("bob", "alice", "End of WHO list")),
        ]


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        ("%n", ("alice",)),
        ("%tn,321", ("321", "alice")),
        ("%na", ("alice", "0")),
        ("%cr", ("*", "Alice Person")),
        ("%uh", ("~alice", "unknown")),
        ("%zqn", ("alice",)),  # unknown fields are ignored
        ("%tn", ("0", "alice")),  # t without a token
        ("%tn,1234", ("0", "alice")),  # a token longer than three digits
        ("%tn,ab", ("0", "alice")),  # a token that is not digits
        ("%", ()),  # no field at all: the reply has nothing but the asker's nick
    ],
)
async def test_field_subsets_tokens_and_unknown_fields(request_: str, expected: tuple[str, ...]) -> None:
    async with running_server() as net:
        await net.client("alice")
        bob = await net.client("bob")
        await bob.send(f"WHO alice {request_}")
        assert replies(await drain(bob)) == [("354", ("bob", *expected)), ("315", ("bob", "alice", "End of WHO list"))]


async def test_whox_on_a_channel_masks_and_operators_only() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#chan")
        await join(bob, "bob", "#chan")
        await bob.send("AWAY :gone")
        await bob.expect(r" 306 ")
        await drain(alice)
        await alice.send("WHO #chan %cnf,7")
        lines = await drain(alice)
        assert sorted(replies(lines[:-1])) == [
            ("354", ("alice", "#chan", "alice", "H@")),
            ("354", ("alice", "#chan", "bob", "G")),
        ]
        assert replies(lines[-1:]) == [("315", ("alice", "#chan", "End of WHO list"))]
        await alice.send("WHO b* %n")
        assert replies(await drain(alice)) == [("354", ("alice", "bob")), ("315", ("alice", "b*", "End of WHO list"))]
        # "o" before the "%" asks for operators only; the "o" field after it does not.
        await alice.send("WHO #chan o%n", "WHO #chan %o")
        assert replies(await drain(alice)) == [
            ("315", ("alice", "#chan", "End of WHO list")),
            ("354", ("alice", "n/a")),
            ("354", ("alice", "n/a")),
            ("315", ("alice", "#chan", "End of WHO list")),
        ]
        # A plain WHO still answers 352.
        await alice.send("WHO bob")
        assert [m.command for m in await drain(alice)] == ["352", "315"]


async def test_account_and_idle_fields(autojump_clock: trio.testing.MockClock) -> None:
    clock_base = 1_700_000_000.0
    async with running_server(ACCOUNTS, clock=lambda: clock_base + trio.current_time()) as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await alice.send("PRIVMSG NickServ :REGISTER sesame12")
        await alice.expect("Account created")
        await alice.send("PRIVMSG bob :hi")
        await trio.sleep(42)
        await bob.send("WHO alice %nla")
        assert (await bob.expect(r" 354 ")).params == ("bob", "alice", "42", "alice")


def test_parse_keeps_the_spec_order_and_drops_unknown_letters() -> None:
    assert Whox.parse("rnxt,5") == Whox("tnr", "5")
    assert Whox.parse("") == Whox("", "0")
    assert Whox.parse("n,٣") == Whox("n", "0"), "only ASCII digits make a token"
