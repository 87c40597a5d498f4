"""The server over real loopback TCP, and its shutdown."""

from __future__ import annotations

import errno

import trio
import trio.testing

from tests.ircclient import IRCClient
from trio_chat.server.app import Server, listener_port, serve
from trio_chat.server.config import ServerConfig


async def _tcp_client(server: Server, nick: str) -> IRCClient:
    port = listener_port(server.listeners[0])[1]
    client = await IRCClient.connect_tcp("127.0.0.1", port, nick)
    await client.register(nick)
    return client


async def test_loopback_tcp_chat_and_graceful_shutdown() -> None:
    config = ServerConfig(db=":memory:", port=0, server_name="tcp.test")
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(serve, config)
        alice = await _tcp_client(server, "alice")
        bob = await _tcp_client(server, "bob")
        await alice.send("JOIN #tcp")
        await alice.expect(" 366 ")
        await bob.send("JOIN #tcp")
        await alice.expect(":bob!~bob@127.0.0.1 JOIN #tcp")
        await bob.send("PRIVMSG #tcp :over a real socket")
        msg = await alice.expect("PRIVMSG")
        assert msg.params == ("#tcp", "over a real socket")
        server.shutdown()
        for client in (alice, bob):
            lines = await client.expect_closed()
            assert lines[-1].to_line() == "ERROR :Server shutting down"
            await client.stream.aclose()
    assert server.sessions == set()


async def test_shutdown_flushes_queued_lines_before_error() -> None:
    config = ServerConfig(db=":memory:", port=0, flood_rate=0.0)
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(serve, config)
        alice = await _tcp_client(server, "alice")
        bob = await _tcp_client(server, "bob")
        await alice.send("JOIN #x")
        await alice.expect(" 366 ")
        await bob.send("JOIN #x")
        await alice.expect(" JOIN #x")
        await bob.send(*(f"PRIVMSG #x :line {i}" for i in range(100)))
        await bob.sync()
        server.shutdown()
        lines = await alice.expect_closed()
        assert [m.params[1] for m in lines if m.command == "PRIVMSG"] == [f"line {i}" for i in range(100)]
        assert lines[-1].command == "ERROR"
        await alice.stream.aclose()
        await bob.stream.aclose()


class _FlakyListener(trio.abc.Listener[trio.abc.Stream]):
    """Fails its first accept with ``error`` (EMFILE: out of file descriptors), then hands out streams."""

    def __init__(self, error: int = errno.EMFILE) -> None:
        self.send, self.receive = trio.open_memory_channel[trio.abc.Stream](10)
        self.error = error
        self.failures = 0
        self.closed = False

    async def accept(self) -> trio.abc.Stream:
        if self.failures == 0:
            self.failures += 1
            raise OSError(self.error, "accept failed")
        return await self.receive.receive()

    async def aclose(self) -> None:
        self.closed = True
        await trio.lowlevel.checkpoint()


async def test_accept_errors_do_not_kill_the_listener(autojump_clock: trio.testing.MockClock) -> None:
    server = Server(ServerConfig(db=":memory:"))
    listener = _FlakyListener()
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run, [listener])
        client_end, server_end = trio.testing.memory_stream_pair()
        await listener.send.send(server_end)
        client = IRCClient(client_end, "late")
        await client.register("late")
        assert listener.failures == 1
        server.shutdown()
        assert (await client.expect_closed())[-1].to_line() == "ERROR :Server shutting down"


async def test_other_accept_errors_end_only_that_listener(autojump_clock: trio.testing.MockClock) -> None:
    """EBADF is not "out of a resource for now": retrying would spin; the listener is closed and logged."""
    server = Server(ServerConfig(db=":memory:"))
    broken, healthy = _FlakyListener(errno.EBADF), _FlakyListener()
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run, [broken, healthy])
        await trio.testing.wait_all_tasks_blocked()
        assert broken.closed and broken.failures == 1
        client_end, server_end = trio.testing.memory_stream_pair()
        await healthy.send.send(server_end)
        client = IRCClient(client_end, "still")
        await client.register("still")
        server.shutdown()
        assert (await client.expect_closed())[-1].to_line() == "ERROR :Server shutting down"
