"""ChanServ: REGISTER, INFO, DROP, AMODE, OP, HELP with ergo's wording and each refusal's NOTICE; founders and
AMODE accounts opped on joining, strangers not; registered channels kept by retention; the schema migration to
version 3.  In process, with a tiny scrypt cost (restarts of a real process: test_server_history_restart.py)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from tests.helpers import FAST, InProcessNetwork, drain, join, running_server, settle
from tests.ircclient import IRCClient
from tests.test_server_store_sqlite import build_version
from trio_chat.server.history import ChannelRecord, MemoryHistory
from trio_chat.server.store.sqlite import SCHEMA_VERSION, SQLiteHistory

ACCOUNTS = replace(FAST, password_hash_cost=4)
CS = "ChanServ!ChanServ@services."


async def cs_all(client: IRCClient, text: str, *, command: bool = False) -> list[str]:
    """Send ``text`` to ChanServ (as a PRIVMSG, or with the CS command); the texts of its NOTICEs back."""
    await client.send(f"CS {text}" if command else f"PRIVMSG ChanServ :{text}", "PING :cs-sync")
    lines = await client.collect_until(r" PONG \S+ :?cs-sync$")
    return [m.params[1] for m in lines if m.source == CS and m.command == "NOTICE"]


async def cs(client: IRCClient, text: str) -> str:
    return (await cs_all(client, text))[0]


async def logged_in(net: InProcessNetwork, nick: str, password: str = "sesame12") -> IRCClient:
    """A client with its own account (registered with NickServ, so logged in)."""
    client = await net.client(nick)
    await client.send(f"PRIVMSG NickServ :REGISTER {password}")
    await client.expect(r" 900 ")
    await drain(client)
    return client


async def founded(net: InProcessNetwork, channel: str = "#team") -> IRCClient:
    """alice, logged in, has created and registered ``channel`` and is still in it."""
    alice = await logged_in(net, "alice")
    await join(alice, "alice", channel)
    assert await cs(alice, f"REGISTER {channel}") == f"Channel {channel} successfully registered"
    return alice


async def names(client: IRCClient, nick: str, channel: str) -> str:
    await client.send(f"NAMES {channel}")
    lines = await client.collect_until(rf" 366 {nick} ")
    return " ".join(m.params[-1] for m in lines if m.command == "353")


async def test_register_makes_the_account_founder_and_the_channel_persistent() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await founded(net)
        channel = net.server.network.find_channel("#TEAM")
        assert channel is not None and channel.founder == "alice" and channel.persistent
        [record] = net.server.store.load_channels()
        assert (record.folded, record.founder, record.ops) == ("#team", "alice", ())
        assert record.registered == 1_700_000_000
        assert await cs(alice, "REGISTER #team") == "Channel is already registered"
        # The channel stays when its last member leaves, though it never had a message.
        await alice.send("PART #team")
        await drain(alice)
        assert net.server.network.find_channel("#team") is channel


async def test_register_refusals() -> None:
    async with running_server(ACCOUNTS) as net:
        guest = await net.client("guest")
        await join(guest, "guest", "#open")
        assert await cs(guest, "REGISTER #open") == "You're not logged into an account"
        bob = await logged_in(net, "bob")
        assert await cs(bob, "REGISTER") == "Invalid parameters. For usage, do /msg ChanServ HELP REGISTER"
        assert await cs(bob, "REGISTER #nowhere") == "No such channel"
        await join(bob, "bob", "#open")
        assert await cs(bob, "REGISTER #open") == "You must be an oper on the channel to register it"
        assert await cs(bob, "FROB #open") == "Unknown command. To see the available commands, run: /CS HELP"


async def test_the_cs_command_and_the_nick_is_reserved() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await logged_in(net, "alice")
        await join(alice, "alice", "#team")
        assert await cs_all(alice, "register #team", command=True) == ["Channel #team successfully registered"]
        await alice.send("NICK chanserv")
        await alice.expect(r" 433 alice chanserv ")
        # NOTICEs to ChanServ go nowhere (no answer, no error).
        await alice.send("NOTICE ChanServ :INFO #team")
        assert [m for m in await drain(alice) if m.source == CS] == []


async def test_info() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await founded(net)
        assert await cs_all(alice, "INFO #TEAM") == [
            "Channel #team is registered",
            "Founder: alice",
            "Registered at: Tue, 14 Nov 2023 22:13:20 GMT",
        ]
        assert await cs_all(alice, "INFO") == ["Your account alice has 1 registered channel(s).", "- #team"]
        assert await cs(alice, "INFO #Other") == "Channel #other is not registered"
        assert await cs(alice, "INFO nochannel") == "Invalid channel name"
        guest = await net.client("guest")
        assert await cs(guest, "INFO") == "You're not logged into an account"


async def test_drop_by_the_founder_only() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await founded(net)
        bob = await logged_in(net, "bob")
        assert await cs(bob, "DROP #team") == "Insufficient privileges"
        assert await cs(bob, "DROP #nowhere") == "No such channel"
        assert await cs(bob, "DROP") == "Invalid parameters. For usage, do /msg ChanServ HELP DROP"
        guest = await net.client("guest")
        assert await cs(guest, "DROP #team") == "Insufficient privileges"
        assert await cs(alice, "DROP #team") == "Channel #team is now unregistered"
        assert await cs(alice, "DROP #team") == "That channel is not registered"
        assert await cs(alice, "INFO #team") == "Channel #team is not registered"
        [record] = net.server.store.load_channels()
        assert record.founder is None
        # Unregistered and without history: retention drops it once it is empty.
        await alice.send("PART #team")
        await drain(alice)
        assert await net.server.prune_history() == (0, 1)
        assert net.server.network.find_channel("#team") is None


async def test_the_founder_is_opped_on_joining_and_strangers_are_not() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await founded(net)
        await alice.send("PART #team")
        await drain(alice)
        # A stranger walks into the empty registered channel: not operator.
        mallory = await net.client("mallory")
        await join(mallory, "mallory", "#team")
        assert await names(mallory, "mallory", "#team") == "mallory"
        # The founder comes back: operator, and the others are told with a MODE.
        lines = await join(alice, "alice", "#team")
        assert [m.params for m in lines if m.command == "MODE"] == [("#team", "+o", "alice")]
        assert "@alice" in " ".join(m.params[-1] for m in lines if m.command == "353")
        mode = await mallory.expect(r" MODE #team ")
        assert mode.source == "test.server" and mode.params == ("#team", "+o", "alice")
        # Someone else using the nick "alice" without the account is nobody.
        await alice.send("QUIT")
        await alice.expect_closed()
        impostor = await net.client("alice")
        lines = await join(impostor, "alice", "#team")
        assert not [m for m in lines if m.command == "MODE"]
        assert "@alice" not in " ".join(m.params[-1] for m in lines if m.command == "353")


async def test_amode_lists_and_changes_the_accounts_opped_on_join() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await founded(net)
        bob = await logged_in(net, "bob")
        await join(bob, "bob", "#team")
        await settle(alice)
        assert await cs(bob, "AMODE #team") == "Insufficient privileges"
        assert await cs(bob, "AMODE #team +o bob") == "Insufficient privileges"
        assert await cs(alice, "AMODE #team +o nobody") == "Account does not exist"
        assert await cs(alice, "AMODE #team +v bob") == "Invalid mode change"
        assert await cs(alice, "AMODE #team +o") == "Account does not exist"
        assert await cs(alice, "AMODE #nowhere") == "Channel does not exist"
        await join(alice, "alice", "#plain")
        assert await cs(alice, "AMODE #plain") == "Channel is not registered"
        assert await cs_all(alice, "AMODE #team") == ["Channel #team has 0 persistent modes set"]
        # +o applies at once to bob, who is in the channel, and on his later joins.
        assert await cs(alice, "AMODE #team +o BOB") == "Successfully set persistent mode +o on bob"
        assert (await bob.expect(r" MODE #team ")).params == ("#team", "+o", "bob")
        assert await cs(alice, "AMODE #team +o bob") == "No changes were made"
        assert await cs_all(alice, "AMODE #team") == [
            "Channel #team has 1 persistent modes set",
            "Account bob receives mode +o",
        ]
        assert net.server.store.load_channels()[0].ops == ("bob",)
        await bob.send("PART #team")
        await drain(bob)
        lines = await join(bob, "bob", "#team")
        assert "@bob" in " ".join(m.params[-1] for m in lines if m.command == "353")
        # -o takes it away now and for later.
        assert await cs(alice, "AMODE #team -o bob") == "Successfully set persistent mode -o on bob"
        assert (await bob.expect(r" MODE #team ")).params == ("#team", "-o", "bob")
        assert net.server.store.load_channels()[0].ops == ()
        await bob.send("PART #team")
        await drain(bob)
        lines = await join(bob, "bob", "#team")
        assert "@bob" not in " ".join(m.params[-1] for m in lines if m.command == "353")


async def test_op_gives_operator_status_now() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await founded(net)
        bob = await logged_in(net, "bob")
        carol = await logged_in(net, "carol")
        await join(bob, "bob", "#team")
        await join(carol, "carol", "#team")
        await settle(alice, bob)
        assert await cs(bob, "OP #team") == "You don't have any stored privileges on that channel"
        assert await cs(bob, "OP #team carol") == "Only the channel founder can do this"
        assert await cs(bob, "OP #nowhere") == "Channel does not exist"
        assert await cs(alice, "OP #team nobody") == "Could not find given client"
        guest = await net.client("guest")
        assert await cs(guest, "OP #team") == "You're not logged into an account"
        outsider = await net.client("outsider")
        await alice.send("PRIVMSG ChanServ :OP #team outsider")
        await alice.expect(r" 441 alice outsider #team :They aren't on that channel")
        await settle(alice, outsider)
        # The founder ops someone else.
        assert await cs(alice, "OP #team bob") == "Successfully granted operator privileges"
        assert (await carol.expect(r" MODE #team ")).params == ("#team", "+o", "bob")
        # An AMODE account ops itself; the founder deopped by hand ops itself again.
        await alice.send("PRIVMSG ChanServ :AMODE #team +o carol")
        await carol.expect(r" MODE #team \+o carol")
        await carol.send("MODE #team -o carol")
        await carol.expect(r" MODE #team -o carol")
        assert await cs(carol, "OP #team") == "Successfully granted operator privileges"
        await alice.send("MODE #team -o alice")
        await alice.expect(r" MODE #team -o alice")
        assert await cs(alice, "OP #team") == "Successfully granted operator privileges"
        assert "@alice" in await names(alice, "alice", "#team")


async def test_help() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await net.client("alice")
        lines = await cs_all(alice, "HELP")
        assert lines[0] == "ChanServ lets you register and manage channels. Commands:"
        assert "  AMODE #channel [+o|-o account]" in lines
        assert (await cs_all(alice, "HELP op"))[0] == "Syntax: OP #channel [nickname]"
        assert await cs(alice, "HELP FROB") == "Unknown command. To see the available commands, run: /CS HELP"
        assert (await cs_all(alice, "", command=True))[0].startswith("ChanServ lets you")


async def test_dropping_the_founders_account_unregisters_its_channels() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await founded(net)
        bob = await logged_in(net, "bob")
        await alice.send("PRIVMSG ChanServ :AMODE #team +o bob")
        await drain(alice)
        await bob.send("PRIVMSG NickServ :DROP sesame12")
        await bob.expect(r"Successfully unregistered account bob")
        channel = net.server.network.find_channel("#team")
        assert channel is not None and channel.ops == ()
        await alice.send("PRIVMSG NickServ :DROP sesame12")
        await alice.expect(r"Successfully unregistered account alice")
        assert channel.founder is None
        assert net.server.store.load_channels()[0].founder is None


async def test_retention_never_drops_a_registered_channel() -> None:
    """Decision: retention deletes a registered channel's old messages but keeps the channel and its record
    (topic, modes, bans, founder, AMODEs) until CS DROP."""
    async with running_server(ACCOUNTS, history_max_days=1.0) as net:
        alice = await founded(net)
        await alice.send("TOPIC #team :kept", "PRIVMSG #team :soon gone", "PART #team")
        await drain(alice)
        network = net.server.network
        network.clock = lambda: 1_700_000_000.0 + 3 * 86_400
        deleted, dropped = await net.server.prune_history()
        assert (deleted, dropped) == (1, 0)
        channel = network.find_channel("#team")
        assert channel is not None and channel.topic == "kept" and channel.founder == "alice"
        assert [r.folded for r in net.server.store.load_channels()] == ["#team"]


def test_the_store_keeps_founder_and_ops() -> None:
    store = MemoryHistory()
    record = ChannelRecord("#Team", "#team", 1, founder="Alice", registered=5, ops=("bob", "carol"))
    store.save_channel(record)
    assert store.load_channels() == [record]


def test_a_version_2_file_is_migrated_and_gets_registrations_and_markers(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    conn = build_version(path, 2)
    conn.execute("INSERT INTO channels VALUES ('#old', '#Old', 1, 'a topic', 'x', 2, 'nt', NULL, NULL, '[]')")
    conn.execute("INSERT INTO accounts VALUES ('alice', 'Alice', 'scrypt$x', 3, '[]')")
    conn.close()
    store = SQLiteHistory.open(str(path))
    try:
        [old] = store.load_channels()
        assert old == ChannelRecord("#Old", "#old", 1, "a topic", "x", 2, "nt")
        assert (old.founder, old.registered, old.ops) == (None, 0, ())
        assert store.load_markers() == []
        store.save_channel(replace(old, founder="Alice", registered=9, ops=("bob",)))
        store.save_marker("alice", "#old", 1234)
    finally:
        store.close()
    again = SQLiteHistory.open(str(path))
    try:
        [new] = again.load_channels()
        assert (new.founder, new.registered, new.ops, new.topic) == ("Alice", 9, ("bob",), "a topic")
        assert again.load_markers() == [("alice", "#old", 1234)]
        again.delete_account("alice")
        assert again.load_markers() == []
    finally:
        again.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
