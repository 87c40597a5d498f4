"""An accepted IRC WebSocket as a :class:`trio.abc.Stream` of IRC lines, so the server's Session serves it unchanged.

hypercorn and starlette serve the page and answer the WebSocket handshake (Origin, subprotocol).  Once a
handshake is accepted, the connection is handed over (:class:`HandOff`): from then on its bytes are read and
written here, wsproto's ``Connection`` parsing what the browser sends and :class:`Framer` framing what the server
sends.  Through ASGI each frame was an awaited ``send`` (a lock, a shielded socket write and several task switches
in hypercorn), which made a WebSocket recipient cost the server dozens of times what a TCP one costs per delivery.
Here a WebSocket is written as a TCP connection is: the flusher writes everything queued for it in a scheduler batch
with one non-blocking write (:meth:`SocketWebSocketStream.try_write`), one frame per line, no task switch.

Reading: hypercorn's reader task goes on reading the socket (it is the only reader; trio allows one), and
:meth:`HandOff.receive_some` passes what it reads to :meth:`WebSocketStream.feed` instead of to hypercorn.  Each
message becomes one line with ``\\r\\n`` appended, so the session's line buffer, ReadQ and parser treat it exactly
as bytes from a TCP client (a message with a CRLF inside is two lines, an over-long one gets 417 or ``ReadQ
exceeded``).  Pings are answered, a close is answered and ends the input, and a message over ``max_message`` bytes
closes the WebSocket with 1009.  While the session has ``READ_AHEAD`` bytes it has not taken, the socket is not
read: a client that floods meets TCP's backpressure, as over plain TCP.

Writing: the bytes the session sends (whole lines) become one frame per line, text frames for
``text.ircv3.net`` (a line that is not UTF-8 has its bad bytes replaced: a browser would drop the connection) or
binary frames for ``binary.ircv3.net``.  A write that the kernel takes only part of leaves the rest of a frame
(``_rest``) to whoever writes next, the session's writer task or a control frame (pong, close), so frames never
interleave.  A peer that stops reading is cut by :meth:`aclose` after ``CLOSE_TIMEOUT``: the session drops it
(``SendQ exceeded``) and cleans up as it does a TCP one.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Callable
from typing import Any

import trio
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.extensions import Extension

CLOSE_TIMEOUT = 1.0
"""Seconds :meth:`WebSocketStream.aclose` gives the close handshake before the TCP connection is cut."""
READ_AHEAD = 65536
"""Bytes of received lines held for the session before the socket is no longer read (backpressure)."""

TEXT = 0x1
BINARY = 0x2
_FIN = 0x80
_CRLF = b"\r\n"


def frame_header(opcode: int, size: int) -> bytes:
    """The header of an unmasked, final server frame of ``size`` payload bytes (RFC 6455, 5.2)."""
    first = _FIN | opcode
    if size < 126:
        return bytes((first, size))
    if size < 65536:
        return struct.pack("!BBH", first, 126, size)
    return struct.pack("!BBQ", first, 127, size)


class Framer:
    """Cuts what the session sends (CRLF-ended lines) into one WebSocket frame per line."""

    __slots__ = ("_headers", "binary", "opcode")

    def __init__(self, *, binary: bool) -> None:
        self.binary = binary
        self.opcode = BINARY if binary else TEXT
        self._headers: dict[int, bytes] = {}
        """Headers by payload size: IRC lines have a few hundred sizes, so each header is built once."""

    def header(self, size: int) -> bytes:
        head = self._headers.get(size)
        if head is None:
            head = self._headers[size] = frame_header(self.opcode, size)
        return head

    def split(self, data: bytes) -> tuple[list[bytes], list[bytes]]:
        """``data``'s lines (the last is b"" when ``data`` ends with CRLF, as everything the session sends does),
        and the payloads of their frames: the lines themselves, unless a text frame needs bad UTF-8 replaced."""
        lines = data.split(_CRLF)
        if self.binary or data.isascii():
            return lines, lines
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return lines, [line.decode("utf-8", "replace").encode("utf-8") for line in lines]
        return lines, lines

    def encode(self, payloads: list[bytes]) -> bytes:
        """The frames of ``payloads`` (an empty one is no frame), as one piece of bytes."""
        headers = self._headers
        parts: list[bytes] = []
        append = parts.append
        for payload in payloads:
            if payload:
                size = len(payload)
                head = headers.get(size)
                if head is None:
                    head = self.header(size)
                append(head)
                append(payload)
        return b"".join(parts)


class WebSocketStream(trio.abc.Stream):
    """IRC lines over one accepted WebSocket on ``inner`` (a TCP or TLS stream), written with ``send_all``."""

    def __init__(
        self,
        inner: trio.abc.Stream,
        *,
        binary: bool,
        socket: trio.socket.SocketType,
        secure: bool,
        abort: Callable[[], None],
        max_message: int,
        extensions: list[Extension] | None = None,
        client: str | None = None,
    ) -> None:
        self._inner = inner
        self._fd = inner.socket.fileno() if isinstance(inner, trio.SocketStream) else -1
        """The socket's descriptor for :meth:`SocketWebSocketStream.try_write` (-1 under TLS: none)."""
        self.client = client
        """The browser's address as a trusted reverse proxy gave it (``web_proxies``), or None: the socket's peer."""
        self.binary = binary
        self.socket = socket
        """The TCP socket under the WebSocket: where the peer's address comes from (``peer_host``)."""
        self.secure = secure
        """Whether the WebSocket runs over TLS (``wss:``), for ``User.secure``."""
        self._abort = abort
        self._max_message = max_message
        self._framer = Framer(binary=binary)
        self._ws = Connection(ConnectionType.SERVER, extensions)
        # reading
        self._pending = bytearray()
        self._message = bytearray()
        self._readable = trio.Event()
        self._drained = trio.Event()
        self._eof = False
        self._input_over = trio.Event()
        # writing
        self._lock = trio.Lock()
        self._rest: bytes | None = None
        """The unwritten end of a frame that a non-blocking write began; written before anything else."""
        self._skip_line = False
        """``_rest`` was written by a control frame: the next ``send_all`` starts with that frame's line."""
        self._broken = False
        """A write failed or was cancelled part-way: nothing more can be framed on this connection."""
        self._closed = False

    # ---- reading: fed by the connection's reader ------------------------------------------------------------

    async def feed(self, data: bytes) -> bool:
        """Take bytes read from the connection (b"": the peer closed it); False once the WebSocket's input is over."""
        if self._input_over.is_set():
            return False
        ws = self._ws
        ws.receive_data(data or None)
        for event in ws.events():
            if isinstance(event, (TextMessage, BytesMessage)):
                payload = event.data
                self._message += payload.encode("utf-8") if isinstance(payload, str) else payload
                if len(self._message) > self._max_message:
                    self._end_input()
                    await self._send_close(1009, "message too big")
                    return False
                if event.message_finished:
                    self._pending += self._message
                    self._pending += _CRLF
                    self._message.clear()
                    self._readable.set()
            elif isinstance(event, Ping):
                if ws.state is ConnectionState.OPEN:
                    await self._send_control(ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self._end_input()
                if ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                    await self._send_control(ws.send(CloseConnection(event.code, event.reason)))
                return False
        if not data:
            self._end_input()
            return False
        while len(self._pending) >= READ_AHEAD and not self._closed:
            self._drained = trio.Event()
            await self._drained.wait()
        return True

    def _end_input(self) -> None:
        self._eof = True
        self._readable.set()
        self._input_over.set()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._closed:
            raise trio.ClosedResourceError("the WebSocket stream was closed")
        if self._pending or self._eof:
            await trio.lowlevel.checkpoint()
        while not self._pending and not self._eof:
            self._readable = trio.Event()
            await self._readable.wait()
            if self._closed:
                raise trio.ClosedResourceError("the WebSocket stream was closed")
        pending = self._pending
        if max_bytes is None or max_bytes >= len(pending):
            chunk = bytes(pending)
            pending.clear()
        else:
            chunk = bytes(pending[:max_bytes])
            del pending[:max_bytes]
        if len(pending) < READ_AHEAD:
            self._drained.set()
        return chunk

    # ---- writing --------------------------------------------------------------------------------------------

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the WebSocket stream was closed")
        async with self._lock:
            if self._broken or self._ws.state is not ConnectionState.OPEN:
                raise trio.BrokenResourceError("the WebSocket is closed")
            _, payloads = self._framer.split(bytes(data))
            out = self._take_rest()
            if self._skip_line:
                self._skip_line = False
                payloads = payloads[1:]
            await self._write(out + self._framer.encode(payloads))

    async def wait_send_all_might_not_block(self) -> None:
        await self._inner.wait_send_all_might_not_block()

    def _take_rest(self) -> bytes:
        """The end of a frame begun by a non-blocking write (the caller writes it first), or b""."""
        rest = self._rest
        if rest is None:
            return b""
        self._rest = None
        self._skip_line = True
        return rest

    async def _write(self, out: bytes) -> None:
        if not out:
            await trio.lowlevel.checkpoint()
            return
        try:
            await self._inner.send_all(out)
        except BaseException:
            self._broken = True  # part of a frame may be out: nothing can follow it
            raise

    async def _send_control(self, frame: bytes) -> None:
        """Write a control frame (pong, close) after whatever frame is under way."""
        async with self._lock:
            if self._broken:
                return
            # The peer being gone is not this write's to report: the session hears it from its own write or read.
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                await self._write(self._take_rest() + frame)

    async def _send_close(self, code: int, reason: str | None = None) -> None:
        if self._ws.state is ConnectionState.OPEN:
            await self._send_control(self._ws.send(CloseConnection(code, reason)))

    async def aclose(self) -> None:
        """Close the WebSocket (1000) and wait for the peer's answer; cut the TCP connection after it, or after
        CLOSE_TIMEOUT when the peer does not read, or when this is cancelled."""
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._closed = True
        self._readable.set()
        self._drained.set()
        try:
            with trio.move_on_after(CLOSE_TIMEOUT):
                await self._send_close(1000)
                if not self._broken:
                    await self._input_over.wait()
        finally:
            self._abort()


class SocketWebSocketStream(WebSocketStream):
    """A WebSocket over plain TCP: the flusher writes it directly, as it writes a TCP socket (``outbound``)."""

    def try_write(self, data: bytes) -> int:
        """Write ``data``'s frames at once; how many bytes of ``data`` are done (see ``outbound.Transport``).

        Lines whose frames are written count as done.  When the kernel takes part of a frame, the rest of that
        frame is kept (``_rest``) and its line is not counted: the writer task's ``send_all`` gets it back first
        and writes the kept rest in its place.  Nothing is written while the writer or a control frame holds the
        connection: then it all goes to the writer task.
        """
        if self._lock.locked() or self._rest is not None or self._broken or self._closed:
            return 0
        framer = self._framer
        lines, payloads = framer.split(data)
        out = framer.encode(payloads)
        try:
            written = os.write(self._fd, out)
        except OSError:  # BlockingIOError (buffer full), or a broken connection the writer will report
            return 0
        if written == len(out):
            return len(data)
        done = 0
        position = 0
        last = len(lines) - 1
        for index, payload in enumerate(payloads):
            if payload:
                end = position + len(framer.header(len(payload))) + len(payload)
                if end > written:
                    if position < written:
                        self._rest = out[written:end]
                    break
                position = end
            done += len(lines[index]) + (2 if index < last else 0)
        return done


def websocket_stream_class(inner: trio.abc.Stream) -> type[WebSocketStream]:
    """The stream class for an accepted WebSocket on ``inner``: over plain TCP, one the flusher writes directly."""
    return SocketWebSocketStream if isinstance(inner, trio.SocketStream) else WebSocketStream


class HandOff(trio.abc.Stream):
    """The stream hypercorn serves a web connection on, which an accepted IRC WebSocket takes over.

    Until :meth:`take` it passes everything through.  After it, what hypercorn's reader reads goes to the
    WebSocket (:meth:`WebSocketStream.feed`) and hypercorn sees the end of the connection when the WebSocket's
    input is over; after :meth:`drop_writes` (once the handshake's response is out) hypercorn's writes, such as a
    close frame of its own when the ASGI app returns, are dropped: the WebSocket has written its own.
    """

    def __init__(self, inner: trio.SocketStream | trio.SSLStream[trio.SocketStream]) -> None:
        self.inner = inner
        self._to: WebSocketStream | None = None
        self._writes_dropped = False

    def __getattr__(self, name: str) -> Any:
        # hypercorn asks its stream for ``socket``, or for ``do_handshake`` and ``transport_stream`` under TLS.
        return getattr(self.inner, name)

    def take(self, stream: WebSocketStream) -> None:
        self._to = stream

    def drop_writes(self) -> None:
        self._writes_dropped = True

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        while True:
            data = await self.inner.receive_some(max_bytes)
            to = self._to
            if to is None:
                return data
            if not await to.feed(bytes(data)):
                return b""

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._writes_dropped:
            await trio.lowlevel.checkpoint()
            return
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.inner.aclose()
