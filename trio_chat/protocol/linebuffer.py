"""Splitting a byte stream into lines, with a bound on what an unfinished line may cost (the ReadQ)."""

from __future__ import annotations

from .errors import ReadQExceeded


class LineBuffer:
    """Accumulates received bytes and hands out complete lines (CRLF or bare LF), without their ending.

    At most ``max_size`` bytes of an unfinished line are held: a peer that sends more without a line ending
    raises :class:`ReadQExceeded`, so a megabyte without a newline costs at most that bound.  A complete line may
    be longer than the message limit; the parser decides what to do with it (417), not the buffer.
    """

    __slots__ = ("_buf", "_max_size", "_scan_from")

    def __init__(self, max_size: int) -> None:
        self._buf = bytearray()
        self._max_size = max_size
        self._scan_from = 0

    def feed(self, data: bytes | bytearray) -> list[bytes]:
        """Add received bytes; return the lines they complete (each without ``\\n`` and a preceding ``\\r``)."""
        buf = self._buf
        buf += data
        lines: list[bytes] = []
        start = 0
        pos = buf.find(b"\n", self._scan_from)
        while pos != -1:
            end = pos - 1 if pos > start and buf[pos - 1] == 0x0D else pos
            lines.append(bytes(buf[start:end]))
            start = pos + 1
            pos = buf.find(b"\n", start)
        if start:
            del buf[:start]
        self._scan_from = len(buf)
        if len(buf) > self._max_size:
            raise ReadQExceeded(f"more than {self._max_size} bytes without a line ending")
        return lines

    def __len__(self) -> int:
        """Bytes of the unfinished line held now."""
        return len(self._buf)
