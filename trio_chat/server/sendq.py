"""A connection's SendQ: a bounded queue of outgoing lines, and the flusher that sends them.

It does what a bounded trio memory channel did here, at a fraction of the cost per line (see
docs/performance.md: the channel's ``send_nowait``/``receive_nowait`` were a third of the server's time on W1):

* fan-out calls :meth:`SendQueue.put_nowait`, which never waits: False means the queue is full (its owner is not
  reading) and the caller disconnects the owner (``ERROR :SendQ exceeded``);
* replies to the owner's own commands use :meth:`SendQueue.put`, which waits for room: backpressure on the
  producer;
* the connection's writer task calls :meth:`SendQueue.take_all`, which waits for at least one line and hands
  over everything queued, so a burst costs one wake-up and one ``send``.

For plain TCP connections a server-wide :class:`Flusher` does better still: once per scheduler batch it writes
every queue that received lines with one non-blocking ``write`` each, so a message to 5,000 idle members costs
5,000 system calls and no task switches.  Only when the kernel's buffer is full is the connection's writer task
woken, to wait until the socket is writable again.
"""

from __future__ import annotations

import os
from time import perf_counter

from trio import sleep
from trio.lowlevel import Abort, ParkingLot, Task, current_task, reschedule, wait_task_rescheduled

PAUSE_THRESHOLD = 0.0005
"""Flushes quicker than this (seconds) are not followed by a pause: ordinary traffic is never delayed."""


class Flusher:
    """Writes dirty queues directly to their sockets, once per scheduler batch (see :meth:`run`)."""

    __slots__ = ("_dirty", "_task", "writes")

    def __init__(self) -> None:
        self._dirty: list[SendQueue] = []
        self._task: Task | None = None
        self.writes = 0
        """Direct writes done (for the benchmarks' curiosity)."""

    def mark(self, queue: SendQueue) -> None:
        self._dirty.append(queue)
        task = self._task
        if task is not None:
            self._task = None
            reschedule(task)

    async def run(self) -> None:
        """Sleep until a queue is marked; then, in the next batch, flush everything marked meanwhile.

        A flush that took T is followed by a pause of about T, so flushing never takes more than half the
        time: when it is quick (T is microseconds under ordinary load) nothing waits; in a storm (a JOIN to
        5,000 idle members, every batch) each write carries many lines instead of one.
        """

        def abort(_: object) -> Abort:
            self._task = None
            return Abort.SUCCEEDED

        while True:
            if not self._dirty:
                self._task = current_task()
                await wait_task_rescheduled(abort)
            started = perf_counter()
            dirty, self._dirty = self._dirty, []
            for queue in dirty:
                queue.flush_direct()
            self.writes += len(dirty)
            took = perf_counter() - started
            if took > PAUSE_THRESHOLD:
                await sleep(took)


class SendQueue:
    __slots__ = ("_fd", "_flusher", "_lines", "_reader", "_scheduled", "_space", "closed", "limit")

    def __init__(self, limit: int, *, flusher: Flusher | None = None, fd: int | None = None) -> None:
        self.limit = limit
        self.closed = False
        self._lines: list[bytes] = []
        self._reader: Task | None = None
        self._space: ParkingLot | None = None
        """Created when a put first has to wait: most queues never need one (it costs 1 KB)."""
        self._scheduled = False
        """Someone will send what is queued: the flusher (marked) or the writer task (awake)."""
        self._flusher = flusher if fd is not None else None
        self._fd = fd

    def __len__(self) -> int:
        return len(self._lines)

    def put_nowait(self, line: bytes) -> bool:
        """Queue ``line`` without waiting; False when the queue is full.  After :meth:`close`, lines vanish."""
        lines = self._lines
        if len(lines) >= self.limit:
            return False
        if self.closed:
            return True
        lines.append(line)
        if not self._scheduled:
            self._scheduled = True
            if self._flusher is not None:
                self._flusher.mark(self)
            else:
                self._wake_reader()
        return True

    async def put(self, line: bytes) -> None:
        """Queue ``line``, waiting while the queue is full."""
        while len(self._lines) >= self.limit and not self.closed:
            if self._space is None:
                self._space = ParkingLot()
            await self._space.park()
        self.put_nowait(line)

    async def take_all(self) -> list[bytes]:
        """Wait for at least one line and take every line queued; an empty list once closed and drained.

        While the writer waits here, new lines go to the flusher (plain sockets) or wake it (other streams).
        """
        while not self._lines:
            if self.closed:
                return []
            self._scheduled = False
            self._reader = current_task()

            def abort(_: object) -> Abort:
                self._reader = None
                return Abort.SUCCEEDED

            await wait_task_rescheduled(abort)
        taken = self._lines
        self._lines = []
        if self._space is not None:
            self._space.unpark_all()
        return taken

    def flush_direct(self) -> None:
        """Write what is queued now with one non-blocking write; wake the writer for whatever does not fit.

        Runs in the flusher task, and only while the connection's writer is parked, so the two never write to
        the socket at once.
        """
        if self._reader is None or self._fd is None:
            return  # the writer is awake (sending, or closing): it will take the lines itself
        lines = self._lines
        if not lines:
            self._scheduled = False
            return
        data = lines[0] if len(lines) == 1 else b"".join(lines)
        lines.clear()
        try:
            sent = os.write(self._fd, data)
        except BlockingIOError:
            sent = 0
        except OSError:
            sent = 0  # the writer's own send will meet the same error and close the connection
        if self._space is not None:
            self._space.unpark_all()
        if sent == len(data):
            self._scheduled = False
            return
        lines.insert(0, data[sent:])
        self._wake_reader()

    def _wake_reader(self) -> None:
        reader = self._reader
        if reader is not None:
            self._reader = None
            reschedule(reader)

    def clear(self) -> None:
        """Drop everything queued (the owner is not reading it)."""
        self._lines.clear()
        if self._space is not None:
            self._space.unpark_all()

    def close(self) -> None:
        """No more lines: the writer sends what is queued, then :meth:`take_all` returns an empty list."""
        self.closed = True
        if self._space is not None:
            self._space.unpark_all()
        self._wake_reader()
