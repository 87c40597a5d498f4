"""Attacks on input limits: each shows the attacker handled and everyone else unaffected."""

from __future__ import annotations

import trio
import trio.testing

from tests.helpers import InProcessNetwork, pipe_stream_pair, running_server
from tests.ircclient import IRCClient


async def _bystanders(net: InProcessNetwork) -> tuple[IRCClient, IRCClient]:
    alice = await net.client("alice")
    bob = await net.client("bob")
    for c in (alice, bob):
        await c.send("JOIN #safe")
        await c.expect(" 366 ")
    await alice.sync()
    return alice, bob


async def _still_chatting(alice: IRCClient, bob: IRCClient) -> None:
    await alice.send("PRIVMSG #safe :are you there?")
    assert (await bob.expect("PRIVMSG #safe")).params[1] == "are you there?"


async def test_thousands_of_targets_in_one_command() -> None:
    async with running_server(max_targets=4) as net:
        alice, bob = await _bystanders(net)
        attacker = await net.client("attacker")
        targets = ",".join(f"n{i}" for i in range(100)) + ",bob"
        await attacker.send(f"PRIVMSG {targets} :hi")
        reply = await attacker.expect_next(" 407 attacker ")
        assert "at most 4" in reply.params[-1]
        await _still_chatting(alice, bob)
        await bob.sync()  # and bob got nothing from the attacker


async def test_joining_thousands_of_channels(autojump_clock: trio.testing.MockClock) -> None:
    async with running_server(chanlimit=20) as net:
        alice, bob = await _bystanders(net)
        attacker = await net.client("attacker")
        # A thousand channels, as many per line as fit in 512 bytes.
        names = [f"#c{i}" for i in range(1000)]
        await attacker.send(*("JOIN " + ",".join(names[i : i + 80]) for i in range(0, 1000, 80)), "PING :done")
        lines = await attacker.collect_until("PONG")
        assert sum(1 for m in lines if m.command == "JOIN") == 20
        assert sum(1 for m in lines if m.command == "405") == 980
        assert len(net.server.network.find_user("attacker").channels) == 20  # type: ignore[union-attr]
        await attacker.send("JOIN #one-more")
        await attacker.expect_next(" 405 attacker #one-more :You have joined too many channels")
        await _still_chatting(alice, bob)


async def test_huge_output_to_a_reader_that_never_reads(autojump_clock: trio.testing.MockClock) -> None:
    """A client asking for far more than its SendQ holds, without reading, stalls only itself."""
    async with running_server(sendq_lines=64, chanlimit=500) as net:
        alice, bob = await _bystanders(net)
        for i in range(300):  # plenty of channels for LIST to list
            await alice.send(f"JOIN #room{i}")
        await alice.send("PING :joined")
        await alice.collect_until("PONG")
        greedy = await net.connect("greedy", stream_factory=lambda: pipe_stream_pair(1024))
        await greedy.send("NICK greedy", "USER greedy 0 * :G", "LIST", "LIST", "WHO *", "NAMES #safe")
        # The greedy client is blocked on its own replies; nobody else waits for it.
        start = trio.current_time()
        await _still_chatting(alice, bob)
        assert trio.current_time() == start
        # And it loses nothing when it does read: both LISTs come complete.
        lines = await greedy.collect_until(r" 366 greedy #safe ")
        assert sum(1 for m in lines if m.command == "322") == 2 * 301


async def test_slowloris_one_byte_a_minute_never_registers(autojump_clock: trio.testing.MockClock) -> None:
    async with running_server(registration_timeout=60) as net:
        alice, bob = await _bystanders(net)
        loris = await net.connect("loris")
        start = trio.current_time()

        async def drip() -> None:
            for byte in b"NICK loris\r\nUSER l 0 * :L\r\n":
                await loris.send_raw(bytes([byte]))
                await trio.sleep(60)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(drip)
            lines = await loris.expect_closed(within=120)
            nursery.cancel_scope.cancel()
        assert lines[-1].to_line() == "ERROR :Registration timed out"
        assert trio.current_time() - start <= 61
        await _still_chatting(alice, bob)


async def test_garbage_never_crashes_the_server() -> None:
    async with running_server() as net:
        alice, bob = await _bystanders(net)
        vandal = await net.client("vandal")
        garbage = [
            b":",
            b"@",
            b"@;;; PRIVMSG",
            b"\xff\xfe\xfd",
            b":x!y@z",
            b"PRIVMSG",
            b"MODE",
            b"MODE #safe +kkkkkkkkkk",
            b"MODE #safe +l notanumber",
            b"JOIN ,,,,",
            b"KICK #safe",
            b"CAP",
            b"CAP REQ",
            b"CAP FOO",
            b"WHO",
            b"NICK :",
            b"USER a b c :d",
            b"@" + b"a=" * 3000 + b" PING x",
            b"\t\t\t",
            b"PRIVMSG #safe :" + "ü".encode() * 300,
        ]
        for line in garbage:
            await vandal.send(line)
        await vandal.sync()
        await _still_chatting(alice, bob)
