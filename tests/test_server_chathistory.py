"""History as clients see it: msgid and time on every message, replay on JOIN, CHATHISTORY, channels that stay.

In process, on MockClock, with the in-memory store (``--db :memory:``); the SQLite store and restarts of a real
process are in test_server_history_restart.py.
"""

from __future__ import annotations

import re

import trio
import trio.testing

from tests.helpers import drain, join, running_server, settle
from tests.ircclient import IRCClient
from trio_chat.protocol import Message

MODERN = "batch server-time message-tags echo-message draft/chathistory"


async def _talk(client: IRCClient, channel: str, *texts: str) -> list[Message]:
    """Send ``texts`` to ``channel`` and return their echoes (the client has echo-message)."""
    await client.send(*(f"PRIVMSG {channel} :{text}" for text in texts))
    return [await client.expect(rf" PRIVMSG {re.escape(channel)} :?{re.escape(text)}$") for text in texts]


def _batch(lines: list[Message]) -> tuple[list[str], list[Message]]:
    """(the BATCH start's params, the messages inside it), checking the batch is well formed."""
    start, *inside, end = lines
    assert start.command == "BATCH" and start.params[0].startswith("+"), start.to_line()
    batch_id = start.params[0][1:]
    assert end.command == "BATCH" and end.params == ("-" + batch_id,), end.to_line()
    assert all(m.tags.get("batch") == batch_id for m in inside)
    return list(start.params[1:]), inside


async def test_caps_and_isupport_advertise_batch_and_chathistory() -> None:
    async with running_server() as net:
        client = await net.connect()
        await client.send("CAP LS 302")
        ls = await client.expect(r" CAP \* LS ")
        assert {"batch", "draft/chathistory"} <= set(ls.params[-1].split())
        await client.send("NICK alice", "USER alice 0 * :Alice", "CAP END")
        burst = await client.collect_until(r" 376 | 422 ")
        isupport = " ".join(" ".join(m.params) for m in burst if m.command == "005")
        assert "CHATHISTORY=1000" in isupport and "MSGREFTYPES=msgid,timestamp" in isupport


async def test_every_message_carries_a_msgid_and_time_and_is_stored_under_them() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=MODERN)
        bob = await net.client("bob", caps="server-time message-tags")
        await join(alice, "alice", "#room")
        await join(bob, "bob", "#room")
        await settle(alice)
        [echo] = await _talk(alice, "#room", "hello")
        live = await bob.expect(" PRIVMSG #room ")
        assert live.tags["msgid"] == echo.tags["msgid"] and live.tags["time"] == echo.tags["time"]
        await alice.send("CHATHISTORY LATEST #room * 10")
        _, inside = _batch(await alice.collect_until(r"^(@\S+ )?:\S+ BATCH -"))
        assert [(m.tags["msgid"], m.tags["time"], m.params[1]) for m in inside] == [
            (echo.tags["msgid"], echo.tags["time"], "hello")
        ]


async def test_replay_on_join_comes_in_a_batch_after_names_and_before_live_traffic() -> None:
    async with running_server(history_replay=3) as net:
        alice = await net.client("alice", caps=MODERN)
        await join(alice, "alice", "#room")
        echoes = await _talk(alice, "#room", "one", "two", "three", "four")
        bob = await net.client("bob", caps="batch server-time message-tags")
        await bob.send("JOIN #room")
        await bob.expect(r" 366 bob #room ")
        await alice.send("PRIVMSG #room :live")
        lines = await bob.collect_until(r"PRIVMSG #room :?live")
        params, inside = _batch(lines[:-1])
        assert params == ["chathistory", "#room"]
        assert [m.params[1] for m in inside] == ["two", "three", "four"]  # the last three, once, in order
        assert [m.tags["msgid"] for m in inside] == [e.tags["msgid"] for e in echoes[1:]]
        assert all(m.source is not None and m.source.startswith("alice!") for m in inside)
        assert "batch" not in lines[-1].tags


