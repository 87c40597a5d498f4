"""Private-message history: kept only between two logged-in users, readable with CHATHISTORY by those two
accounts only, listed by TARGETS, echoed only once committed.  In process, with a tiny scrypt cost."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
import trio
import trio.testing

from tests.helpers import FAST, InProcessNetwork, drain, join, running_server, settle
from tests.ircclient import IRCClient
from trio_chat.protocol import Message
from trio_chat.server.history import (
    HistoryStore,
    MemoryHistory,
    StoredMessage,
    TimeRef,
    conversation_key,
    conversation_parties,
)
from trio_chat.server.store import SQLiteHistory

ACCOUNTS = replace(FAST, password_hash_cost=4)
MODERN = "batch server-time message-tags echo-message draft/chathistory"


async def logged_in(net: InProcessNetwork, nick: str, *, account: str | None = None, caps: str = MODERN) -> IRCClient:
    """A client logged in to ``account`` (registered with NickServ if it is None: the nick's own account)."""
    client = await net.client(nick, caps=caps)
    if account is None:
        await client.send("PRIVMSG NickServ :REGISTER sesame12")
    else:
        await client.send(f"PRIVMSG NickServ :IDENTIFY {account} sesame12")
    await client.expect(r" 900 ")
    await drain(client)
    return client


async def history(client: IRCClient, command: str) -> tuple[list[str], list[Message]]:
    """Send a CHATHISTORY command; (the batch's parameters, the messages in it)."""
    await client.send(command)
    lines = await client.collect_until(r"^(@\S+ )?:\S+ BATCH -")
    first = next(i for i, m in enumerate(lines) if m.command == "BATCH")
    start, *inside, end = lines[first:]
    assert start.params[0] == "+" + end.params[0][1:], (start.to_line(), end.to_line())
    return list(start.params[1:]), inside


async def test_both_parties_read_their_conversation_and_nobody_else_does() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await logged_in(net, "alice")
        bob = await logged_in(net, "bob")
        carol = await logged_in(net, "carol")
        guest = await net.client("guest", caps=MODERN)
        await alice.send("PRIVMSG bob :hello bob")
        echo = await alice.expect(r" PRIVMSG bob :hello bob$")
        live = await bob.expect(r" PRIVMSG bob :hello bob$")
        assert live.tags["msgid"] == echo.tags["msgid"]
        await bob.send("NOTICE alice :hi alice")
        await alice.expect(r" NOTICE alice :hi alice$")
        await settle(bob)
        expected = [
            (echo.source, "PRIVMSG", ("bob", "hello bob")),
            (str(echo.source).replace("alice", "bob"), "NOTICE", ("alice", "hi alice")),
        ]
        for client, other in ((alice, "bob"), (bob, "ALICE")):
            params, inside = await history(client, f"CHATHISTORY LATEST {other} * 10")
            assert params == ["chathistory", other if other == "bob" else "alice"]
            assert [(m.source, m.command, m.params) for m in inside] == expected
            assert inside[0].tags["msgid"] == echo.tags["msgid"]
        # carol has her own (empty) conversation with alice; a guest who is not logged in gets nothing either.
        for client in (carol, guest):
            _, inside = await history(client, "CHATHISTORY LATEST alice * 10")
            assert inside == []
        _, inside = await history(carol, "CHATHISTORY LATEST bob * 10")
        assert inside == []


async def test_nothing_is_kept_unless_both_are_logged_in() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await logged_in(net, "alice")
        guest = await net.client("guest", caps=MODERN)
        await guest.send("PRIVMSG alice :from a guest")
        await alice.send("PRIVMSG guest :to a guest")
        await alice.expect(r"PRIVMSG alice :from a guest")
        await settle(guest, alice)
        assert net.server.store.targets_with_history() == []
        _, inside = await history(alice, "CHATHISTORY LATEST guest * 10")
        assert inside == []
        # A nick nobody uses and no account has: no such target, as before.
        await alice.send("CHATHISTORY LATEST nobody * 10")
        await alice.expect(r"FAIL CHATHISTORY INVALID_TARGET LATEST nobody ")


async def test_the_conversation_outlives_the_sessions() -> None:
    """What was sent to alice's phone while her laptop was disconnected is there when the laptop comes back,
    and the conversation with bob can be read by his account's name while he is offline."""
    async with running_server(ACCOUNTS) as net:
        alice = await logged_in(net, "alice")
        bob = await logged_in(net, "bob")
        phone = await logged_in(net, "alice_phone", account="alice")
        await alice.send("QUIT")
        await alice.expect_closed()
        await bob.send("PRIVMSG alice_phone :while you were away")
        await phone.expect(r"while you were away")
        await settle(bob)
        await bob.send("QUIT")
        await bob.expect_closed()
        laptop = await net.client("alice", caps=MODERN)
        await laptop.send("PRIVMSG NickServ :IDENTIFY sesame12")
        await laptop.expect(r" 900 ")
        params, inside = await history(laptop, "CHATHISTORY LATEST bob * 10")
        assert params == ["chathistory", "bob"]
        assert [m.params for m in inside] == [("alice_phone", "while you were away")]
        # bob's nick is free; someone takes it without the account: their conversation with alice is empty.
        impostor = await net.client("bob", caps=MODERN)
        _, inside = await history(laptop, "CHATHISTORY LATEST bob * 10")
        assert inside == []
        _, inside = await history(impostor, "CHATHISTORY LATEST alice * 10")
        assert inside == []


async def test_targets_lists_conversations_with_channels(autojump_clock: trio.testing.MockClock) -> None:
    clock = [1_700_000_000.0]
    async with running_server(ACCOUNTS, clock=lambda: clock[0]) as net:
        alice = await logged_in(net, "alice")
        bob = await logged_in(net, "bob")
        carol = await logged_in(net, "carol")
        await join(alice, "alice", "#a")
        clock[0] += 10
        await alice.send("PRIVMSG #a :in a")
        await alice.expect(r"PRIVMSG #a :in a")
        clock[0] += 10
        await bob.send("PRIVMSG alice :to alice")
        await bob.expect(r"PRIVMSG alice :to alice")
        clock[0] += 10
        await carol.send("PRIVMSG bob :to bob")
        await carol.expect(r"PRIVMSG bob :to bob")
        window = "timestamp=2023-01-01T00:00:00.000Z timestamp=2030-01-01T00:00:00.000Z 10"
        for client, expected in (
            (alice, [("TARGETS", "#a", "2023-11-14T22:13:30.000Z"), ("TARGETS", "bob", "2023-11-14T22:13:40.000Z")]),
            (bob, [("TARGETS", "alice", "2023-11-14T22:13:40.000Z"), ("TARGETS", "carol", "2023-11-14T22:13:50.000Z")]),
            (carol, [("TARGETS", "bob", "2023-11-14T22:13:50.000Z")]),
        ):
            params, inside = await history(client, f"CHATHISTORY TARGETS {window}")
            assert params == ["draft/chathistory-targets"]
            assert [m.params for m in inside] == expected
        _, inside = await history(alice, f"CHATHISTORY TARGETS {window[:-2]}1")
        assert [m.params[1] for m in inside] == ["#a"]


async def test_the_echo_of_a_private_message_is_its_receipt() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await logged_in(net, "alice")
        await logged_in(net, "bob")
        await alice.send(*(f"PRIVMSG bob :m{i}" for i in range(5)))
        for i in range(5):
            echo = await alice.expect(rf" PRIVMSG bob :?m{i}$")
            stored = net.server.store.find(echo.tags["msgid"])
            assert stored is not None and stored.folded == "alice bob" and stored.target == "bob"


async def test_chathistory_around_a_private_message() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await logged_in(net, "alice")
        bob = await logged_in(net, "bob")
        echoes = []
        for i in range(5):
            await alice.send(f"PRIVMSG bob :n{i}")
            echoes.append(await alice.expect(rf" PRIVMSG bob :?n{i}$"))
        await settle(bob)
        msgid = echoes[2].tags["msgid"]
        _, inside = await history(bob, f"CHATHISTORY AROUND alice msgid={msgid} 3")
        assert [m.params[1] for m in inside] == ["n1", "n2", "n3"]
        # A msgid of their conversation is unknown in another one.
        carol = await logged_in(net, "carol")
        await carol.send(f"CHATHISTORY AROUND alice msgid={msgid} 3")
        await carol.expect(re.escape("FAIL CHATHISTORY INVALID_PARAMS AROUND"))


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_the_stores_list_an_accounts_conversations_and_no_others(kind: str, tmp_path: Path) -> None:
    store: HistoryStore = MemoryHistory() if kind == "memory" else SQLiteHistory.open(str(tmp_path / "c.db"))
    try:
        keys = [conversation_key("al", "bob"), conversation_key("alice", "bob"), conversation_key("a_", "al")]
        store.append_many(
            [
                StoredMessage(0, f"m{i}", 1000 * (i + 1), "x", key, "s!u@h", "acc", "PRIVMSG", "t")
                for i, key in enumerate(keys)
            ]
            + [StoredMessage(0, "c", 500, "#al", "#al", "s!u@h", None, "PRIVMSG", "t")]
        )
        window = (TimeRef(0), TimeRef(10_000))
        assert store.conversations("al", *window, 10) == [("al bob", 1000), ("a_ al", 3000)]
        assert store.conversations("bob", *window, 10) == [("al bob", 1000), ("alice bob", 2000)]
        assert store.conversations("a%", *window, 10) == []
        assert store.conversations("bob", TimeRef(10_000), TimeRef(0), 1) == [("alice bob", 2000)]
        assert store.conversations("bob", *window, 0) == []
        # Judged by each conversation's latest message of all: a newer one after the window leaves it out.
        store.append_many([StoredMessage(0, "m9", 20_000, "x", keys[0], "s!u@h", "acc", "PRIVMSG", "t")])
        assert store.conversations("bob", *window, 10) == [("alice bob", 2000)]
        assert conversation_parties("alice bob") == ("alice", "bob")
        assert conversation_parties("#alice") is None
    finally:
        store.close()
