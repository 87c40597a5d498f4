"""The client's trio side: connect (TCP or TLS), negotiate capabilities, log in with SASL, register, keep the
link alive, get our nick back, reconnect with backoff, and send.

:class:`ChatClient` owns no screen.  What the server says is turned into
:class:`~trio_chat.client.model.ChatModel` updates by the pure :class:`~trio_chat.client.translate.Translator`;
the messages that drive the connection itself stay on this side: the welcome and PING here, CAP, SASL and the
refusals in :class:`~trio_chat.client.negotiation.Negotiation`.  What the person types
(:meth:`ChatClient.submit`, called synchronously by the UI on the same thread) is carried out by
:class:`~trio_chat.client.actions.InputActions`.  The connection is made by an injectable ``open_stream()`` so
tests run it over memory streams, and every wait goes through trio's clock so a ``MockClock`` can jump through
the backoff.
"""

from __future__ import annotations

import itertools
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import trio

from trio_chat.protocol import LineBuffer, Message, ProtocolError, casefold, parse_line
from trio_chat.protocol import numerics as rpl
from trio_chat.protocol.errors import InvalidUTF8
from trio_chat.protocol.message import MAX_LINE_BYTES, MAX_SERVER_TAG_BYTES

from . import commands as cmd
from . import events as ev
from .actions import InputActions
from .chatlog import ChatLog
from .config import ClientConfig, backoff_delay
from .model import BufferKind, ChatModel, ConnectionState, Line, LineKind
from .negotiation import NEGOTIATION_HANDLERS, WANTED_CAPS, Negotiation, sasl_plain_lines
from .translate import LinkState, Now, Translator

__all__ = [
    "WANTED_CAPS",
    "ChatClient",
    "ClientConfig",
    "FatalError",
    "OpenStream",
    "backoff_delay",
    "connect_error_is_final",
    "default_opener",
    "describe_connect_error",
    "insecure_warning",
    "looks_like_tls",
    "parse_server_line",
    "sasl_plain_lines",
]

log = logging.getLogger(__name__)

OpenStream = Callable[[], Awaitable[trio.abc.Stream]]

READ_BUFFER_BYTES = MAX_SERVER_TAG_BYTES + MAX_LINE_BYTES
"""An unfinished line from the server may hold a full server tag section plus a line: more is a broken peer."""
SEND_QUEUE_LINES = 1000
"""Lines waiting to be written; a paste longer than this is refused rather than buffered without bound."""
PLAINTEXT_SSL_REASONS = frozenset({"WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG"})
"""OpenSSL's reasons when what came back to our TLS hello was not TLS at all: a plaintext port."""

_connection_ids = itertools.count(1)


