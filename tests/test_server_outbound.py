"""The SendQ memory channel, the flusher and the writer task: direct writes, hand-over, backpressure, closing."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable

import pytest
import trio
import trio.testing

from tests.helpers import PipeStream, pipe_stream_pair
from trio_chat.server.outbound import Flusher, SendQ, SocketTransport, transport_for


async def read_exactly(stream: trio.abc.ReceiveStream, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = await stream.receive_some(65536)
        assert chunk, "EOF before everything arrived"
        data += chunk
    return bytes(data)


class Connection:
    """A SendQ attached to a running flusher, its writer task, and the peer's end of the stream."""

    def __init__(self, sendq: SendQ, server_end: PipeStream, peer: PipeStream, flusher: Flusher) -> None:
        self.sendq = sendq
        self.server_end = server_end
        self.peer = peer
        self.flusher = flusher
        self.writer_done = trio.Event()

    async def serve(self) -> None:
        try:
            await self.sendq.serve_writes(self.server_end)
        finally:
            self.writer_done.set()


MakeConnection = Callable[..., Connection]


@pytest.fixture
async def make_connection() -> AsyncIterator[MakeConnection]:
    async with trio.open_nursery() as nursery:
        flusher = Flusher()
        nursery.start_soon(flusher.run)

        def make(size: int = 100, capacity: int = 1 << 20, *, direct: bool = True) -> Connection:
            peer, server_end = pipe_stream_pair(capacity)
            sendq = SendQ(size)
            sendq.attach(flusher, server_end if direct else None)
            connection = Connection(sendq, server_end, peer, flusher)
            nursery.start_soon(connection.serve)
            return connection

        yield make
        nursery.cancel_scope.cancel()


def lines(count: int, width: int = 10) -> list[bytes]:
    return [b"%06d " % i + b"x" * width + b"\r\n" for i in range(count)]


async def test_put_nowait_raises_wouldblock_when_full_and_counts_what_is_queued() -> None:
    sendq = SendQ(3)
    for line in lines(3):
        sendq.put_nowait(line)
    assert sendq.queued == 3
    with pytest.raises(trio.WouldBlock):
        sendq.put_nowait(b"overflow\r\n")
    assert sendq.queued == 3
    sendq.clear()
    assert sendq.queued == 0
    sendq.put_nowait(b"room again\r\n")


async def test_the_flusher_writes_a_batch_in_one_direct_write_without_waking_the_writer(
    make_connection: MakeConnection,
) -> None:
    conn: Connection = make_connection()
    await trio.testing.wait_all_tasks_blocked()
    batch = lines(50)
    for line in batch:
        conn.sendq.put_nowait(line)
    await trio.testing.wait_all_tasks_blocked()
    assert await read_exactly(conn.peer, sum(map(len, batch))) == b"".join(batch)
    assert conn.server_end.try_writes == 1 and conn.flusher.writes == 1
    assert conn.sendq.queued == 0


async def test_a_full_buffer_hands_the_rest_to_the_writer_in_order_and_back(
    make_connection: MakeConnection, autojump_clock: trio.testing.MockClock
) -> None:
    conn: Connection = make_connection(size=100_000, capacity=4096)
    await trio.testing.wait_all_tasks_blocked()
    first, second = lines(2000, 100), lines(500, 100)
    for line in first:
        conn.sendq.put_nowait(line)
    await trio.testing.wait_all_tasks_blocked()
    # The peer has read nothing: the buffer is full, the writer task holds the rest and waits for room.
    assert conn.server_end.unread == 4096
    for line in second:  # queued while the writer waits; they go after the rest
        conn.sendq.put_nowait(line)
    expected = b"".join(first + second)
    assert await read_exactly(conn.peer, len(expected)) == expected
    # Once drained, the flusher writes directly again.
    writes = conn.flusher.writes
    conn.sendq.put_nowait(b"direct again\r\n")
    await trio.testing.wait_all_tasks_blocked()
    assert conn.flusher.writes == writes + 1
    assert await read_exactly(conn.peer, 14) == b"direct again\r\n"


