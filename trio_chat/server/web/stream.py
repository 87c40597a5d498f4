"""A WebSocket connection as a :class:`trio.abc.Stream` of IRC lines, so the server's Session serves it unchanged.

The IRCv3 WebSocket transport carries one IRC line per message, without the CRLF.  Reading, each message is
handed on with ``\\r\\n`` appended, so the session's line buffer, ReadQ and parser treat it exactly as bytes from
a TCP client (a message with a CRLF inside is two lines, an over-long one gets 417 or ``ReadQ exceeded``).
Writing, the bytes the session sends (whole lines) are cut at each CRLF into one message per line.

Writes go through a pump task (:meth:`WebSocketStream.run_pump`) rather than straight to the ASGI ``send``:
hypercorn shields its socket writes from cancellation, so a peer that stops reading would hold the writing task
forever.  The session's writer waits for the pump, cancellably, like it waits for a socket; when the session
closes the stream and the pump is stuck, :meth:`aclose` aborts the TCP connection under the WebSocket, which
ends the shielded write.  So a non-reading WebSocket client is dropped (``SendQ exceeded``) and cleaned up like
a TCP one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import trio

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CLOSE_TIMEOUT = 1.0
"""Seconds :meth:`WebSocketStream.aclose` gives the pump to send what it holds and the close frame."""


class WebSocketStream(trio.abc.Stream):
    """IRC lines over one accepted ASGI WebSocket (``binary``: binary messages out, else text)."""

    def __init__(
        self,
        receive: Receive,
        send: Send,
        *,
        binary: bool,
        socket: trio.socket.SocketType,
        secure: bool,
        abort: Callable[[], None],
    ) -> None:
        self._receive = receive
        self._send = send
        self.binary = binary
        self.socket = socket
        """The TCP socket under the WebSocket: where the peer's address comes from (``peer_host``)."""
        self.secure = secure
        """Whether the WebSocket runs over TLS (``wss:``), for ``User.secure``."""
        self._abort = abort
        self._pending = bytearray()
        self._eof = False
        self._closed = False
        self._to_pump, self._from_session = trio.open_memory_channel[tuple[int, bytes]](0)
        self._queued = 0
        self._written = 0
        self._written_event = trio.Event()
        self._pump_done = trio.Event()
        self._partial = b""

    # ---- reading --------------------------------------------------------------------------------------------

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._closed:
            raise trio.ClosedResourceError("the WebSocket stream was closed")
        if not self._pending:
            if self._eof:
                await trio.lowlevel.checkpoint()
                return b""
            message = await self._receive()
            if message["type"] != "websocket.receive":  # websocket.disconnect
                self._eof = True
                return b""
            data = message.get("bytes")
            if data is None:
                data = str(message.get("text") or "").encode("utf-8")
            self._pending += data
            self._pending += b"\r\n"
        size = len(self._pending) if max_bytes is None else max_bytes
        chunk = bytes(self._pending[:size])
        del self._pending[:size]
        return chunk

    # ---- writing --------------------------------------------------------------------------------------------

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Hand ``data`` to the pump and wait until it is written (or the peer is gone: BrokenResourceError)."""
        if self._closed:
            raise trio.ClosedResourceError("the WebSocket stream was closed")
        self._queued += 1
        number = self._queued
        try:
            await self._to_pump.send((number, bytes(data)))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise trio.BrokenResourceError("the WebSocket is closed") from None
        while self._written < number:
            if self._pump_done.is_set():
                raise trio.BrokenResourceError("the WebSocket is closed")
            await self._written_event.wait()

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    def _frames(self, data: bytes) -> list[Message]:
        lines = (self._partial + data).split(b"\r\n")
        self._partial = lines.pop()
        if self.binary:
            return [{"type": "websocket.send", "bytes": line} for line in lines if line]
        # The text subprotocol needs UTF-8; what the server sends is, but a bad byte must not end the connection.
        return [{"type": "websocket.send", "text": line.decode("utf-8", "replace")} for line in lines if line]

    def _wake_writers(self) -> None:
        self._written_event.set()
        self._written_event = trio.Event()

    async def run_pump(self) -> None:
        """Send what :meth:`send_all` hands over, one message per line, then the close frame; until closed."""
        try:
            async with self._from_session:
                async for number, data in self._from_session:
                    for frame in self._frames(data):
                        await self._send(frame)
                    self._written = number
                    self._wake_writers()
                await self._send({"type": "websocket.close", "code": 1000})
        except Exception:  # the server refused a send: the peer is gone, which the session hears as a broken write
            pass
        finally:
            self._pump_done.set()
            self._wake_writers()

    async def aclose(self) -> None:
        """Let the pump finish and close the WebSocket; if it cannot within CLOSE_TIMEOUT (the peer does not read)
        or this is cancelled, abort the TCP connection."""
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._closed = True
        self._to_pump.close()
        try:
            with trio.move_on_after(CLOSE_TIMEOUT):
                await self._pump_done.wait()
        finally:
            if not self._pump_done.is_set():
                self._abort()
