"""A connection's SendQ: a bounded queue of outgoing lines with one consumer, the connection's writer.

It does what a bounded trio memory channel did here, at a fraction of the cost per line (measured on W1: the
channel's ``send_nowait`` and ``receive_nowait`` were a third of the server's time; see docs/performance.md):

* fan-out calls :meth:`put_nowait`, which never waits: False means the queue is full (the owner is not reading)
  and the caller disconnects the owner (``ERROR :SendQ exceeded``);
* replies to the owner's own commands use :meth:`put`, which waits for room: backpressure on the producer;
* the writer calls :meth:`take_all`, which waits for at least one line and hands over everything queued, so a
  burst of lines costs one wake-up and one ``send`` instead of one per line.
"""

from __future__ import annotations

from collections import deque

from trio.lowlevel import Abort, ParkingLot, Task, current_task, reschedule, wait_task_rescheduled


class SendQueue:
    __slots__ = ("_lines", "_reader", "_space", "closed", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.closed = False
        self._lines: deque[bytes] = deque()
        self._reader: Task | None = None
        self._space = ParkingLot()

    def __len__(self) -> int:
        return len(self._lines)

    def put_nowait(self, line: bytes) -> bool:
        """Queue ``line`` without waiting; False when the queue is full.  After :meth:`close`, lines vanish."""
        lines = self._lines
        if len(lines) >= self.limit:
            return False
        if not self.closed:
            lines.append(line)
            reader = self._reader
            if reader is not None:
                self._reader = None
                reschedule(reader)
        return True

    async def put(self, line: bytes) -> None:
        """Queue ``line``, waiting while the queue is full."""
        while len(self._lines) >= self.limit and not self.closed:
            await self._space.park()
        self.put_nowait(line)

    async def take_all(self) -> list[bytes]:
        """Wait for at least one line and take every line queued; an empty list once closed and drained."""
        while not self._lines:
            if self.closed:
                return []
            self._reader = current_task()

            def abort(_: object) -> Abort:
                self._reader = None
                return Abort.SUCCEEDED

            await wait_task_rescheduled(abort)
        taken = list(self._lines)
        self._lines.clear()
        if self._space:
            self._space.unpark_all()
        return taken

    def clear(self) -> None:
        """Drop everything queued (the owner is not reading it)."""
        self._lines.clear()
        self._space.unpark_all()

    def close(self) -> None:
        """No more lines: the writer sends what is queued, then :meth:`take_all` returns an empty list."""
        self.closed = True
        self._space.unpark_all()
        reader = self._reader
        if reader is not None:
            self._reader = None
            reschedule(reader)