async def test_plain_clients_get_replay_as_notices_with_the_time() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=MODERN)
        await join(alice, "alice", "#room")
        await _talk(alice, "#room", "hi there", "\x01ACTION waves\x01")
        await alice.send("NOTICE #room :a notice")
        await drain(alice)
        bob = await net.client("bob")
        lines = await join(bob, "bob", "#room")
        lines += await drain(bob)
        replay = [m for m in lines if m.command == "NOTICE"]
        assert [m.params for m in replay] == [
            ("#room", "[2023-11-14 22:13:20 UTC] <alice> hi there"),
            ("#room", "[2023-11-14 22:13:20 UTC] * alice waves"),
            ("#room", "[2023-11-14 22:13:20 UTC] -alice- a notice"),
        ]
        assert all(m.source == "test.server" for m in replay)
        assert not [m for m in lines if m.command == "PRIVMSG"]


async def test_replay_can_be_turned_off() -> None:
    async with running_server(history_replay=0) as net:
        alice = await net.client("alice", caps=MODERN)
        await join(alice, "alice", "#room")
        await _talk(alice, "#room", "unseen")
        bob = await net.client("bob", caps="batch server-time")
        lines = await join(bob, "bob", "#room") + await drain(bob)
        assert not [m for m in lines if m.command in ("BATCH", "PRIVMSG", "NOTICE")]


async def test_status_messages_are_not_stored() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=MODERN)
        await join(alice, "alice", "#room")
        await alice.send("PRIVMSG @#room :ops only")
        await drain(alice)
        await alice.send("CHATHISTORY LATEST #room * 10")
        _, inside = _batch(await alice.collect_until(r"^(@\S+ )?:\S+ BATCH -"))
        assert inside == []


