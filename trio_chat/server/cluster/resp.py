"""RESP2, the Redis wire protocol, for the two hot connections of a node (no I/O here; ``link.py`` does it).

A node's writer appends its messages and log entries, and its reader issues the blocking ``XREAD``, on links of
their own that speak RESP2 directly: a command is packed into bytes in the task that produced it and sent at once,
without waiting for the previous batch's reply, and a reply is parsed in the task that waits for it.  Everything
else (snapshots, heartbeats, the first catch-up) still goes through coredis.
"""

from __future__ import annotations

from typing import Any

Arg = bytes | str | int


class RespError(Exception):
    """An error reply from Redis (``-ERR ...``), returned in place of the value it stands for."""


class RespProtocolError(Exception):
    """Bytes that are not RESP2: the link cannot be trusted any more."""


class _Short(Exception):
    """Not enough bytes yet for a whole reply."""


INCOMPLETE: Any = object()
"""What :meth:`Parser.next` returns while a reply is not complete."""


def pack(*args: Arg) -> bytes:
    """One command as a RESP2 array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class Parser:
    """Replies parsed from the bytes fed to it, in order: bulk strings as bytes, a nil as None, integers as int,
    simple strings as bytes, arrays as lists, errors as :class:`RespError` values."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._pos = 0

    def feed(self, data: bytes | bytearray) -> None:
        if self._pos:
            del self._buffer[: self._pos]
            self._pos = 0
        self._buffer += data

    def next(self) -> Any:
        """The next whole reply, or :data:`INCOMPLETE`."""
        try:
            value, self._pos = self._parse(self._pos)
        except _Short:
            return INCOMPLETE
        return value

    def _parse(self, pos: int) -> tuple[Any, int]:
        buffer = self._buffer
        end = buffer.find(b"\r\n", pos)
        if end < 0:
            raise _Short
        kind = buffer[pos]
        line = bytes(buffer[pos + 1 : end])
        pos = end + 2
        if kind == 36:  # $ bulk string
            size = int(line)
            if size < 0:
                return None, pos
            if len(buffer) < pos + size + 2:
                raise _Short
            return bytes(buffer[pos : pos + size]), pos + size + 2
        if kind == 42:  # * array
            count = int(line)
            if count < 0:
                return None, pos
            items = []
            for _ in range(count):
                item, pos = self._parse(pos)
                items.append(item)
            return items, pos
        if kind == 58:  # : integer
            return int(line), pos
        if kind == 43:  # + simple string
            return line, pos
        if kind == 45:  # - error
            return RespError(line.decode("utf-8", "replace")), pos
        raise RespProtocolError(f"not a RESP2 reply: {bytes(buffer[pos - len(line) - 3 : end])!r}")


def stream_entries(reply: Any) -> list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]:
    """An ``XREAD`` reply as (stream key, [(entry id, fields)]) in Redis's order; an empty list for a nil."""
    if reply is None:
        return []
    out = []
    for key, entries in reply:
        out.append((key, [(entry_id, dict(zip(flat[::2], flat[1::2], strict=True))) for entry_id, flat in entries]))
    return out
