"""Fakes for driving the server's state without tasks or sockets: a SendQ that is a list, an outbox that records."""

from __future__ import annotations

from collections.abc import Callable

import trio

from trio_chat.server.history import StoredMessage


class FakeSendQ:
    """A SendQ with room for ``size`` lines (``state.SendQ``); :meth:`take` plays the flusher."""

    def __init__(self, size: int = 1000) -> None:
        self.size = size
        self.lines: list[bytes] = []
        self.queued = 0
        self.readies = 0

    def send_nowait(self, line: bytes) -> None:
        if len(self.lines) >= self.size:
            raise trio.WouldBlock
        self.lines.append(line)

    def ready(self) -> None:
        self.readies += 1

    def take(self) -> list[bytes]:
        """What a flusher would write now (and it empties the queue)."""
        taken, self.lines = self.lines, []
        self.queued = 0
        self.readies = 0
        return taken


class FakeOutbox:
    """The connection as the state sees it (``state.Outbox``): records a request to close."""

    def __init__(self) -> None:
        self.closed: str | None = None
        self.aborted = False

    def close(self, reason: str, *, abort: bool = False) -> None:
        self.closed = reason
        self.aborted = abort

    def receipt(self) -> Callable[[StoredMessage | None], None]:
        raise AssertionError("no history in these tests: nothing asks for a receipt")
