"""One IRC client for the tests and the benchmarks: lines over any trio stream, parsed by ``trio_chat.protocol``.

It speaks over whatever :class:`trio.abc.Stream` it is given: one end of a memory stream pair wired to an
in-process server (the tests), a TCP connection (:meth:`IRCClient.connect_tcp`: the real-socket tests and the
benchmarks), a TLS stream or a WebSocket adapter.  Reading is pull-based: nothing is read until a caller asks,
so what the server sent waits in the stream, as it would in a socket's buffer.

Two ways to read:

* parsed, with a deadline: :meth:`~IRCClient.next_message`, :meth:`~IRCClient.expect` (skip until a match),
  :meth:`~IRCClient.expect_next`, :meth:`~IRCClient.collect_until` (everything up to a match, e.g. a numeric),
  :meth:`~IRCClient.expect_closed`;
* raw, for a load generator with thousands of connections that only looks at a few bytes of most lines:
  :meth:`~IRCClient.receive_lines`.

A match is a regular expression searched in the message's canonical line (``Message.to_line()``), or a
predicate on the :class:`~trio_chat.protocol.Message`; :func:`command` makes the common predicate.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import TypeAlias

import trio

from trio_chat.protocol import LineBuffer, Message, parse_line

TIMEOUT = 5.0
"""How long a read waits for what it expects (virtual seconds in tests under ``autojump_clock``)."""
MAX_UNFINISHED = 1 << 20
"""Bytes of an unfinished line held before the peer counts as broken."""
PARSE_LIMIT = 1 << 16
"""Tag and body bytes the parser accepts: the client checks what the server sends, not the server's own limits."""
UNMATCHED_LIMIT = 500
"""Lines :meth:`IRCClient.expect` skips before it gives up and shows the last of them."""

Match: TypeAlias = str | Callable[[Message], bool]
"""What a read waits for: a regular expression searched in the line, or a predicate on the message."""


def command(*names: str) -> Callable[[Message], bool]:
    """A predicate: the message's command (a verb or a three-digit numeric) is one of ``names``."""
    wanted = frozenset(name.upper() for name in names)
    return lambda message: message.command in wanted


def matcher(match: Match) -> Callable[[Message], bool]:
    """``match`` as a predicate on a message."""
    if callable(match):
        return match
    regex = re.compile(match)
    return lambda message: regex.search(message.to_line()) is not None


def registration(nick: str, *, username: str | None = None, realname: str | None = None) -> bytes:
    """The ``NICK`` and ``USER`` lines that register ``nick`` (real name: ``Nick Person`` unless given)."""
    user = username or nick
    real = realname if realname is not None else f"{nick.title()} Person"
    return f"NICK {nick}\r\nUSER {user} 0 * :{real}\r\n".encode()


