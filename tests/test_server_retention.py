"""Retention: at most ``history_max_messages`` per channel and none older than ``history_max_days``, enforced in
the background every ``history_prune_interval`` seconds, and persistent channels that it leaves empty go.

In process, with the in-memory store, on MockClock (``autojump_clock``): the server's wall clock follows trio's
virtual clock, so a day of retention passes in no real time.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace

import pytest
import trio
import trio.testing

from tests.helpers import FAST, drain, join, running_server
from tests.ircclient import IRCClient
from trio_chat.cli import build_parser, server_config
from trio_chat.server.config import ConfigError, ServerConfig
from trio_chat.server.history import Ref, StoredMessage, StoreError

MODERN = "batch server-time message-tags echo-message draft/chathistory"
START = 1_700_000_000.0
# Clients here do not answer PINGs: keep the server from dropping them while hours of virtual time pass.
QUIET = replace(FAST, ping_interval=1e9, ping_timeout=1e9)


def _wall_clock() -> float:
    """The server's wall clock: START plus trio's (virtual) time."""
    return START + trio.current_time()


async def _say(client: IRCClient, channel: str, *texts: str) -> None:
    await client.send(*(f"PRIVMSG {channel} :{text}" for text in texts))
    for text in texts:
        await client.expect(rf" PRIVMSG {re.escape(channel)} :?{re.escape(text)}$")


async def _history(client: IRCClient, channel: str) -> list[str]:
    """The texts of ``CHATHISTORY LATEST channel``, skipping what came before the answer (others' JOINs)."""
    await client.send(f"CHATHISTORY LATEST {channel} * 100")
    await client.expect(r"^(@\S+ )?:\S+ BATCH \+\S+ chathistory ")
    *inside, _ = await client.collect_until(r"^(@\S+ )?:\S+ BATCH -")
    assert all(m.command == "PRIVMSG" for m in inside), [m.to_line() for m in inside]
    return [m.params[1] for m in inside]


async def _replayed(client: IRCClient, nick: str, channel: str) -> list[str]:
    """JOIN ``channel`` and return the texts replayed (the client has batch and server-time)."""
    lines = await join(client, nick, channel) + await drain(client)
    return [m.params[1] for m in lines if m.command == "PRIVMSG"]


async def test_count_limit_is_applied_every_interval(autojump_clock: trio.testing.MockClock) -> None:
    async with running_server(
        QUIET, clock=_wall_clock, history_max_messages=3, history_prune_interval=60.0, history_replay=50
    ) as net:
        alice = await net.client("alice", caps=MODERN)
        await join(alice, "alice", "#room")
        await _say(alice, "#room", "m1", "m2", "m3", "m4", "m5")
        # Not pruned yet: the store keeps everything until the next pass.
        assert await _history(alice, "#room") == ["m1", "m2", "m3", "m4", "m5"]
        # Replay never offers more than retention keeps, even before the pass.
        bob = await net.client("bob", caps="batch server-time message-tags")
        assert await _replayed(bob, "bob", "#room") == ["m3", "m4", "m5"]
        await trio.sleep(59 - trio.current_time())
        assert await _history(alice, "#room") == ["m1", "m2", "m3", "m4", "m5"]
        await trio.sleep(61 - trio.current_time())  # the pass at 60 s has run
        assert await _history(alice, "#room") == ["m3", "m4", "m5"]
        await _say(alice, "#room", "m6")
        assert await _history(alice, "#room") == ["m3", "m4", "m5", "m6"]
        await trio.sleep(121 - trio.current_time())
        assert await _history(alice, "#room") == ["m4", "m5", "m6"]


async def test_age_limit_prunes_the_store_and_the_replay(autojump_clock: trio.testing.MockClock) -> None:
    hour = 3600.0
    async with running_server(QUIET, clock=_wall_clock, history_max_days=1 / 24, history_prune_interval=600.0) as net:
        alice = await net.client("alice", caps=MODERN)
        await join(alice, "alice", "#room")
        await _say(alice, "#room", "old")  # at about 0 s
        await trio.sleep(0.5 * hour)
        await _say(alice, "#room", "new")  # at 1800 s
        await trio.sleep(1.1 * hour - trio.current_time())
        # At 3960 s "old" is older than an hour, but the pass at 3600 s found it just an hour old: still there.
        assert await _history(alice, "#room") == ["old", "new"]
        bob = await net.client("bob", caps="batch server-time message-tags")
        assert await _replayed(bob, "bob", "#room") == ["old", "new"]
        await trio.sleep(4201 - trio.current_time())  # the pass at 4200 s has run
        assert await _history(alice, "#room") == ["new"]
        carol = await net.client("carol", caps="batch server-time message-tags")
        assert await _replayed(carol, "carol", "#room") == ["new"]
        await trio.sleep(6001 - trio.current_time())  # the pass at 5400 s found "new" just an hour old
        assert await _history(alice, "#room") == []
        dave = await net.client("dave", caps="batch server-time message-tags")
        assert await _replayed(dave, "dave", "#room") == []
        # The channel still has members: it stays, whatever its history.
        assert net.server.network.find_channel("#room") is not None


async def test_a_persistent_channel_goes_when_retention_empties_it(autojump_clock: trio.testing.MockClock) -> None:
    async with running_server(
        QUIET, clock=_wall_clock, history_max_days=100 / 86_400, history_prune_interval=30.0
    ) as net:
        network, store = net.server.network, net.server.store
        alice = await net.client("alice", caps=MODERN)
        await join(alice, "alice", "#gone")
        await alice.send("TOPIC #gone :Soon forgotten")
        await _say(alice, "#gone", "bye")
        await alice.send("PART #gone")
        await alice.expect(r" PART #gone")
        await trio.sleep(60 - trio.current_time())
        await join(alice, "alice", "#fresh")
        await _say(alice, "#fresh", "recent")
        await alice.send("PART #fresh")
        await alice.expect(r" PART #fresh")
        # Both are kept while they have history, empty as they are.
        assert {c.folded for c in store.load_channels()} == {"#gone", "#fresh"}
        assert network.find_channel("#gone") is not None
        await trio.sleep(121 - trio.current_time())  # the pass at 120 s deletes "bye" (from 0 s)
        assert network.find_channel("#gone") is None
        assert [c.folded for c in store.load_channels()] == ["#fresh"]
        fresh = network.find_channel("#fresh")
        assert fresh is not None and fresh.persistent
        # #gone is an ordinary name again: whoever creates it is its operator, and finds no history there.
        bob = await net.client("bob", caps="batch server-time message-tags")
        lines = await join(bob, "bob", "#gone")
        assert [m.params[-1] for m in lines if m.command == "353"] == ["@bob"]
        assert not [m for m in lines + await drain(bob) if m.command in ("PRIVMSG", "332")]
        await trio.sleep(181 - trio.current_time())  # "recent" (from 60 s) is gone too
        assert network.find_channel("#fresh") is None
        assert store.load_channels() == []


@pytest.mark.parametrize("meanwhile", ["join", "speak"])
async def test_a_channel_is_kept_if_it_comes_back_to_life_while_the_store_is_asked(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch, meanwhile: str
) -> None:
    async with running_server(
        QUIET, clock=_wall_clock, history_max_days=100 / 86_400, history_prune_interval=30.0
    ) as net:
        alice = await net.client("alice", caps=MODERN)
        await join(alice, "alice", "#c")
        await alice.send("MODE #c -n")  # outsiders may speak in it
        await _say(alice, "#c", "bye")
        await alice.send("PART #c")
        await alice.expect(r" PART #c")
        history = net.server.history
        real_latest = history.latest
        asked, answer = trio.Event(), trio.Event()

        async def slow_latest(folded: str, limit: int, after: Ref | None = None) -> list[StoredMessage]:
            found = await real_latest(folded, limit, after)
            asked.set()
            await answer.wait()  # the store has answered "nothing left"; the answer is on its way
            return found

        monkeypatch.setattr(history, "latest", slow_latest)
        await asked.wait()  # the pass at 120 s deleted "bye" and asks whether #c has anything left
        bob = await net.client("bob", caps=MODERN)
        if meanwhile == "join":
            await join(bob, "bob", "#c")
        else:
            await _say(bob, "#c", "anyone here?")
        answer.set()
        await trio.testing.wait_all_tasks_blocked()  # the pass has finished with #c
        channel = net.server.network.find_channel("#c")
        assert channel is not None and channel.persistent
        assert [c.folded for c in net.server.store.load_channels()] == ["#c"]


async def test_a_channel_whose_history_redaction_emptied_goes_at_the_next_pass(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_server(QUIET, clock=_wall_clock, history_replay=0, history_prune_interval=30.0) as net:
        alice = await net.client("alice", caps=MODERN + " draft/message-redaction")
        await join(alice, "alice", "#room")
        await alice.send("PRIVMSG #room :regret")
        msgid = (await alice.expect(r" PRIVMSG #room ")).tags["msgid"]
        await alice.send(f"REDACT #room {msgid}", "PART #room")
        await alice.expect(r" PART #room")
        assert net.server.network.find_channel("#room") is not None
        await trio.sleep(31 - trio.current_time())
        assert net.server.network.find_channel("#room") is None
        assert net.server.store.load_channels() == []


async def test_a_failing_store_is_logged_and_tried_again(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="trio_chat.server")
    async with running_server(QUIET, clock=_wall_clock, history_max_messages=1, history_prune_interval=60.0) as net:
        history = net.server.history
        calls: list[float] = []
        real_prune = history.prune

        async def failing_prune(max_messages: int, max_age_ms: int, now_ms: int) -> int:
            calls.append(trio.current_time())
            if trio.current_time() < 150:  # the disk is full for the first two and a half minutes
                raise StoreError("disk full")
            return await real_prune(max_messages, max_age_ms, now_ms)

        monkeypatch.setattr(history, "prune", failing_prune)
        alice = await net.client("alice", caps=MODERN)
        await join(alice, "alice", "#room")
        await _say(alice, "#room", "a", "b")
        await trio.sleep(121 - trio.current_time())
        # (The pass at start-up may have run before the patch.)
        assert [t for t in calls if t] == [60.0, 120.0]
        failures = [r.getMessage() for r in caplog.records if "retention" in r.getMessage()]
        assert failures == ["history retention failed: disk full; trying again in 60 s"] * len(calls)
        assert await _history(alice, "#room") == ["a", "b"]  # the server goes on
        await trio.sleep(181 - trio.current_time())
        assert await _history(alice, "#room") == ["b"]


def test_the_limits_are_settings_and_command_line_options() -> None:
    assert (ServerConfig().history_max_messages, ServerConfig().history_max_days) == (10_000, 0.0)
    assert ServerConfig().history_prune_interval == 600.0
    args = build_parser().parse_args(["serve", "--history-max-messages", "500", "--history-max-days", "30"])
    config = server_config(args)
    assert (config.history_max_messages, config.history_max_days) == (500, 30.0)
    assert ServerConfig().merged({"history-prune-interval": 5}).history_prune_interval == 5.0
    for bad in (
        {"history_max_messages": -1},
        {"history_max_days": -0.5},
        {"history_max_days": float("nan")},
        {"history_prune_interval": 0},
    ):
        with pytest.raises(ConfigError):
            ServerConfig().merged(bad)