async def test_without_a_transport_the_writer_sends_each_batch_with_one_send(
    make_connection: MakeConnection, autojump_clock: trio.testing.MockClock
) -> None:
    conn: Connection = make_connection(direct=False)
    await trio.testing.wait_all_tasks_blocked()
    sends = 0
    real_send_all = conn.server_end.send_all

    async def counting_send_all(data: bytes | bytearray | memoryview) -> None:
        nonlocal sends
        sends += 1
        await real_send_all(data)

    conn.server_end.send_all = counting_send_all  # type: ignore[method-assign]
    batch = lines(30)
    for line in batch:
        conn.sendq.put_nowait(line)
    assert await read_exactly(conn.peer, sum(map(len, batch))) == b"".join(batch)
    assert sends == 1 and conn.flusher.writes == 0


async def test_send_waits_for_room_backpressure_on_the_producer(
    make_connection: MakeConnection, autojump_clock: trio.testing.MockClock
) -> None:
    conn: Connection = make_connection(size=4, capacity=64)
    await trio.testing.wait_all_tasks_blocked()
    produced = 0

    async def producer() -> None:
        nonlocal produced
        for line in lines(200):
            await conn.sendq.send(line)
            produced += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        await trio.testing.wait_all_tasks_blocked()
        # The peer is not reading: the producer is stuck after the socket buffer, the writer and 4 queued lines.
        assert produced < 20
        stuck_at = produced
        await trio.testing.wait_all_tasks_blocked()
        assert produced == stuck_at
        expected = b"".join(lines(200))
        assert await read_exactly(conn.peer, len(expected)) == expected
    assert produced == 200


async def test_close_sends_what_is_queued_then_the_writer_ends(
    make_connection: MakeConnection, autojump_clock: trio.testing.MockClock
) -> None:
    conn: Connection = make_connection(capacity=64)
    await trio.testing.wait_all_tasks_blocked()
    batch = [*lines(20), b"ERROR :bye\r\n"]
    for line in batch:
        conn.sendq.put_nowait(line)
    conn.sendq.close()
    assert await read_exactly(conn.peer, sum(map(len, batch))) == b"".join(batch)
    await conn.writer_done.wait()


async def test_a_detached_sendq_is_never_written_by_the_flusher(
    make_connection: MakeConnection, autojump_clock: trio.testing.MockClock
) -> None:
    conn: Connection = make_connection()
    await trio.testing.wait_all_tasks_blocked()
    conn.sendq.put_nowait(b"marked\r\n")  # the flusher will run in the next batch...
    conn.sendq.detach()  # ...but the connection is closing first
    await conn.server_end.aclose()
    await trio.testing.wait_all_tasks_blocked()
    assert conn.server_end.try_writes == 0


def test_transports_for_each_kind_of_stream() -> None:
    a, b = socket.socketpair()
    try:
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(a))
        assert isinstance(transport_for(stream), SocketTransport)
    finally:
        a.close()
        b.close()
    pipe_client, _ = pipe_stream_pair()
    assert transport_for(pipe_client) is pipe_client
    memory_client, _ = trio.testing.memory_stream_pair()
    assert transport_for(memory_client) is None


async def test_a_real_socket_takes_direct_writes_then_the_writer_finishes_in_order() -> None:
    """2 MB through a socket pair: more than the kernel holds, so both the flusher and the writer write."""
    a, b = socket.socketpair()
    server_end = trio.SocketStream(trio.socket.from_stdlib_socket(a))
    peer = trio.SocketStream(trio.socket.from_stdlib_socket(b))
    flusher = Flusher()
    sendq = SendQ(100_000)
    sendq.attach(flusher, transport_for(server_end))
    batch = lines(4000, 500)
    async with server_end, peer, trio.open_nursery() as nursery:
        nursery.start_soon(flusher.run)
        nursery.start_soon(sendq.serve_writes, server_end)
        await trio.testing.wait_all_tasks_blocked()
        for line in batch:
            sendq.put_nowait(line)
        received = await read_exactly(peer, sum(map(len, batch)))
        nursery.cancel_scope.cancel()
    assert received == b"".join(batch)
    assert flusher.writes >= 1
