"""One connection = one nursery with a reader (this task), a writer and a keepalive.

When the reader ends (QUIT, EOF, a timeout, a limit, or a close from elsewhere), the keepalive is cancelled,
the user is taken off the network, the writer sends what is queued and then the ERROR line within the grace
period, and the stream is closed: nothing of a connection outlives its nursery.  Every outgoing line goes
through the connection's SendQ, a bounded trio memory channel (``outbound.py``): fan-out uses ``send_nowait``
(a full SendQ disconnects its owner), replies to the client's own commands wait for room (backpressure on the
producer), and the flusher or the writer sends what is queued in one write.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from collections.abc import Callable

import trio

from ..protocol import EmptyLine, InvalidUTF8, LineBuffer, ProtocolError, ReadQExceeded, caps, parse_line
from ..protocol import numerics as N
from ..protocol.message import Message
from . import response
from .commands import dispatch
from .config import ServerConfig
from .flood import TokenBucket
from .history import StoredMessage
from .outbound import Flusher, SendQ, transport_for
from .relay import VARIANT_TIME
from .state import Network

log = logging.getLogger("trio_chat.server")

RECEIVE_SIZE = 65536


def tls_handshake_failure(exc: BaseException) -> str | None:
    """Why a TLS handshake failed (``wrong version number``: the peer does not speak TLS), from the SSLError trio
    raises the BrokenResourceError from; None when no SSLError caused ``exc``."""
    cause = exc.__cause__ or exc.__context__
    if not isinstance(cause, ssl.SSLError):
        return None
    reason = getattr(cause, "reason", None)
    return reason.lower().replace("_", " ") if isinstance(reason, str) else str(cause)


def certfp_of(stream: trio.abc.Stream) -> str | None:
    """The SHA-256 fingerprint (lower-case hex) of the TLS client certificate, if one was accepted."""
    if not isinstance(stream, trio.SSLStream):
        return None
    try:
        der = stream.getpeercert(binary_form=True)
    except (ValueError, AttributeError, trio.NeedHandshakeError):
        return None
    return hashlib.sha256(der).hexdigest() if der else None


class Session:
    """A client connection: implements the :class:`~.state.Outbox` the state asks to close it through."""

    def __init__(
        self, config: ServerConfig, network: Network, flusher: Flusher, stream: trio.abc.Stream, host: str
    ) -> None:
        self.config = config
        self.network = network
        self.flusher = flusher
        self.stream = stream
        self.sendq = SendQ(config.sendq_lines)
        self.user = network.add_connection(host, self, self.sendq)
        self._tls_unchecked = isinstance(stream, trio.SSLStream)
        # A WebSocket over TLS (web/stream.py) says so itself.
        self.user.secure = self._tls_unchecked or getattr(stream, "secure", False) is True
        self.id = self.user.id
        self.close_reason: str | None = None
        self._abort = False
        self._dispatching = False
        self._read_scope = trio.CancelScope()
        self.last_received = trio.current_time()
        self._buffer = LineBuffer(config.readq_bytes)
        self._backlog: list[bytes] = []
        """Lines received and not yet handled, from ``_next`` on (they wait while flood control slows the
        client).  A list and an index, not a deque: a deque's first block costs 600 bytes per connection."""
        self._next = 0
        self._eof = False
        self._keepalive_scope = trio.CancelScope()
        self._uncommitted = 0
        """Messages of the command just run that the store has not committed yet."""
        self._committed: trio.Event | None = None

    # ---- Outbox -------------------------------------------------------------------------------------------

    def close(self, reason: str, *, abort: bool = False) -> None:
        if self.close_reason is None:
            self.close_reason = reason
        self._abort = self._abort or abort
        if not self._dispatching or abort:
            self._read_scope.cancel()

    def receipt(self) -> Callable[[StoredMessage | None], None]:
        self._uncommitted += 1
        return self._on_commit

    def _on_commit(self, stored: StoredMessage | None) -> None:
        # None: the store failed (it logs that once, and that echoes are no receipts until it recovers); the
        # echo is sent all the same, the chat goes on.
        self._uncommitted -= 1
        if not self._uncommitted and self._committed is not None:
            self._committed.set()

    # ---- tasks --------------------------------------------------------------------------------------------

    async def run(self) -> None:
        network = self.network
        sendq = self.sendq
        log.info("[%d] connection from %s", self.id, self.user.host)
        try:
            async with trio.open_nursery() as nursery:
                sendq.attach(self.flusher, transport_for(self.stream))
                nursery.start_soon(self._write_loop)
                nursery.start_soon(self._keepalive)
                try:
                    with self._read_scope:
                        await self._read_loop()
                except Exception:
                    log.exception("[%d] internal error; dropping the connection", self.id)
                    self.close("Internal server error", abort=True)
                self._keepalive_scope.cancel()
                reason = self.close_reason or "Connection closed"
                network.remove_user(self.user, reason)
                if self._abort:
                    # The peer is not reading (or cannot be written to): what is queued is dropped, so a
                    # stalled connection costs no more memory than its SendQ, ever.
                    sendq.clear()
                # The writer finishes the send under way, then sends the ERROR line, within the grace period.
                nursery.cancel_scope.deadline = trio.current_time() + self.config.shutdown_grace
                await sendq.send(Message("ERROR", (reason,)).to_bytes())
                sendq.close()
        finally:
            sendq.detach()
            reason = self.close_reason or "Connection closed"
            network.remove_user(self.user, reason)
            # A graceful close (TLS close_notify) if it can be had at once, a forceful one otherwise.
            with trio.move_on_after(1.0) as scope:
                scope.shield = True
                await self.stream.aclose()
            log.info("[%d] disconnected (%s): %s", self.id, self.user.nick, reason)

    async def _write_loop(self) -> None:
        """Send what the flusher cannot write directly (see :meth:`.outbound.SendQ.serve_writes`)."""
        try:
            await self.sendq.serve_writes(self.stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            self.close("Write error", abort=True)
            self.sendq.clear()

    async def _read_loop(self) -> None:
        """Read lines and handle them one at a time, in order, at the pace flood control allows.

        While a client waits for its turn the loop reads on, so a backlog of unprocessed lines is seen as it
        grows: past ``flood_max_backlog`` the client is dropped with ``ERROR :Excess flood``.
        """
        config = self.config
        bucket = TokenBucket(config.flood_burst, config.flood_rate, trio.current_time())
        limited = config.flood_rate > 0
        backlog = self._backlog
        while True:
            if self._next == len(backlog):
                if self._next:
                    backlog.clear()
                    self._next = 0
                if self._eof:
                    self.close("Connection closed")
                    return
                await self._receive()
            elif (
                limited
                and self.user.registered
                and not self._in_batch()
                and (delay := bucket.delay(trio.current_time())) > 0
            ):
                if self._eof:
                    await trio.sleep(delay)
                else:
                    with trio.move_on_after(delay):
                        await self._receive()
            else:
                # Registration is bounded by its own timeout instead.  The lines of an open multiline batch are
                # not counted one by one (a client sends a whole batch at once): the batch is billed when it
                # ends, as ergo does (``MultilineBatch.flood_cost``).
                held = self.user.multiline
                if held is not None and not held.open:
                    held = None
                if limited and self.user.registered and held is None:
                    bucket.take(trio.current_time())
                line = backlog[self._next]
                self._next += 1
                await self._handle_line(line)
                if held is not None and not (self.user.multiline is held and held.open) and limited:
                    bucket.take(trio.current_time(), held.flood_cost())
            if self.close_reason is not None:
                return

    def _in_batch(self) -> bool:
        batch = self.user.multiline
        return batch is not None and batch.open

    async def _receive(self) -> None:
        """Read once into the backlog; a closed or broken stream sets ``_eof``; limits close the connection."""
        try:
            data = await self.stream.receive_some(RECEIVE_SIZE)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self._eof = True
            if self._next == len(self._backlog):
                failure = tls_handshake_failure(exc) if self._tls_unchecked else None
                self.close(f"TLS handshake failed: {failure}" if failure else f"Read error: {exc.__class__.__name__}")
            return
        if not data:
            self._eof = True
            return
        self.last_received = trio.current_time()
        if self._tls_unchecked:
            # The handshake is complete once data came through: the client certificate (if any) is known.
            self._tls_unchecked = False
            self.user.certfp = certfp_of(self.stream)
        try:
            self._backlog.extend(self._buffer.feed(data))
        except ReadQExceeded:
            self.close("ReadQ exceeded")
            return
        waiting = len(self._backlog) - self._next
        if self.config.flood_rate > 0 and waiting > self.config.flood_max_backlog:
            log.info("[%d] %s: excess flood (%d lines waiting)", self.id, self.user.nick, waiting)
            self.close("Excess flood")

    async def _handle_line(self, raw: bytes) -> None:
        user = self.user
        label: str | None = None
        try:
            message = parse_line(raw)
        except EmptyLine:
            return
        except InvalidUTF8 as exc:
            replies = [
                Message(
                    "FAIL",
                    (exc.command, "INVALID_UTF8", "Message rejected: it is not valid UTF-8"),
                    self.config.server_name,
                ).to_bytes()
            ]
        except ProtocolError as exc:
            replies = [self._error_reply(exc)]
        else:
            label = (message.tags.get("label") or None) if message.tags else None
            cluster = self.network.cluster
            # A line of a multiline batch is never replicated: the batch is held here, and delivered line by line
            # through the ordinary path when it ends (``messaging.send_multiline``).
            if (
                cluster is not None
                and not (user.multiline is not None or (message.tags and "batch" in message.tags))
                and cluster.replicates(user, message)
            ):
                # Several nodes: the command runs on each, in the order of the network's log; its replies come
                # when this node has run it.
                replies = await cluster.submit(user, message)
            else:
                self._dispatching = True
                batch = user.multiline
                try:
                    replies = dispatch(self.network, user, message)
                finally:
                    self._dispatching = False
                if user.multiline is not batch and user.multiline is not None and user.multiline.open:
                    label = None  # BATCH +ref: answered when the batch ends
                elif batch is not None and batch.delivered and user.multiline is None:
                    # BATCH -ref: the answer (the echo) carries the label of BATCH +ref (IRCv3 multiline).
                    label = batch.label
        if self._uncommitted:
            # The command stored a message: its echo (among these replies) is the sender's receipt, so it
            # waits for the commit.  Fan-out to the others did not wait.
            self._committed = trio.Event()
            await self._committed.wait()
            self._committed = None
        # The capabilities as the command left them (a CAP REQ may have just changed them), as ergo does.
        if label is not None and not (caps.LABELED_RESPONSE in user.caps and caps.BATCH in user.caps):
            label = None
        await self._send_answer(replies, label)

    async def _send_answer(self, replies: list[bytes], label: str | None) -> None:
        """Send a command's answer, its deferred steps included (a step may defer another: a password checked,
        then a new one hashed), through the response buffer (``response.py``): server-time on every line for a
        client that negotiated it; for a labeled command the whole answer as ``ACK``, one labeled line or a
        ``labeled-response`` batch, sent once complete.  Otherwise lines go as they come, untouched when the
        client asked for no time: the common path costs no parsing."""
        user = self.user
        network = self.network
        send = self.sendq.send
        timed = bool(user.tag_variant & VARIANT_TIME)

        def finish(lines: list[bytes]) -> list[bytes]:
            return response.stamp(lines, network.server_time()) if timed else lines

        if label is None:
            for line in finish(replies):
                await send(line)
            while (deferred := user.deferred) is not None:
                user.deferred = None
                for line in finish(await deferred()):
                    await send(line)
            return
        answer = finish(replies)
        while (deferred := user.deferred) is not None:
            user.deferred = None
            answer = answer + finish(await deferred())
        for line in response.labeled(
            answer,
            label,
            server=self.config.server_name,
            new_batch_id=network.next_batch_id,
            time=network.server_time() if timed else None,
        ):
            await send(line)

    def _error_reply(self, exc: ProtocolError) -> bytes:
        nick = self.user.nick
        if exc.numeric == N.ERR_INPUTTOOLONG:
            params: tuple[str, ...] = (nick, "Input line was too long")
        else:
            params = (nick, exc.command, f"Malformed message: {exc.message}")
        return Message(exc.numeric or N.ERR_UNKNOWNERROR, params, self.config.server_name).to_bytes()

    async def _keepalive(self) -> None:
        """Drop a connection that never registers; PING a silent one and drop it if nothing comes back."""
        with self._keepalive_scope:
            await trio.sleep(self.config.registration_timeout)
            if not self.user.registered:
                self.close("Registration timed out")
                return
            interval, timeout = self.config.ping_interval, self.config.ping_timeout
            while True:
                idle = trio.current_time() - self.last_received
                if idle < interval:
                    await trio.sleep(interval - idle)
                    continue
                sent_at = trio.current_time()
                self.network.deliver(self.user, Message("PING", (self.config.server_name,)).to_bytes())
                self.network.reap()
                await trio.sleep(timeout)
                if self.last_received < sent_at:
                    self.close("Ping timeout")
                    return