def tls_context(insecure: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def default_opener(config: ClientConfig) -> OpenStream:
    """``open_stream()`` for a real network: TCP, or TLS with the handshake done up front so it fails here."""

    async def open_stream() -> trio.abc.Stream:
        if not config.tls:
            return await trio.open_tcp_stream(config.host, config.port)
        stream = await trio.open_ssl_over_tcp_stream(
            config.host, config.port, ssl_context=tls_context(config.tls_insecure), https_compatible=False
        )
        try:
            await stream.do_handshake()
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        return stream

    return open_stream


class FatalError(Exception):
    """The server refused us in a way retrying cannot fix (wrong password, banned, invalid nick)."""


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything it was raised from or during, groups opened (trio wraps the real reasons)."""
    # trio raises OSError("all attempts to connect … failed") from an ExceptionGroup of the real reasons.
    chain: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(chain) < 50:
        seen = todo.pop(0)
        if seen in chain:
            continue
        chain.append(seen)
        if isinstance(seen, BaseExceptionGroup):
            todo.extend(seen.exceptions)
        todo.extend(e for e in (seen.__cause__, seen.__context__) if e is not None)
    return chain


def _ssl_reason(exc: ssl.SSLError) -> str:
    reason = getattr(exc, "reason", None)
    return reason if isinstance(reason, str) else str(exc)


def describe_connect_error(exc: BaseException, config: ClientConfig) -> str:
    """A person's explanation of why connecting failed, from the exception chain trio raises."""
    chain = _causes(exc)
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            return (
                f"TLS failure with {config.address}: certificate not trusted ({e.verify_message}); "
                "use --tls-insecure to connect anyway"
            )
        if isinstance(e, ssl.SSLError) and _ssl_reason(e) in PLAINTEXT_SSL_REASONS:
            return (
                f"TLS failure with {config.address}: the server does not speak TLS there "
                f"({_ssl_reason(e).lower().replace('_', ' ')}); it is a plaintext port: leave out --tls"
            )
        if isinstance(e, ssl.SSLError):
            return f"TLS failure with {config.address}: {_ssl_reason(e)} (is the port a TLS port?)"
    for e in chain:
        if isinstance(e, ConnectionRefusedError):
            return f"Connection refused by {config.address} (is the server running?)"
        if isinstance(e, trio.TooSlowError):
            if config.tls:
                return (
                    f"Connecting to {config.address} timed out (no TLS handshake: if it is a plaintext port, "
                    "leave out --tls)"
                )
            return f"Connecting to {config.address} timed out"
    if isinstance(exc, OSError) and "Name or service not known" in str(exc):
        return f"Cannot find host {config.host}"
    if isinstance(exc, trio.BrokenResourceError) and config.tls:
        return f"TLS failure with {config.address}: the connection closed during the handshake"
    return f"Cannot connect to {config.address}: {exc}"


def insecure_warning(config: ClientConfig) -> str:
    """What ``--tls-insecure`` costs, said in the server buffer at every connect and on the terminal at exit."""
    return (
        f"Warning: --tls-insecure: the certificate of {config.address} is not checked, so anyone on the way "
        "could pose as the server and read everything (passwords included)"
    )


def connect_error_is_final(exc: BaseException) -> bool:
    """Whether trying again cannot help: the certificate is not trusted, or the port does not speak TLS.  The
    client then says why once and ends (exit code 1) instead of retrying forever."""
    for e in _causes(exc):
        if isinstance(e, ssl.SSLCertVerificationError):
            return True
        if isinstance(e, ssl.SSLError) and _ssl_reason(e) in PLAINTEXT_SSL_REASONS:
            return True
    return False


def looks_like_tls(data: bytes | bytearray) -> bool:
    """Whether the first bytes from a server are a TLS record (an alert or a handshake), not IRC: a plaintext
    connection to a TLS port."""
    return len(data) >= 2 and data[0] in (0x15, 0x16) and data[1] == 0x03


@dataclass
class _Link:
    """What one connection knows; a new one is made for every connection.  What translating needs of it is in
    ``state`` (shared with the translator), where CAP and SASL are in ``negotiation``."""

    send: trio.MemorySendChannel[bytes]
    conn_id: int
    state: LinkState
    negotiation: Negotiation
    last_received: float = 0.0
    pings: dict[str, float] = field(default_factory=dict)
    """Tokens of our lag PINGs -> when they were sent (trio's clock)."""
    fatal: str | None = None
    error: str | None = None
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    received_any: bool = False
    """Whether the server has sent anything at all on this connection."""
    closed_by_peer: bool = False
    """The server closed (or reset) the connection, rather than our side ending it."""

    @property
    def caps(self) -> set[str]:
        return self.state.caps

    @property
    def registered(self) -> bool:
        return self.state.registered


class ChatClient:
    """The session with one server: run :meth:`run` in trio; call :meth:`submit` and :meth:`quit` from the UI.

    ``describe`` puts a line into words for the conversation log (the interface passes its way of saying events);
    without it, an event is logged as its data (``Kicked(channel='#c', …)``).
    """

    def __init__(
        self,
        config: ClientConfig,
        model: ChatModel,
        *,
        open_stream: OpenStream | None = None,
        now: Now | None = None,
        describe: Callable[[Line], str] | None = None,
    ) -> None:
        self.config = config
        self.model = model
        self._open_stream = open_stream or default_opener(config)
        self._link: _Link | None = None
        self.translator = Translator(
            model,
            self.send,
            now=now or (lambda: datetime.now().astimezone()),
            clock=trio.current_time,
            nick=config.nick,
        )
        self.translator.quiet_joins = {casefold(c) for c in config.channels[1:]}
        self.actions = InputActions(self)
        self._username = config.username or config.nick
        """The user name (ident) of every connection: the nick we started with, not the one we have now."""
        self.chatlog: ChatLog | None = None
        if config.log_dir is not None:
            self.chatlog = ChatLog(Path(config.log_dir), config.host, on_failure=self._log_failed, describe=describe)
            chatlog = self.chatlog
            model.add_line_listener(lambda buf, line: chatlog.write(buf.name, line))
        self._autojoin: list[str] = list(config.channels)
        self._quitting = False
        self._run_scope: trio.CancelScope | None = None
        self.connections = 0
        """How many times a connection was established (tests watch reconnects with it)."""
        self.registered = trio.Event()
        """Set at the first successful registration (001)."""
        self.fatal_error: str | None = None
        """Why :meth:`run` gave up by itself (wrong password, banned…); ``None`` after a normal quit."""
        self._ever_registered = False

    # -- the UI's side ------------------------------------------------------------------------------------------

    @property
    def caps(self) -> frozenset[str]:
        return frozenset(self._link.caps) if self._link else frozenset()

    @property
    def offered_caps(self) -> frozenset[str]:
        """What the server offered in ``CAP LS`` (asked for or not)."""
        return frozenset(self._link.negotiation.offered) if self._link else frozenset()

    @property
    def connected(self) -> bool:
        return self._link is not None and self._link.registered

    def submit(self, text: str) -> None:
        """Carry out one line the person typed.  Synchronous: the UI calls it on trio's thread."""
        for part in text.splitlines() or [""]:
            buf = self.model.current
            target = None if buf.kind is BufferKind.SERVER else buf.name
            for action in cmd.parse_input(part, cmd.InputContext(self.model.nick, target)):
                self.actions.perform(action)

    def fetch_older(self, name: str) -> bool:
        """Ask for the page of history before the oldest message of channel ``name`` (the UI calls this when
        scrolling up past the top line): see :meth:`Translator.ask_history`.

        Nothing is sent (and False returned) unless :meth:`can_fetch_older`.
        """
        buf = self.model.find(name)
        if buf is None or not self.can_fetch_older(name):
            return False
        return self.translator.ask_history(buf)

    def can_fetch_older(self, name: str) -> bool:
        """Whether :meth:`fetch_older` would ask (:meth:`Translator.can_fetch_older`)."""
        return self.translator.can_fetch_older(name)

    def quit(self, reason: str | None = None) -> None:
        """Say goodbye to the server (waiting a moment for it to close the link), then end :meth:`run`."""
        scope = self._run_scope
        if self._quitting or not self.connected:
            self._quitting = True
            if scope is not None:
                scope.cancel()
            return
        self._quitting = True
        self.model.set_state(ConnectionState.DISCONNECTED, "quitting")
        self.send(Message("QUIT", (reason or self.config.quit_message,)))
        if scope is not None:
            scope.deadline = min(scope.deadline, trio.current_time() + self.config.quit_grace)

    def cancel(self) -> None:
        """Stop at once (the UI went away without a goodbye)."""
        self._quitting = True
        if self._run_scope is not None:
            self._run_scope.cancel()

    # -- running ------------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, and reconnect with growing backoff, until :meth:`quit` or a fatal refusal."""
        try:
            await self._run()
        finally:
            if self.chatlog is not None:
                self.chatlog.close()

    async def _run(self) -> None:
        with trio.CancelScope() as scope:
            self._run_scope = scope
            if self._quitting:
                scope.cancel()
            attempt = 0
            while not self._quitting:
                self.model.set_state(ConnectionState.CONNECTING, self.config.address)
                try:
                    with trio.fail_after(self.config.connect_timeout):
                        stream = await self._open_stream()
                except (OSError, trio.BrokenResourceError, trio.TooSlowError, ssl.SSLError) as exc:
                    why = describe_connect_error(exc, self.config)
                    if connect_error_is_final(exc):
                        self._give_up(why)
                        break
                    self._notify(why)
                else:
                    try:
                        reason = await self._session(stream)
                    except FatalError as exc:
                        self._link_lost()
                        self._give_up(str(exc))
                        break
                    if self._link is not None and self._link.registered:
                        self._ever_registered = True
                        attempt = 0
                    self._link_lost()
                    if not self._quitting:
                        self._notify(reason)
                if self._quitting:
                    break
                delay = backoff_delay(attempt, self.config.reconnect_initial, self.config.reconnect_max)
                attempt += 1
                self.translator.event(self.model.server, None, ev.Reconnecting(delay))
                self.model.set_state(ConnectionState.WAITING, f"in {delay:g} s")
                await trio.sleep(delay)
        self._run_scope = None
        self._set_link(None)
        if self.model.state is not ConnectionState.FAILED:
            self.model.set_state(ConnectionState.DISCONNECTED)

    def _set_link(self, link: _Link | None) -> None:
        self._link = link
        self.translator.link = link.state if link is not None else None

    def _log_failed(self, why: str) -> None:
        self.translator.error(why, buf=self.model.server)

    def _give_up(self, why: str) -> None:
        """Retrying cannot help: say why once, and :meth:`run` ends with :attr:`fatal_error` set."""
        self.fatal_error = why
        self._notify(why)
        self.model.set_state(ConnectionState.FAILED, why)

    def _notify(self, text: str) -> None:
        """Connection news: in the server buffer, and in the one being looked at if that is another."""
        self.translator.error(text, buf=self.model.server)
        if self.model.current is not self.model.server:
            self.translator.error(text)

    async def _session(self, stream: trio.abc.Stream) -> str:
        """One connection, from registration until it ends; returns why it ended (raises FatalError)."""
        send, receive = trio.open_memory_channel[bytes](SEND_QUEUE_LINES)
        state = LinkState()
        negotiation = Negotiation(self.config, state, self.translator, self.send)
        link = _Link(send, next(_connection_ids), state, negotiation, last_received=trio.current_time())
        self._set_link(link)
        self.connections += 1
        log.info("conn %d: connected to %s", link.conn_id, self.config.address)
        self.model.set_state(ConnectionState.REGISTERING, self.config.address)
        wanted = self.translator.wanted_nick
        self.translator.event(self.model.server, None, ev.Connected(self.config.address, wanted))
        if self.config.tls and self.config.tls_insecure:
            self.translator.error(insecure_warning(self.config), buf=self.model.server)
        try:
            async with trio.open_nursery() as nursery:
                link.scope = nursery.cancel_scope
                nursery.start_soon(self._write_loop, stream, receive, link)
                nursery.start_soon(self._keepalive_loop, link)
                nursery.start_soon(self._regain_nick_loop, link)
                self.send(Message("CAP", ("LS", "302")))
                if self.config.password:
                    self.send(Message("PASS", (self.config.password,)))
                self.send(Message("NICK", (wanted,)))
                self.send(Message("USER", (self._username, "0", "*", self.config.realname)))
                await self._read_loop(stream, link)
                nursery.cancel_scope.cancel()
        finally:
            send.close()
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(stream)
        silent_close = link.closed_by_peer and not link.received_any and not self._quitting
        if silent_close and not self.config.tls and not self._ever_registered:
            # Not one byte in answer to our CAP, NICK and USER: most likely a TLS port (which waits for a TLS hello
            # and drops us).  Trying again the same way would only do the same.
            link.fatal = link.fatal or (
                f"{self.config.address} closed the connection without answering: if it is a TLS port, use --tls "
                "(TLS ports are usually 6697)"
            )
        log.info("conn %d: closed (%s)", link.conn_id, link.fatal or link.error or "eof")
        if link.fatal:
            raise FatalError(link.fatal)
        return link.error or f"Connection closed by {self.config.address}"

    def _link_lost(self) -> None:
        """Forget the connection: channels we were in are rejoined on the next one."""
        link = self._link
        if link is not None and link.registered:
            self._autojoin = self.model.joined_channels()
            self.translator.quiet_joins = {casefold(c) for c in self._autojoin}
        for buf in self.model.channels():
            buf.joined = False
            buf.members.clear()
            buf.history_loading = False  # a request on the lost link gets no answer
        self.model.account = None  # a new connection logs in again (or not)
        self._set_link(None)
        self.model.set_state(ConnectionState.DISCONNECTED)

    async def _read_loop(self, stream: trio.abc.Stream, link: _Link) -> None:
        buffer = LineBuffer(READ_BUFFER_BYTES)
        try:
            async for data in stream:
                link.last_received = trio.current_time()
                if not link.received_any and data:
                    link.received_any = True
                    if not self.config.tls and looks_like_tls(data):
                        link.fatal = f"{self.config.address} speaks TLS, not plaintext: use --tls"
                        return
                try:
                    lines = buffer.feed(data)
                except ProtocolError:
                    link.error = "The server sent an endless line; disconnected"
                    return
                for raw in lines:
                    message = parse_server_line(raw)
                    if message is not None:
                        self._handle(message)
                    if link.fatal:
                        return
            link.closed_by_peer = True
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            link.closed_by_peer = True
            link.error = link.error or f"Connection lost: {exc}"

    async def _write_loop(
        self, stream: trio.abc.Stream, receive: trio.MemoryReceiveChannel[bytes], link: _Link
    ) -> None:
        try:
            async with receive:
                async for first in receive:
                    batch = [first]
                    while len(batch) < 64:
                        try:
                            batch.append(receive.receive_nowait())
                        except trio.WouldBlock:
                            break
                    await stream.send_all(b"".join(batch))
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            link.error = link.error or f"Connection lost: {exc}"
            link.scope.cancel()

    async def _keepalive_loop(self, link: _Link) -> None:
        """PING for the lag display; a server silent for ``ping_timeout`` is taken for dead."""
        while True:
            await trio.sleep(self.config.ping_interval)
            silent = trio.current_time() - link.last_received
            if silent >= self.config.ping_timeout:
                link.error = f"No reply from {self.config.address} for {silent:.0f} s"
                link.scope.cancel()
                return
            if link.registered and not link.pings:
                self._send_lag_ping(link)

    async def _regain_nick_loop(self, link: _Link) -> None:
        """Registered as ``alice_`` because ``alice`` was taken: ask for ``alice`` again every
        ``nick_retry_interval`` until we have it (or chose another), quietly."""
        for _ in range(self.config.nick_retries):
            await trio.sleep(self.config.nick_retry_interval)
            wanted = self.translator.wanted_nick
            if link.registered and not self.translator.is_me(wanted) and not link.state.nick_retry:
                link.state.nick_retry = wanted
                self.send(Message("NICK", (wanted,)))

    def _send_lag_ping(self, link: _Link) -> None:
        token = f"lag{next(link.state.ping_seq)}"
        link.pings[token] = trio.current_time()
        self.send(Message("PING", (token,)))

    # -- sending ------------------------------------------------------------------------------------------------

    def send(self, message: Message) -> bool:
        """Queue ``message`` for the server; False (and the reason said) when it cannot be."""
        link = self._link
        if link is None:
            self.translator.error("Not connected; nothing was sent")
            return False
        try:
            link.send.send_nowait(message.to_bytes())
        except trio.WouldBlock:
            self.translator.error("Too much queued for the server; that line was dropped")
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.translator.error("Not connected; nothing was sent")
            return False
        return True

    # -- receiving: what drives the connection; the rest is the translator's ----------------------------------

    def _handle(self, msg: Message) -> None:
        link = self._link
        batch = link.state.batches.get(msg.tags.get("batch", "")) if link is not None else None
        in_batch = batch is not None and batch.history  # history is the translator's to keep, whatever it holds
        command = msg.command.upper()
        if link is None or in_batch:
            self.translator.handle(msg)
        elif command in NEGOTIATION_HANDLERS:
            NEGOTIATION_HANDLERS[command](link.negotiation, msg)
            link.fatal = link.fatal or link.negotiation.fatal
        elif command in _LIFECYCLE_HANDLERS:
            _LIFECYCLE_HANDLERS[command](self, msg)
            link.fatal = link.fatal or link.negotiation.fatal
        else:
            self.translator.handle(msg)

    def _on_ping(self, msg: Message) -> None:
        self.send(Message("PONG", msg.params[:1] or ("",)))

    def _on_pong(self, msg: Message) -> None:
        link = self._link
        if link is None or not msg.params:
            return
        self.translator.pong(msg.params[-1])
        sent = link.pings.pop(msg.params[-1], None)
        if sent is not None:
            self.model.lag = trio.current_time() - sent
            self.model.changed()

    def _on_error(self, msg: Message) -> None:
        text = msg.params[-1] if msg.params else "closing link"
        if self._link is not None and not self._link.fatal:
            self._link.error = f"Server closed the link: {text}"

    def _on_isupport(self, msg: Message) -> None:
        for token in msg.params[1:-1]:
            name, _, value = token.partition("=")
            if name == "NETWORK" and value and self.chatlog is not None:
                self.chatlog.set_network(value)
        self.translator.handle(msg)

    def _end_of_motd(self, msg: Message) -> None:
        """376 or 422: the welcome is over; a server that has not named its network by now will not."""
        self.translator.handle(msg)
        if self.chatlog is not None:
            self.chatlog.set_network(None)

    def _on_welcome(self, msg: Message) -> None:
        link = self._link
        assert link is not None
        if link.negotiation.registered_too_early():
            return
        self._send_lag_ping(link)  # so the status line shows the lag from the start
        link.state.registered = True
        if msg.params:
            self.model.nick = msg.params[0]
        self.model.set_state(ConnectionState.CONNECTED, self.config.address)
        self.model.add(
            self.model.server,
            Line(self.translator.time_of(msg), LineKind.INFO, msg.params[-1] if msg.params else ""),
        )
        if not self.registered.is_set():
            self.registered.set()
        wanted = self.translator.wanted_nick
        if not self.translator.is_me(wanted):
            self.translator.event(self.model.server, None, ev.RegisteredAs(self.model.nick, wanted))
        keys = self.translator.keys
        keyed = [c for c in self._autojoin if casefold(c) in keys]
        plain = [c for c in self._autojoin if casefold(c) not in keys]
        for i in range(0, len(keyed), 10):
            group = keyed[i : i + 10]
            self.send(Message("JOIN", (",".join(group), ",".join(keys[casefold(c)] for c in group))))
        for i in range(0, len(plain), 10):
            self.send(Message("JOIN", (",".join(plain[i : i + 10]),)))

    def _on_unknown_command(self, msg: Message) -> None:
        if len(msg.params) >= 2 and msg.params[1].upper() == "CAP" and self._link is not None:
            self._link.negotiation.no_cap_support()
            return
        self.translator.handle(msg)


def parse_server_line(raw: bytes) -> Message | None:
    """One line from the server as a message; None for one that cannot be read at all.  Liberal in what it takes:
    long bodies and text that is not UTF-8 still get shown."""
    for attempt in (raw, raw.decode("utf-8", "replace").encode("utf-8")):
        try:
            return parse_line(attempt, max_tag_bytes=MAX_SERVER_TAG_BYTES, max_body_bytes=MAX_LINE_BYTES)
        except InvalidUTF8:
            continue
        except ProtocolError:
            return None
    return None


_LIFECYCLE_HANDLERS: dict[str, Callable[[ChatClient, Message], None]] = {
    "PING": ChatClient._on_ping,
    "PONG": ChatClient._on_pong,
    "ERROR": ChatClient._on_error,
    rpl.RPL_WELCOME: ChatClient._on_welcome,
    rpl.RPL_ISUPPORT: ChatClient._on_isupport,
    rpl.RPL_ENDOFMOTD: ChatClient._end_of_motd,
    rpl.ERR_NOMOTD: ChatClient._end_of_motd,
    rpl.ERR_UNKNOWNCOMMAND: ChatClient._on_unknown_command,
}
"""The messages that drive the connection itself; the translator takes all others."""
