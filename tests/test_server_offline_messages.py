"""Messages while you were away: a PRIVMSG from a logged-in user to a registered account whose nick is offline
is kept in their private history and delivered, once, when the account logs in.  In process, tiny scrypt cost,
a wall clock the tests move on (so that the messages have distinct times)."""

from __future__ import annotations

import base64
import re
from dataclasses import replace
from pathlib import Path

import trio
import trio.testing

from tests.helpers import FAST, InProcessNetwork, drain, running_server, settle
from tests.ircclient import IRCClient
from trio_chat.protocol import Message
from trio_chat.server.app import Server
from trio_chat.server.state import OFFLINE_PREFIX

ACCOUNTS = replace(FAST, password_hash_cost=4)
MODERN = "batch server-time message-tags echo-message draft/chathistory"
START = 1_700_000_000.0


class Clock:
    """A wall clock a test moves on by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 10.0) -> None:
        self.now += seconds


def plain(authcid: str, password: str = "sesame12") -> str:
    return base64.b64encode(f"\0{authcid}\0{password}".encode()).decode()


async def registered(net: InProcessNetwork, nick: str) -> None:
    """Register the account ``nick`` through NickServ on a connection of its own, then leave."""
    owner = await net.client(nick)
    await owner.send("PRIVMSG NickServ :REGISTER sesame12")
    await owner.expect(r"NOTICE \S+ :Account created")
    await owner.send("QUIT")
    await owner.expect_closed()


async def logged_in(net: InProcessNetwork, nick: str, *, caps: str = MODERN) -> IRCClient:
    client = await net.client(nick, caps=caps)
    await client.send("PRIVMSG NickServ :REGISTER sesame12")
    await client.expect(r" 900 ")
    await drain(client)
    return client


async def sasl_client(net: InProcessNetwork, nick: str, *, caps: str = MODERN) -> tuple[IRCClient, list[Message]]:
    """``nick`` logs in with SASL PLAIN before registering; what came from the 001 on (through a PING round
    trip)."""
    client = await net.connect(nick)
    await client.send("CAP LS 302", f"CAP REQ :{caps} sasl")
    await client.expect(r" CAP \* ACK ")
    await client.send("AUTHENTICATE PLAIN")
    await client.expect_next(r"^(@\S+ )?:\S+ AUTHENTICATE \+$")
    await client.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}", f"AUTHENTICATE {plain(nick)}")
    await client.expect(r" 903 ")
    await client.send("CAP END")
    await client.expect(r" 001 ")
    return client, await drain(client)


async def send_to_offline(bob: IRCClient, clock: Clock, *texts: str) -> list[Message]:
    """bob sends ``texts`` to offline alice; their echoes."""
    echoes = []
    for text in texts:
        clock.tick()
        await bob.send(f"PRIVMSG alice :{text}")
        echoes.append(await bob.expect(rf" PRIVMSG alice :?{re.escape(text)}$"))
    return echoes


def since_login(lines: list[Message]) -> list[str]:
    """The texts of the NOTICEs in ``lines`` from NickServ's login answer on."""
    texts = [m.params[1] for m in lines if m.command == "NOTICE"]
    return texts[texts.index("You're now logged in as alice") :]


def batches(lines: list[Message]) -> list[tuple[list[str], list[Message]]]:
    """Each batch in ``lines``: (its parameters, the messages in it)."""
    found: list[tuple[list[str], list[Message]]] = []
    current: list[Message] | None = None
    for line in lines:
        if line.command == "BATCH" and line.params[0].startswith("+"):
            current = []
            found.append((list(line.params[1:]), current))
        elif line.command == "BATCH":
            current = None
        elif current is not None:
            current.append(line)
    return found


async def test_a_message_to_an_offline_account_is_kept_echoed_and_announced_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = Clock()
    async with running_server(ACCOUNTS, clock=clock) as net:
        await registered(net, "alice")
        bob = await logged_in(net, "bob")
        clock.tick()
        await bob.send("PRIVMSG alice :are you there?")
        lines = await bob.collect_until(r" PRIVMSG alice :are you there\?$")
        echo = lines[-1]
        assert [m.command for m in lines] == ["NOTICE", "PRIVMSG"]
        assert lines[0].source == "NickServ!NickServ@services."
        assert lines[0].params[1] == (
            "alice is offline; your messages are kept and alice will see them when logging in"
        )
        stored = net.server.store.find(echo.tags["msgid"])
        assert stored is not None and stored.folded == "alice bob" and stored.target == "alice"
        assert stored.account == "bob"
        # Once per session and recipient: the next message gets its echo only.
        clock.tick()
        await bob.send("PRIVMSG ALICE :second")
        assert [m.command for m in await drain(bob)] == ["PRIVMSG"]
        # The time of the first kept message is noted for the account, in the store too.
        assert net.server.network.offline == {"alice": {"bob": int((START + 10) * 1000)}}
        assert ("alice", OFFLINE_PREFIX + "bob", int((START + 10) * 1000)) in net.server.store.load_markers()


