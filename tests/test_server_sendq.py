"""The SendQ and the flusher: bounds, waiting, and direct writes that fall back to the writer task."""

from __future__ import annotations

import socket

import pytest
import trio
import trio.testing

from trio_chat.server.sendq import Flusher, SendQueue


async def test_put_nowait_refuses_when_full_and_take_all_takes_everything() -> None:
    queue = SendQueue(3)
    assert all(queue.put_nowait(b"%d" % i) for i in range(3))
    assert not queue.put_nowait(b"overflow")
    assert await queue.take_all() == [b"0", b"1", b"2"]
    assert queue.put_nowait(b"room again")


async def test_put_waits_for_room(autojump_clock: trio.testing.MockClock) -> None:
    queue = SendQueue(1)
    queue.put_nowait(b"first")
    done = trio.Event()

    async def producer() -> None:
        await queue.put(b"second")
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        await trio.testing.wait_all_tasks_blocked()
        assert not done.is_set()
        assert await queue.take_all() == [b"first"]
        await done.wait()
    assert await queue.take_all() == [b"second"]


async def test_take_all_waits_then_close_drains_and_ends() -> None:
    queue = SendQueue(10)
    got: list[list[bytes]] = []

    async def writer() -> None:
        while lines := await queue.take_all():
            got.append(lines)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        await trio.testing.wait_all_tasks_blocked()
        queue.put_nowait(b"a")
        queue.put_nowait(b"b")
        await trio.testing.wait_all_tasks_blocked()
        queue.put_nowait(b"c")
        queue.close()
        assert queue.put_nowait(b"after close")  # accepted and dropped: not an overflow
    assert got == [[b"a", b"b"], [b"c"]]


@pytest.fixture
def socket_pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


async def test_flusher_writes_directly_without_waking_the_writer(
    socket_pair: tuple[socket.socket, socket.socket],
) -> None:
    server_end, peer = socket_pair
    flusher = Flusher()
    queue = SendQueue(100, flusher=flusher, fd=server_end.fileno())
    wakes = 0

    async def writer() -> None:
        nonlocal wakes
        while lines := await queue.take_all():
            wakes += 1
            server_end.sendall(b"".join(lines))

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(flusher.run)
            nursery.start_soon(writer)
            await trio.testing.wait_all_tasks_blocked()
            for i in range(50):
                queue.put_nowait(b"line %d\r\n" % i)
            await trio.testing.wait_all_tasks_blocked()
            assert peer.recv(65536) == b"".join(b"line %d\r\n" % i for i in range(50))
            assert (wakes, flusher.writes) == (0, 1)
            nursery.cancel_scope.cancel()
    finally:
        server_end.close()
        peer.close()


async def test_full_socket_hands_the_rest_to_the_writer_in_order(
    socket_pair: tuple[socket.socket, socket.socket],
) -> None:
    server_end, peer = socket_pair
    trio_socket = trio.socket.from_stdlib_socket(server_end)
    stream = trio.SocketStream(trio_socket)
    flusher = Flusher()
    queue = SendQueue(100_000, flusher=flusher, fd=server_end.fileno())
    lines = [b"%06d " % i + b"x" * 500 + b"\r\n" for i in range(4000)]  # 2 MB: more than the socket holds

    writer_sends = 0

    async def writer() -> None:
        nonlocal writer_sends
        while batch := await queue.take_all():
            writer_sends += 1
            await stream.send_all(b"".join(batch))

    received = bytearray()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(flusher.run)
            nursery.start_soon(writer)
            await trio.testing.wait_all_tasks_blocked()
            for line in lines[:2000]:
                queue.put_nowait(line)
            await trio.testing.wait_all_tasks_blocked()
            for line in lines[2000:]:  # while the writer waits for the socket
                queue.put_nowait(line)
            peer_stream = trio.SocketStream(trio.socket.from_stdlib_socket(peer))
            while len(received) < sum(map(len, lines)):
                received += await peer_stream.receive_some(1 << 16)
            nursery.cancel_scope.cancel()
    finally:
        server_end.close()
        peer.close()
    assert bytes(received) == b"".join(lines)
    # The flusher wrote first; the socket filled and the writer task took over the rest.
    assert flusher.writes >= 1 and writer_sends >= 1
