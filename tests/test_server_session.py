"""Connections as a whole: liveness, queues, bad input, and what other people see meanwhile.

Timeouts run on trio's MockClock (``autojump_clock``): a 90-second ping interval passes in no real time.
"""

from __future__ import annotations

import trio
import trio.testing

from tests.helpers import InProcessNetwork, pipe_stream_pair, running_server
from tests.ircclient import IRCClient


async def _channel_of(net: InProcessNetwork, *nicks: str, caps: str = "") -> list[IRCClient]:
    clients = []
    for nick in nicks:
        client = await net.client(nick, caps=caps)
        await client.send("JOIN #room")
        await client.expect(r" 366 ")
        clients.append(client)
    for client in clients:
        await client.sync()
    return clients


async def test_silent_client_is_pinged_then_dropped(autojump_clock: trio.testing.MockClock) -> None:
    async with running_server(ping_interval=90, ping_timeout=60) as net:
        alice, bob = await _channel_of(net, "alice", "bob")
        start = trio.current_time()
        ping = await alice.expect(r"^PING ", within=200)
        assert 89 <= trio.current_time() - start <= 91
        await bob.expect(r"^PING ", within=200)
        await bob.send(f"PONG :{ping.params[0]}")  # bob answers, alice does not
        closing = await alice.expect_closed(within=200)
        assert closing[-1].to_line() == "ERROR :Ping timeout"
        assert 149 <= trio.current_time() - start <= 151
        quit_ = await bob.expect(r" QUIT ")
        assert quit_.source is not None and quit_.source.startswith("alice!")
        assert quit_.params == ("Ping timeout",)
        # bob answered, so bob is still here, a full interval later.
        await bob.expect(r"^PING ", within=200)
        await bob.sync()


async def test_active_client_is_not_pinged(autojump_clock: trio.testing.MockClock) -> None:
    async with running_server(ping_interval=90, ping_timeout=60) as net:
        alice = await net.client("alice")
        for _ in range(5):
            await trio.sleep(60)
            await alice.send("PING :still-here")
            assert (await alice.next_message()).command == "PONG"


async def test_unregistered_connection_times_out(autojump_clock: trio.testing.MockClock) -> None:
    async with running_server(registration_timeout=30) as net:
        lurker = await net.connect("lurker")
        await lurker.send("NICK lurker")  # but never USER
        start = trio.current_time()
        lines = await lurker.expect_closed(within=100)
        assert lines[-1].to_line() == "ERROR :Registration timed out"
        assert 29 <= trio.current_time() - start <= 31
        assert net.server.network.connections == set()


async def test_cap_negotiation_that_never_ends_times_out(autojump_clock: trio.testing.MockClock) -> None:
    async with running_server(registration_timeout=30) as net:
        client = await net.connect()
        await client.send("CAP LS 302", "NICK slow", "USER slow 0 * :Slow")
        lines = await client.expect_closed(within=100)
        assert not any(m.command == "001" for m in lines)
        assert lines[-1].to_line() == "ERROR :Registration timed out"


async def test_full_sendq_disconnects_only_the_slow_reader(autojump_clock: trio.testing.MockClock) -> None:
    async with running_server(sendq_lines=50, shutdown_grace=30) as net:
        alice, bob = await _channel_of(net, "alice", "bob")
        # slow never reads: its stream holds 1 KB, like a socket whose peer stopped reading, and then the
        # flusher's direct writes hand over to the writer task, which waits.
        slow = await net.connect("slow", stream_factory=lambda: pipe_stream_pair(1024))
        await slow.send("NICK slow", "USER slow 0 * :Slow", "JOIN #room")
        await alice.expect(r":slow!\S+ JOIN #room")
        for i in range(200):
            await alice.send(f"PRIVMSG #room :message {i}")
        # bob gets every message, in order, and slow's QUIT on the way.
        lines = await bob.collect_until(r"message 199")
        assert [m.params[1] for m in lines if m.command == "PRIVMSG"] == [f"message {i}" for i in range(200)]
        quits = [m for m in lines if m.command == "QUIT"]
        assert len(quits) == 1 and quits[0].params == ("SendQ exceeded",)
        await alice.expect(r":slow!\S+ QUIT :SendQ exceeded")
        assert net.server.network.find_user("slow") is None
        lines = await slow.expect_closed()
        assert lines[-1].to_line() == "ERROR :SendQ exceeded"


async def test_slow_reader_does_not_delay_a_fast_one(autojump_clock: trio.testing.MockClock) -> None:
    async with running_server(sendq_lines=1000) as net:
        alice, fast = await _channel_of(net, "alice", "fast")
        slow = await net.connect("slow", stream_factory=lambda: pipe_stream_pair(1024))
        await slow.send("NICK slow", "USER slow 0 * :Slow", "JOIN #room")
        await fast.expect(r":slow!\S+ JOIN #room")
        start = trio.current_time()
        await alice.send(*(f"PRIVMSG #room :m{i}" for i in range(300)))
        for i in range(300):
            assert (await fast.expect("PRIVMSG")).params[1] == f"m{i}"
        # No virtual time passed: nothing waited for the slow reader.
        assert trio.current_time() == start
        # The slow reader, reading at last, has lost nothing either.
        got = [m.params[1] for m in await slow.collect_until(r"PRIVMSG #room :?m299") if m.command == "PRIVMSG"]
        assert got == [f"m{i}" for i in range(300)]


async def test_overlong_line_gets_417_and_the_connection_goes_on() -> None:
    async with running_server() as net:
        alice, bob = await _channel_of(net, "alice", "bob")
        await alice.send("PRIVMSG #room :" + "x" * 600)
        assert (await alice.expect_next(r" 417 alice :")).command == "417"
        await alice.send("PRIVMSG #room :short")
        assert (await bob.expect("PRIVMSG")).params[1] == "short"


