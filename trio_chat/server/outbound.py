"""The outbound path: each connection's SendQ is a bounded trio memory channel, and one flusher drains them.

Who puts lines in, and how:

* fan-out (``Network.deliver_all`` and ``deliver``) calls the channel's ``send_nowait``; ``trio.WouldBlock`` means
  the recipient is not reading, and it is disconnected (``ERROR :SendQ exceeded``): the sender and the rest of
  the room never wait;
* replies to a client's own command go in with :meth:`SendQ.send`, which waits for room when the channel is
  full: a client that floods commands without reading its replies stops being read (backpressure on the
  producer);
* the keepalive's PING and the final ERROR go through the same channel.

Who takes lines out, and how: whoever drains a channel takes everything queued (``queued`` counts it, so no
``WouldBlock`` is raised per drain) and sends it in one write.

* The :class:`Flusher`, one task for the whole server, is woken (a :class:`trio.Event`) when a SendQ that was
  empty receives a line.  In the next scheduler batch it drains every such SendQ and writes each with one
  non-blocking :meth:`Transport.try_write`.  A message to 5,000 idle members costs 5,000 writes and no task
  switches; a member that received 30 lines in the batch costs one write.
* The connection's writer task (:meth:`SendQ.serve_writes`) is not parked on the channel: it waits until the
  flusher hands the connection over (a partial write: the kernel's buffer is full), sends the rest when the
  socket is writable again, drains whatever arrived meanwhile, and hands the connection back.  Streams that
  cannot write without blocking (TLS, where a write means encrypting, and memory streams) have no transport:
  their writer task is woken once per batch and sends everything queued with ``send_all``.

The SendQ is attached to the flusher inside the connection's nursery and detached before the stream is closed,
so the flusher never writes to a closed stream and nothing of a connection outlives its nursery.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import trio

PAUSE_THRESHOLD = 0.0005
"""Flushes quicker than this (seconds) are not followed by a pause: ordinary traffic is never delayed."""


@runtime_checkable
class Transport(Protocol):
    """A stream's non-blocking write: how many bytes of ``data`` were written now (0 when none could be)."""

    def try_write(self, data: bytes) -> int: ...


class SocketTransport:
    """A plain TCP socket: the server's one direct write to a file descriptor, and it never blocks.

    trio's sockets are non-blocking, so ``os.write`` on the descriptor returns what the kernel's buffer took at
    once.  An error is reported as 0 bytes written: the writer task's ``send_all`` then meets the same error
    and closes the connection the usual way.
    """

    __slots__ = ("_fd",)

    def __init__(self, stream: trio.SocketStream) -> None:
        self._fd = stream.socket.fileno()

    def try_write(self, data: bytes) -> int:
        try:
            return os.write(self._fd, data)
        except OSError:  # BlockingIOError (buffer full), or a broken connection the writer will report
            return 0


def transport_for(stream: trio.abc.Stream) -> Transport | None:
    """The non-blocking write for ``stream``: plain sockets and streams that offer ``try_write`` have one."""
    if isinstance(stream, trio.SocketStream):
        return SocketTransport(stream)
    if isinstance(stream, Transport):
        return stream
    return None


class Flusher:
    """Writes the SendQs that received lines, once per scheduler batch (see :meth:`run`)."""

    __slots__ = ("_dirty", "_wakeup", "writes")

    def __init__(self) -> None:
        self._dirty: list[SendQ] = []
        self._wakeup = trio.Event()
        self.writes = 0
        """Direct writes done (for STATS and the benchmarks)."""

    def mark(self, sendq: SendQ) -> None:
        """``sendq`` has lines and a transport: write them in the next batch."""
        if not self._dirty:
            self._wakeup.set()
        self._dirty.append(sendq)

    async def run(self) -> None:
        """Sleep until a SendQ is marked; then, in the next batch, flush everything marked meanwhile.

        A flush that took T is followed by a pause of about T, so flushing never takes more than half the
        time: when it is quick (T is microseconds under ordinary load) nothing waits; in a storm (a JOIN to
        5,000 idle members, every batch) each write carries many lines instead of one.  Time is trio's clock,
        so under a test's MockClock a flush takes no time and is never followed by a pause.
        """
        while True:
            await self._wakeup.wait()
            started = trio.current_time()
            self._wakeup = trio.Event()
            dirty, self._dirty = self._dirty, []
            for sendq in dirty:
                sendq.flush()
            self.writes += len(dirty)
            took = trio.current_time() - started
            if took > PAUSE_THRESHOLD:
                await trio.sleep(took)