async def test_chathistory_before_after_around_between_with_msgids_and_timestamps(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = [1_700_000_000.0]
    async with running_server(clock=lambda: clock[0]) as net:
        alice = await net.client("alice", caps=MODERN)
        await join(alice, "alice", "#room")
        echoes = []
        for i in range(10):
            clock[0] += 1
            echoes += await _talk(alice, "#room", f"m{i}")
        ids = [e.tags["msgid"] for e in echoes]
        times = [e.tags["time"] for e in echoes]

        async def ask(line: str) -> list[str]:
            await alice.send(line)
            _, inside = _batch(await alice.collect_until(r"^(@\S+ )?:\S+ BATCH -"))
            return [m.params[1] for m in inside]

        assert await ask("CHATHISTORY LATEST #room * 3") == ["m7", "m8", "m9"]
        assert await ask(f"CHATHISTORY LATEST #room msgid={ids[7]} 5") == ["m8", "m9"]
        assert await ask(f"CHATHISTORY BEFORE #room msgid={ids[5]} 2") == ["m3", "m4"]
        assert await ask(f"CHATHISTORY BEFORE #room timestamp={times[5]} 2") == ["m3", "m4"]
        assert await ask(f"CHATHISTORY AFTER #room msgid={ids[5]} 2") == ["m6", "m7"]
        assert await ask(f"CHATHISTORY AFTER #ROOM timestamp={times[8]} 10") == ["m9"]
        assert await ask(f"CHATHISTORY AROUND #room msgid={ids[5]} 3") == ["m4", "m5", "m6"]
        assert await ask(f"CHATHISTORY BETWEEN #room msgid={ids[2]} msgid={ids[6]} 10") == ["m3", "m4", "m5"]
        assert await ask(f"CHATHISTORY BETWEEN #room msgid={ids[6]} msgid={ids[2]} 2") == ["m4", "m5"]
        # The server's limit caps what a client asks for; 0 means "as many as the server allows".
        assert len(await ask("CHATHISTORY LATEST #room * 0")) == 10


async def test_chathistory_limit_is_configurable() -> None:
    async with running_server(chathistory_limit=2) as net:
        alice = await net.client("alice", caps=MODERN)
        await join(alice, "alice", "#room")
        await _talk(alice, "#room", "a", "b", "c")
        await alice.send("CHATHISTORY LATEST #room * 50")
        _, inside = _batch(await alice.collect_until(r"^(@\S+ )?:\S+ BATCH -"))
        assert [m.params[1] for m in inside] == ["b", "c"]


async def test_chathistory_targets_lists_my_channels_by_latest_message(autojump_clock: trio.testing.MockClock) -> None:
    clock = [1_700_000_000.0]
    async with running_server(clock=lambda: clock[0]) as net:
        alice = await net.client("alice", caps=MODERN)
        bob = await net.client("bob", caps=MODERN)
        for channel in ("#a", "#b"):
            await join(alice, "alice", channel)
        await join(bob, "bob", "#secret")
        clock[0] += 10
        await _talk(alice, "#b", "first")
        clock[0] += 10
        await _talk(alice, "#a", "second")
        await _talk(bob, "#secret", "not for alice")
        await alice.send("CHATHISTORY TARGETS timestamp=2023-01-01T00:00:00.000Z timestamp=2030-01-01T00:00:00.000Z 10")
        params, inside = _batch(await alice.collect_until(r"^(@\S+ )?:\S+ BATCH -"))
        assert params[0] == "draft/chathistory-targets"
        assert [m.params for m in inside] == [
            ("TARGETS", "#b", "2023-11-14T22:13:30.000Z"),
            ("TARGETS", "#a", "2023-11-14T22:13:40.000Z"),
        ]


async def test_chathistory_targets_leaves_out_targets_with_newer_messages_than_the_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A target is listed only if its latest message is inside the window, not if it merely had one there."""
    clock = [1_700_000_000.0]
    async with running_server(clock=lambda: clock[0]) as net:
        alice = await net.client("alice", caps=MODERN)
        for channel in ("#a", "#b"):
            await join(alice, "alice", channel)
        for channel in ("#a", "#b", "#a"):
            clock[0] += 10
            await _talk(alice, channel, "hello")
        await drain(alice)
        # #a: 22:13:30 and 22:13:50; #b: 22:13:40.  The window ends at 22:13:45: #a's latest is after it.
        await alice.send("CHATHISTORY TARGETS timestamp=2023-01-01T00:00:00.000Z timestamp=2023-11-14T22:13:45.000Z 10")
        _, inside = _batch(await alice.collect_until(r"^(@\S+ )?:\S+ BATCH -"))
        assert [m.params for m in inside] == [("TARGETS", "#b", "2023-11-14T22:13:40.000Z")]
        await alice.send("CHATHISTORY TARGETS timestamp=2023-01-01T00:00:00.000Z timestamp=2023-11-14T22:13:35.000Z 10")
        _, inside = _batch(await alice.collect_until(r"^(@\S+ )?:\S+ BATCH -"))
        assert inside == []


async def test_chathistory_errors_get_the_fail_replies_of_the_spec() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=MODERN)
        bob = await net.client("bob", caps=MODERN)
        await join(alice, "alice", "#room")
        await join(bob, "bob", "#other")
        [echo] = await _talk(alice, "#room", "x")
        cases = {
            "CHATHISTORY SIDEWAYS #room * 10": ("INVALID_PARAMS", "SIDEWAYS"),
            "CHATHISTORY BEFORE #room": ("NEED_MORE_PARAMS", "BEFORE"),
            "CHATHISTORY BETWEEN #room * 10": ("NEED_MORE_PARAMS", "BETWEEN"),
            "CHATHISTORY LATEST #room * lots": ("INVALID_PARAMS", "LATEST"),
            "CHATHISTORY LATEST #room * -1": ("INVALID_PARAMS", "LATEST"),
            "CHATHISTORY BEFORE #room * 10": ("INVALID_PARAMS", "BEFORE"),
            "CHATHISTORY BEFORE #room id=abc 10": ("INVALID_PARAMS", "BEFORE"),
            "CHATHISTORY BEFORE #room timestamp=yesterday 10": ("INVALID_PARAMS", "BEFORE"),
            "CHATHISTORY BEFORE #room msgid=no-such-id 10": ("INVALID_PARAMS", "BEFORE"),
            "CHATHISTORY LATEST #nowhere * 10": ("INVALID_TARGET", "LATEST"),
            "CHATHISTORY LATEST #other * 10": ("INVALID_TARGET", "LATEST"),  # not a member
            "CHATHISTORY TARGETS yesterday today 10": ("INVALID_PARAMS", "TARGETS"),
        }
        for line, (code, sub) in cases.items():
            await alice.send(line)
            fail = await alice.expect_next(r"^(@\S+ )?:\S+ FAIL CHATHISTORY ")
            assert fail.params[:3] == ("CHATHISTORY", code, sub), (line, fail.to_line())
        # A msgid of another channel is no reference into this one.
        await bob.send(f"CHATHISTORY BEFORE #other msgid={echo.tags['msgid']} 10")
        assert (await bob.expect_next(r" FAIL ")).params[1] == "INVALID_PARAMS"
        # The connection goes on.
        await alice.send("CHATHISTORY LATEST #room * 10")
        _, inside = _batch(await alice.collect_until(r"^(@\S+ )?:\S+ BATCH -"))
        assert [m.params[1] for m in inside] == ["x"]


async def test_a_person_as_target_has_no_history_yet() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=MODERN)
        await net.client("bob")
        await alice.send("CHATHISTORY LATEST bob * 10")
        params, inside = _batch(await alice.collect_until(r"^(@\S+ )?:\S+ BATCH -"))
        assert params == ["chathistory", "bob"] and inside == []


async def test_a_channel_with_history_keeps_its_topic_and_modes_when_everyone_leaves() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=MODERN)
        await join(alice, "alice", "#keep")
        await alice.send("TOPIC #keep :Kept topic", "MODE #keep +k secret")
        await _talk(alice, "#keep", "remember me")
        await alice.send("PART #keep")
        await alice.expect(" PART #keep")
        await join(alice, "alice", "#gone")
        await alice.send("PART #gone")
        await alice.expect(" PART #gone")
        network = net.server.network
        assert network.find_channel("#gone") is None  # no history: gone as before
        kept = network.find_channel("#keep")
        assert kept is not None and kept.members == {} and kept.topic == "Kept topic" and kept.key == "secret"
        # Walking into it empty does not make anyone its operator: its history is not theirs to control.
        mallory = await net.client("mallory")
        await mallory.send("JOIN #keep wrong")
        assert (await mallory.expect(r" 475 ")).params[1] == "#keep"
        await mallory.send("JOIN #keep secret")
        names = await mallory.expect(r" 353 ")
        assert names.params[-1] == "mallory"
        await mallory.send("MODE #keep -k secret")
        assert (await mallory.expect(r" 482 ")).params[1] == "#keep"


async def test_replayed_messages_carry_the_senders_account_for_account_tag_clients() -> None:
    async with running_server(history_replay=5, password_hash_cost=4) as net:
        alice = await net.client("alice", caps=MODERN)
        await alice.send("PRIVMSG NickServ :REGISTER sesame12")
        await alice.expect(r"Account created")
        await join(alice, "alice", "#room")
        await _talk(alice, "#room", "signed")
        bob = await net.client("bob", caps="batch server-time message-tags account-tag")
        await bob.send("JOIN #room")
        _, inside = _batch([m for m in await drain(bob) if m.command in ("BATCH", "PRIVMSG")])
        assert [(m.params[1], m.tags.get("account")) for m in inside] == [("signed", "alice")]
        carol = await net.client("carol", caps="batch server-time message-tags")
        await carol.send("JOIN #room")
        _, inside = _batch([m for m in await drain(carol) if m.command in ("BATCH", "PRIVMSG")])
        assert [m.tags.get("account") for m in inside] == [None]