async def test_readq_without_line_end_disconnects() -> None:
    async with running_server(readq_bytes=4096) as net:
        alice, bob = await _channel_of(net, "alice", "bob")
        await alice.send_raw(b"PRIVMSG #room :" + b"y" * 10000)
        lines = await alice.expect_closed()
        assert lines[-1].to_line() == "ERROR :ReadQ exceeded"
        assert (await bob.expect(" QUIT ")).params == ("ReadQ exceeded",)


async def test_invalid_utf8_is_refused_not_forwarded() -> None:
    async with running_server() as net:
        alice, bob = await _channel_of(net, "alice", "bob")
        await alice.send(b"PRIVMSG #room :caf\xe9 latin-1")
        fail = await alice.expect_next(r"^:\S+ FAIL ")
        assert fail.params[:2] == ("PRIVMSG", "INVALID_UTF8")
        await alice.send("PRIVMSG #room :café in UTF-8")
        assert (await bob.expect("PRIVMSG")).params[1] == "café in UTF-8"


async def test_nul_and_bare_cr_are_refused() -> None:
    async with running_server() as net:
        alice, bob = await _channel_of(net, "alice", "bob")
        await alice.send(b"PRIVMSG #room :a\x00b", b"PRIVMSG #room :a\rb")
        for _ in range(2):
            reply = await alice.expect_next(r" 400 alice PRIVMSG :")
            assert "NUL or CR" in reply.params[-1]
        await alice.send("PRIVMSG #room :clean")
        assert (await bob.expect("PRIVMSG")).params[1] == "clean"


async def test_bare_lf_line_endings_work() -> None:
    async with running_server() as net:
        client = await net.connect()
        await client.send_raw(b"NICK lf\nUSER lf 0 * :LF\n")
        await client.expect(" 001 lf ")


async def test_line_split_across_reads_is_reassembled() -> None:
    async with running_server() as net:
        alice, bob = await _channel_of(net, "alice", "bob")
        for piece in (b"PRIV", b"MSG #ro", b"om :hel", b"lo\r", b"\n"):
            await alice.send_raw(piece)
        assert (await bob.expect("PRIVMSG")).params[1] == "hello"


async def test_quit_reason_reaches_the_channel_and_the_quitter_gets_error() -> None:
    async with running_server() as net:
        alice, bob = await _channel_of(net, "alice", "bob")
        await alice.send("QUIT :gone fishing")
        lines = await alice.expect_closed()
        assert lines[-1].to_line() == "ERROR :Quit: gone fishing"
        assert (await bob.expect(" QUIT ")).params == ("Quit: gone fishing",)


async def test_eof_counts_as_quit() -> None:
    async with running_server() as net:
        alice, bob = await _channel_of(net, "alice", "bob")
        await alice.stream.aclose()
        assert (await bob.expect(" QUIT ")).params == ("Connection closed",)
        assert net.server.network.find_user("alice") is None


async def test_bad_password_is_refused(autojump_clock: trio.testing.MockClock) -> None:
    async with running_server(password="s3cret") as net:
        wrong = await net.connect()
        await wrong.send("PASS nope", "NICK eve", "USER eve 0 * :Eve")
        lines = await wrong.expect_closed()
        assert [m.command for m in lines][-2:] == ["464", "ERROR"]
        assert not any(m.command == "001" for m in lines)
        right = await net.connect()
        await right.send("PASS s3cret", "NICK ann", "USER ann 0 * :Ann")
        await right.expect(" 001 ann ")


async def test_commands_are_answered_in_order() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await alice.send("JOIN #a", "TOPIC #a :first topic", "NAMES #a", "PING :done")
        lines = [m.command for m in await alice.collect_until("PONG")]
        last_366 = len(lines) - 1 - lines[::-1].index("366")
        # JOIN's burst (with its own 366), then TOPIC, then NAMES's 366, then the PONG.
        assert lines.index("JOIN") < lines.index("366") < lines.index("TOPIC") < last_366 < lines.index("PONG")


async def test_a_crashing_handler_drops_only_that_connection(monkeypatch: object) -> None:
    from trio_chat.server import commands

    def broken(ctx: object, msg: object) -> None:
        raise RuntimeError("bug")

    async with running_server() as net:
        alice, bob = await _channel_of(net, "alice", "bob")
        original = commands.COMMANDS["TIME"]
        commands.COMMANDS["TIME"] = commands.Command(broken)
        try:
            await alice.send("TIME")
            await alice.expect_closed()
        finally:
            commands.COMMANDS["TIME"] = original
        assert (await bob.expect(" QUIT ")).params == ("Internal server error",)
        await bob.send("PRIVMSG #room :still alive")
        await bob.sync()


async def test_connections_per_address_are_limited() -> None:
    async with running_server(max_per_ip=2) as net:
        first = await net.client("first")
        second = await net.client("second")
        third = await net.connect("third")
        lines = await third.expect_closed()
        assert [m.to_line() for m in lines] == ["ERROR :Too many connections from your address"]
        # The two already connected are untouched, and a slot frees when one leaves.
        await first.send("QUIT")
        await first.expect_closed()
        await second.sync()
        fourth = await net.client("fourth")
        await fourth.sync()


async def test_server_full() -> None:
    async with running_server(max_clients=1) as net:
        only = await net.client("only")
        extra = await net.connect("extra")
        assert [m.to_line() for m in await extra.expect_closed()] == ["ERROR :Server is full, try again later"]
        await only.sync()