async def test_without_echo_message_the_sender_gets_only_the_notice(autojump_clock: trio.testing.MockClock) -> None:
    async with running_server(ACCOUNTS, clock=Clock()) as net:
        await registered(net, "alice")
        bob = await logged_in(net, "bob", caps="")
        await bob.send("PRIVMSG alice :hello")
        assert [(m.command, m.source) for m in await drain(bob)] == [("NOTICE", "NickServ!NickServ@services.")]


async def test_anonymous_senders_notices_and_unknown_nicks_are_not_kept(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_server(ACCOUNTS, clock=Clock()) as net:
        await registered(net, "alice")
        guest = await net.client("guest", caps=MODERN)
        await guest.send("PRIVMSG alice :anonymous")
        assert (await guest.expect_next(r" 401 ")).params == ("guest", "alice", "No such nick/channel")
        bob = await logged_in(net, "bob")
        # A NOTICE is not kept (and, as ever, answered with nothing); a TAGMSG is not kept either (401 as before).
        await bob.send("NOTICE alice :a notice")
        await bob.send("@+typing=active TAGMSG alice")
        assert (await bob.expect_next(r" 401 ")).params == ("bob", "alice", "No such nick/channel")
        await bob.send("PRIVMSG nobody :no such account")
        assert (await bob.expect_next(r" 401 ")).params == ("bob", "nobody", "No such nick/channel")
        await settle(bob)
        assert net.server.store.targets_with_history() == []
        assert net.server.network.offline == {}


async def test_sasl_before_registration_gets_a_batch_after_the_welcome(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = Clock()
    async with running_server(ACCOUNTS, clock=clock) as net:
        await registered(net, "alice")
        bob = await logged_in(net, "bob")
        echoes = await send_to_offline(bob, clock, "first", "\x01ACTION waves\x01", "third")
        clock.tick()
        alice, lines = await sasl_client(net, "alice")
        commands = [m.command for m in lines]
        assert "376" in commands or "422" in commands
        end_of_motd = max(i for i, c in enumerate(commands) if c in {"376", "422"})
        assert commands[end_of_motd + 1] == "BATCH"
        [(params, inside)] = batches(lines)
        assert params == ["chathistory", "bob"]
        assert [(m.command, m.params) for m in inside] == [
            ("PRIVMSG", ("alice", "first")),
            ("PRIVMSG", ("alice", "\x01ACTION waves\x01")),
            ("PRIVMSG", ("alice", "third")),
        ]
        assert [m.tags["msgid"] for m in inside] == [e.tags["msgid"] for e in echoes]
        assert [m.tags["time"] for m in inside] == [e.tags["time"] for e in echoes]
        assert all(str(m.source).startswith("bob!") for m in inside)
        assert net.server.network.offline == {}
        # The conversation is in CHATHISTORY as well.
        await alice.send("CHATHISTORY LATEST bob * 10")
        answer = await alice.collect_until(r"^(@\S+ )?:\S+ BATCH -")
        [(_, history)] = batches(answer)
        assert [m.params[1] for m in history] == ["first", "\x01ACTION waves\x01", "third"]


async def test_a_plain_client_gets_notices_and_nothing_is_delivered_twice(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = Clock()
    async with running_server(ACCOUNTS, clock=clock) as net:
        await registered(net, "alice")
        bob = await logged_in(net, "bob")
        await send_to_offline(bob, clock, "first", "\x01ACTION waves\x01")
        clock.tick()
        alice = await net.client("alice")
        await alice.send("PRIVMSG NickServ :IDENTIFY sesame12")
        lines = await drain(alice)
        texts = since_login(lines)
        assert texts == [
            "You're now logged in as alice",
            "While you were away, bob wrote: [2023-11-14 22:13:30 UTC] first",
            "While you were away, bob wrote: [2023-11-14 22:13:40 UTC] * bob waves",
        ]
        assert all(m.source == "NickServ!NickServ@services." for m in lines if m.command == "NOTICE")
        await alice.send("QUIT")
        await alice.expect_closed()
        # The next login, plain or modern, SASL or IDENTIFY, gets none of it again.
        again, lines = await sasl_client(net, "alice")
        assert batches(lines) == []
        assert not [m for m in lines if m.command == "NOTICE" and "While you were away" in m.params[1]]
        await again.send("QUIT")
        await again.expect_closed()
        third = await net.client("alice")
        await third.send("PRIVMSG NickServ :IDENTIFY sesame12")
        assert since_login(await drain(third)) == ["You're now logged in as alice"]
        # A new message while she is away again is delivered at the next login, alone.
        await third.send("QUIT")
        await third.expect_closed()
        await send_to_offline(bob, clock, "later")
        clock.tick()
        _, lines = await sasl_client(net, "alice")
        [(_, inside)] = batches(lines)
        assert [m.params[1] for m in inside] == ["later"]


async def test_delivery_is_bounded_and_says_how_to_fetch_the_rest(autojump_clock: trio.testing.MockClock) -> None:
    clock = Clock()
    async with running_server(ACCOUNTS, clock=clock, history_replay=2) as net:
        await registered(net, "alice")
        bob = await logged_in(net, "bob")
        echoes = await send_to_offline(bob, clock, "m1", "m2", "m3", "m4")
        clock.tick()
        alice, lines = await sasl_client(net, "alice")
        [(_, inside)] = batches(lines)
        assert [m.params[1] for m in inside] == ["m3", "m4"]
        [more] = [m for m in lines if m.command == "NOTICE"]
        fetch = f"CHATHISTORY BEFORE bob msgid={echoes[2].tags['msgid']} 2"
        assert more.params[1] == (
            f"2 earlier messages of your conversation with bob are not shown; to read them: /quote {fetch}"
        )
        await alice.send(fetch)
        [(_, history)] = batches(await alice.collect_until(r"^(@\S+ )?:\S+ BATCH -"))
        assert [m.params[1] for m in history] == ["m1", "m2"]
        # A plain client gets at most as many notices, and the same hint.
        await alice.send("QUIT")
        await alice.expect_closed()
        carol = await logged_in(net, "carol")
        sent = await send_to_offline(carol, clock, "c1", "c2", "c3")
        plain_alice = await net.client("alice")
        await plain_alice.send("PRIVMSG NickServ :IDENTIFY sesame12")
        texts = since_login(await drain(plain_alice))
        assert texts[1:] == [
            "While you were away, carol wrote: [2023-11-14 22:14:30 UTC] c2",
            "While you were away, carol wrote: [2023-11-14 22:14:40 UTC] c3",
            "1 earlier message of your conversation with carol is not shown; to read it: /quote "
            f"CHATHISTORY BEFORE carol msgid={sent[1].tags['msgid']} 1",
        ]


async def test_what_the_read_marker_covers_is_not_delivered(autojump_clock: trio.testing.MockClock) -> None:
    """alice's phone, logged in under another nick, takes what was kept; then it reads one of the messages sent
    to "alice" meanwhile: her laptop gets only the other one."""
    clock = Clock()
    async with running_server(ACCOUNTS, clock=clock) as net:
        await registered(net, "alice")
        bob = await logged_in(net, "bob")
        await send_to_offline(bob, clock, "one", "two")
        clock.tick()
        phone = await net.client("alice_phone", caps=MODERN + " draft/read-marker")
        await phone.send("PRIVMSG NickServ :IDENTIFY alice sesame12")
        [(_, inside)] = batches(await drain(phone))
        assert [m.params[1] for m in inside] == ["one", "two"]
        echoes = await send_to_offline(bob, clock, "three", "four")
        await phone.send(f"MARKREAD bob timestamp={echoes[0].tags['time']}")
        await phone.expect(r"MARKREAD bob timestamp=")
        clock.tick()
        _, lines = await sasl_client(net, "alice")
        [(_, inside)] = batches(lines)
        assert [m.params[1] for m in inside] == ["four"]


async def test_the_marker_excludes_older_messages(autojump_clock: trio.testing.MockClock) -> None:
    clock = Clock()
    async with running_server(ACCOUNTS, clock=clock) as net:
        await registered(net, "alice")
        bob = await logged_in(net, "bob")
        echoes = await send_to_offline(bob, clock, "one", "two")
        net.server.network.mark_read("alice", "bob", int((START + 10) * 1000))
        assert echoes[0].tags["time"] == "2023-11-14T22:13:30.000Z"
        clock.tick()
        _, lines = await sasl_client(net, "alice")
        [(_, inside)] = batches(lines)
        assert [m.params[1] for m in inside] == ["two"]


async def test_what_is_kept_for_an_offline_account_survives_a_restart(tmp_path: Path) -> None:
    # The real clock: the SQLite store answers from its worker thread.
    config = replace(ACCOUNTS, db=str(tmp_path / "chat.db"))
    clock = Clock()
    async with running_server(config, clock=clock) as net:
        await registered(net, "alice")
        bob = await logged_in(net, "bob")
        await send_to_offline(bob, clock, "before the restart")
        await settle(bob)
    restarted = Server(config, clock=clock)
    try:
        assert restarted.network.offline == {"alice": {"bob": int((START + 10) * 1000)}}
        assert restarted.network.markers == {}
    finally:
        restarted.store.close()
    clock.tick()
    async with running_server(config, clock=clock) as net:
        _, lines = await sasl_client(net, "alice")
        [(_, inside)] = batches(lines)
        assert [m.params[1] for m in inside] == ["before the restart"]
    restarted = Server(config, clock=clock)
    try:
        assert restarted.network.offline == {}
    finally:
        restarted.store.close()