class SendQ:
    """A connection's SendQ: a bounded memory channel, the count of what it holds, and who writes it out.

    ``send_nowait`` and ``queued`` are what fan-out uses (see ``state.SendQ``): the channel's own
    ``send_nowait``, then ``queued += 1``, and :meth:`ready` when ``queued`` was 0.
    """

    __slots__ = (
        "_flusher",
        "_handed_over",
        "_leftover",
        "_receive",
        "_send",
        "_transport",
        "_writer_wakeup",
        "closing",
        "queued",
        "ready",
        "send_nowait",
    )

    def __init__(self, size: int) -> None:
        self._send, self._receive = trio.open_memory_channel[bytes](size)
        self.send_nowait: Callable[[bytes], None] = self._send.send_nowait
        """Queue a line without waiting; raises ``trio.WouldBlock`` when the SendQ is full."""
        self.queued = 0
        """Lines in the channel that nobody has taken out yet."""
        self.ready: Callable[[], None] = self._wake_writer
        """Called by whoever makes ``queued`` 1: schedules the write (the flusher, or the writer task)."""
        self._flusher: Flusher | None = None
        self._transport: Transport | None = None
        self._handed_over = False
        """The writer task owns the stream (a partial write, or no transport): the flusher keeps off."""
        self._leftover = b""
        self._writer_wakeup: trio.Event | None = None
        self.closing = False

    # ---- putting lines in ---------------------------------------------------------------------------------

    def put_nowait(self, line: bytes) -> None:
        """Queue ``line`` without waiting; raises ``trio.WouldBlock`` when full (the owner is not reading)."""
        self.send_nowait(line)
        self.queued += 1
        if self.queued == 1:
            self.ready()

    async def send(self, line: bytes) -> None:
        """Queue ``line``, waiting while the SendQ is full: replies to the owner's own commands."""
        try:
            self.send_nowait(line)
        except trio.WouldBlock:
            await self._send.send(line)
        self.queued += 1
        if self.queued == 1:
            self.ready()

    # ---- attaching to the flusher -------------------------------------------------------------------------

    def attach(self, flusher: Flusher, transport: Transport | None) -> None:
        """Let ``flusher`` write this SendQ through ``transport``; without a transport the writer task does."""
        if transport is None:
            return
        self._flusher = flusher
        self._transport = transport
        self.ready = self._mark
        if self.queued and not self._handed_over:
            flusher.mark(self)

    def detach(self) -> None:
        """From now on only the writer task writes; the flusher skips this SendQ if it is still marked."""
        self._transport = None
        self._flusher = None
        self.ready = self._wake_writer
        self._handed_over = True

    def _mark(self) -> None:
        if not self._handed_over:
            assert self._flusher is not None
            self._flusher.mark(self)

    # ---- taking lines out ---------------------------------------------------------------------------------

    def _take(self) -> bytes:
        """Everything queued, joined into one write."""
        count = self.queued
        self.queued = 0
        receive = self._receive.receive_nowait
        if count == 1:
            return receive()
        return b"".join([receive() for _ in range(count)])

    def flush(self) -> None:
        """In the flusher: write what is queued with one non-blocking write; hand the rest to the writer task."""
        if self._handed_over or not self.queued:
            return  # the writer task has it, or it was drained meanwhile
        data = self._take()
        assert self._transport is not None
        sent = self._transport.try_write(data)
        if sent < len(data):
            self._leftover = data[sent:]
            self._handed_over = True
            self._wake_writer()

    def clear(self) -> None:
        """Drop everything queued and not yet being sent (the owner is not reading it)."""
        receive = self._receive.receive_nowait
        for _ in range(self.queued):
            receive()
        self.queued = 0

    def _wake_writer(self) -> None:
        wakeup = self._writer_wakeup
        if wakeup is not None:
            self._writer_wakeup = None
            wakeup.set()

    async def serve_writes(self, stream: trio.abc.Stream) -> None:
        """The connection's writer task: send what the flusher cannot, until :meth:`close` and drained.

        It sleeps while the flusher writes this SendQ directly, and wakes when the flusher hands it over (the
        socket's buffer is full), when there is no transport and lines arrive, or when the SendQ is closing.
        """
        while True:
            if self._handed_over or self._transport is None:
                data = self._leftover
                self._leftover = b""
                while True:
                    if data:
                        await stream.send_all(data)
                    if not self.queued:
                        break
                    data = self._take()
                if self.closing:
                    return
                self._handed_over = self._transport is None
            wakeup = self._writer_wakeup = trio.Event()
            await wakeup.wait()

    def close(self) -> None:
        """No more lines: the writer task sends what is queued (the final ERROR among it) and ends."""
        self.closing = True
        self.detach()
        self._wake_writer()