class IRCClient:
    """One connection, speaking IRC line by line."""

    def __init__(self, stream: trio.abc.Stream, name: str = "client", *, auto_pong: bool = False) -> None:
        self.stream = stream
        self.name = name
        """Shown in failure messages."""
        self.auto_pong = auto_pong
        """Answer each PING as it is read, and do not hand it out (a connection that outlives the server's ping
        interval between reads); off by default, so that tests see the server's PINGs."""
        self.closed = False
        """The server ended the stream."""
        self._buffer = LineBuffer(MAX_UNFINISHED)
        self._lines: deque[bytes] = deque()

    @classmethod
    async def connect_tcp(
        cls,
        host: str,
        port: int,
        name: str = "client",
        *,
        rcvbuf: int | None = None,
        mss: int | None = None,
        auto_pong: bool = False,
    ) -> IRCClient:
        """A TCP connection to ``host``:``port``; ``rcvbuf`` and ``mss`` set the socket's receive buffer and maximum
        segment size before it connects (a small one makes a slow reader whose kernel buffers fill quickly)."""
        if rcvbuf is None and mss is None:
            return cls(await trio.open_tcp_stream(host, port), name, auto_pong=auto_pong)
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM)
        try:
            if rcvbuf is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            if mss is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
            await sock.connect((host, port))
        except BaseException:
            sock.close()
            raise
        return cls(trio.SocketStream(sock), name, auto_pong=auto_pong)

    # ---- sending ------------------------------------------------------------------------------------------------

    async def send(self, *lines: str | bytes) -> None:
        """Send each line with a CRLF after it, in one write."""
        data = b"".join((line.encode() if isinstance(line, str) else line) + b"\r\n" for line in lines)
        await self.stream.send_all(data)

    async def send_raw(self, data: bytes) -> None:
        """Send ``data`` as it is: part of a line, several lines, or bytes that are no line at all."""
        await self.stream.send_all(data)

    # ---- reading ------------------------------------------------------------------------------------------------

    async def receive_lines(self) -> list[bytes]:
        """The complete lines already received and not read, or else those the next data brings (waits for it);
        ``[]`` once the server has ended the stream.  Lines come without their CRLF and unparsed."""
        if self._lines:
            lines = list(self._lines)
            self._lines.clear()
            return lines
        while True:
            data = await self.stream.receive_some(65536)
            if not data:
                self.closed = True
                return []
            lines = self._buffer.feed(data)
            if lines:
                return lines

    async def next_line(self) -> bytes:
        """The next line, unparsed; EOFError when the server has ended the stream."""
        while not self._lines:
            lines = await self.receive_lines()
            if not lines:
                raise EOFError(f"{self.name}: connection closed")
            self._lines.extend(lines)
        return self._lines.popleft()

    async def next_message(self) -> Message:
        """The next line, parsed; EOFError when the server has ended the stream."""
        while True:
            message = parse_line(await self.next_line(), max_tag_bytes=PARSE_LIMIT, max_body_bytes=PARSE_LIMIT)
            if not (self.auto_pong and message.command == "PING"):
                return message
            await self.send_raw(Message("PONG", message.params).to_bytes())

    async def expect(self, match: Match, *, within: float = TIMEOUT) -> Message:
        """Skip lines until one matches; return it.  trio.TooSlowError after ``within`` seconds."""
        wanted = matcher(match)
        seen: list[str] = []
        with trio.fail_after(within):
            while True:
                message = await self.next_message()
                if wanted(message):
                    return message
                seen.append(message.to_line())
                if len(seen) > UNMATCHED_LIMIT:
                    raise AssertionError(f"{self.name}: {match!r} not seen in {seen[-20:]}")

    async def expect_next(self, match: Match, *, within: float = TIMEOUT) -> Message:
        """The very next line must match."""
        with trio.fail_after(within):
            message = await self.next_message()
        assert matcher(match)(message), f"{self.name}: expected {match!r}, got {message.to_line()!r}"
        return message

    async def collect_until(self, match: Match, *, within: float = TIMEOUT) -> list[Message]:
        """Every line up to and including the first that matches (a numeric that ends a reply, say)."""
        wanted = matcher(match)
        out: list[Message] = []
        with trio.fail_after(within):
            while True:
                message = await self.next_message()
                out.append(message)
                if wanted(message):
                    return out

    async def expect_closed(self, *, within: float = TIMEOUT) -> list[Message]:
        """Read until the server ends the stream; return what came before."""
        out: list[Message] = []
        with trio.fail_after(within):
            while True:
                try:
                    out.append(await self.next_message())
                except EOFError:
                    return out

    async def sync(self) -> None:
        """Round-trip a PING, so that everything the server queued for us before it has been read."""
        await self.send("PING :sync-token")
        await self.expect(r"PONG \S+ :?sync-token")

    # ---- whole exchanges ----------------------------------------------------------------------------------------

    async def register(
        self,
        nick: str,
        *,
        caps: str = "",
        username: str | None = None,
        realname: str | None = None,
        within: float = TIMEOUT,
    ) -> None:
        """Negotiate ``caps`` (if any), register as ``nick`` and read through the end of the MOTD."""
        if caps:
            await self.send("CAP LS 302")
            await self.expect(r" CAP \S+ LS ", within=within)
            await self.send(f"CAP REQ :{caps}")
            await self.expect(r" CAP \S+ ACK ", within=within)
        await self.send_raw(registration(nick, username=username, realname=realname))
        if caps:
            await self.send("CAP END")
        await self.expect(command("001"), within=within)
        await self.expect(command("376", "422"), within=within)

    async def aclose(self, *, reset: bool = False) -> None:
        """Close the connection; with ``reset``, a TCP connection ends with a reset instead of a FIN."""
        if reset and isinstance(self.stream, trio.SocketStream):
            with contextlib.suppress(OSError):
                self.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await trio.aclose_forcefully(self.stream)
