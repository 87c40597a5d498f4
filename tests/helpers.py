"""Test helpers: a server in-process, memory streams that behave like sockets, and short IRC exchanges.

The IRC client itself is :class:`tests.ircclient.IRCClient`, shared with the benchmarks.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import trio
import trio.testing

from tests.ircclient import IRCClient
from trio_chat.client.model import Buffer, ChatModel
from trio_chat.protocol import Message, parse_line
from trio_chat.server.app import Server
from trio_chat.server.config import ServerConfig
from trio_chat.ui.describe import line_text

# Flood control is off here so that tests can send many lines at once; tests/test_server_flood.py turns it on.
FAST = ServerConfig(
    server_name="test.server",
    ping_interval=100.0,
    ping_timeout=50.0,
    registration_timeout=30.0,
    flood_rate=0.0,
    db=":memory:",
)


def texts(model: ChatModel, buf: Buffer | None = None) -> list[str]:
    """What each line of ``buf`` (the current buffer by default) says, in the words the screen shows."""
    return [line_text(line) for line in model.lines(buf)]


async def drain(client: IRCClient) -> list[Message]:
    """Everything the server queued for ``client`` before a PING round trip (the PONG itself excluded)."""
    await client.send("PING :drain-token")
    lines = await client.collect_until(r"^(@\S+ )?:\S+ PONG \S+ :?drain-token$")
    return lines[:-1]


async def settle(*clients: IRCClient) -> None:
    """Drain every client: whatever the server queued for them so far has been read."""
    for client in clients:
        await drain(client)


async def join(client: IRCClient, nick: str, channel: str, key: str = "") -> list[Message]:
    """JOIN and read through the end of NAMES; returns what came."""
    await client.send(f"JOIN {channel} {key}".rstrip())
    return await client.collect_until(rf" 366 {re.escape(nick)} {re.escape(channel)} ")


def plain(messages: list[Message]) -> list[str]:
    """The lines without their tags, in canonical form (see :func:`canon`)."""
    return [Message(m.command, m.params, m.source).to_line() for m in messages]


def canon(*lines: str) -> list[str]:
    """Lines as written in a test, in canonical form: as the server writes them, a last parameter with its colon
    where it needs one, or where it is a text parameter or a numeric's last (``Message.to_line``)."""
    return [parse_line(line.encode()).to_line() for line in lines]


class _Pipe:
    """One direction of an in-memory connection: bytes written and not yet read, at most ``capacity`` of them,
    as in a socket's kernel buffer."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.data = bytearray()
        self.write_closed = False
        """The writing end closed: the reader gets EOF once the data is read."""
        self.read_closed = False
        """The reading end closed: writes fail as on a reset connection."""
        self.changed = trio.Event()

    def notify(self) -> None:
        self.changed.set()
        self.changed = trio.Event()


class PipeStream(trio.abc.Stream):
    """One end of :func:`pipe_stream_pair`: a stream with a bounded buffer each way and a non-blocking
    ``try_write``, so the server's flusher writes to it directly, as it does to a TCP socket."""

    def __init__(self, incoming: _Pipe, outgoing: _Pipe) -> None:
        self._in = incoming
        self._out = outgoing
        self.try_writes = 0

    @property
    def unread(self) -> int:
        """Bytes written by this end that the peer has not read yet."""
        return len(self._out.data)

    def try_write(self, data: bytes) -> int:
        out = self._out
        if out.read_closed or out.write_closed:
            return 0
        room = out.capacity - len(out.data)
        taken = data[: max(room, 0)]
        if taken:
            out.data += taken
            out.notify()
        self.try_writes += 1
        return len(taken)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(bytes(data))
        await trio.lowlevel.checkpoint()
        while view:
            out = self._out
            if out.write_closed:
                raise trio.ClosedResourceError("this end is closed")
            if out.read_closed:
                raise trio.BrokenResourceError("the peer closed the connection")
            sent = self.try_write(bytes(view))
            view = view[sent:]
            if view:
                await out.changed.wait()

    async def wait_send_all_might_not_block(self) -> None:
        while len(self._out.data) >= self._out.capacity and not self._out.read_closed:
            await self._out.changed.wait()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        incoming = self._in
        await trio.lowlevel.checkpoint()
        while True:
            if incoming.read_closed:
                raise trio.ClosedResourceError("this end is closed")
            if incoming.data:
                size = len(incoming.data) if max_bytes is None else max_bytes
                chunk = bytes(incoming.data[:size])
                del incoming.data[:size]
                incoming.notify()
                return chunk
            if incoming.write_closed:
                return b""
            await incoming.changed.wait()

    async def aclose(self) -> None:
        self._out.write_closed = True
        self._out.notify()
        self._in.read_closed = True
        self._in.data.clear()
        self._in.notify()
        await trio.lowlevel.checkpoint()


def pipe_stream_pair(capacity: int = 256 * 1024) -> tuple[PipeStream, PipeStream]:
    """A connected (client, server) pair whose buffers hold ``capacity`` bytes each way, like a socket's."""
    to_server, to_client = _Pipe(capacity), _Pipe(capacity)
    return PipeStream(to_client, to_server), PipeStream(to_server, to_client)


class InProcessNetwork:
    """A server in-process, and a way to connect test clients to it over memory streams."""

    def __init__(self, server: Server, nursery: trio.Nursery) -> None:
        self.server = server
        self.nursery = nursery

    async def connect(self, name: str = "client", *, stream_factory: Callable[[], Any] | None = None) -> IRCClient:
        client_end, server_end = (stream_factory or pipe_stream_pair)()
        self.nursery.start_soon(self.server.handle_connection, server_end)
        return IRCClient(client_end, name)

    async def client(self, nick: str, *, caps: str = "") -> IRCClient:
        client = await self.connect(nick)
        await client.register(nick, caps=caps)
        return client


@asynccontextmanager
async def running_server(
    config: ServerConfig = FAST, *, clock: Callable[[], float] | None = None, **overrides: Any
) -> AsyncIterator[InProcessNetwork]:
    """A server with ``config`` (and field overrides) whose connections live in a nursery closed at exit.

    Its wall clock (timestamps, server-time) is fixed at 2023-11-14T22:13:20Z unless ``clock`` is given.
    """
    server = Server(replace(config, **overrides), clock=clock or (lambda: 1_700_000_000.0))
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run_services)
        yield InProcessNetwork(server, nursery)
        nursery.cancel_scope.cancel()
