"""The client's trio side: connect, negotiate capabilities, register, keep the link alive, reconnect.

:class:`ChatClient` owns no screen.  It turns what the server sends into :class:`~trio_chat.client.model.ChatModel`
updates and what the person types (:meth:`ChatClient.submit`, called synchronously by the UI on the same
thread) into IRC messages.  The connection is made by an injectable ``open_stream()`` so tests run it over
memory streams, and every wait goes through trio's clock so a ``MockClock`` can jump through the backoff.

History (IRCv3 ``batch`` + ``draft/chathistory``): the messages of a ``chathistory`` batch become lines marked
history, at the time they were said.  The batch the server sends between our JOIN and the answer to a PING sent
when that JOIN came is its replay of the channel's latest messages; one that answers :meth:`ChatClient.fetch_older`
(scrolling up past the top) is an older page.  msgids tell which messages a buffer already has.
"""

from __future__ import annotations

import base64
import itertools
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trio

from trio_chat.protocol import LineBuffer, Message, ProtocolError, casefold, parse_line
from trio_chat.protocol import numerics as rpl
from trio_chat.protocol.caps import (
    ACCOUNT_NOTIFY,
    ACCOUNT_REGISTRATION,
    ACCOUNT_TAG,
    AWAY_NOTIFY,
    BATCH,
    CAP_NOTIFY,
    CHATHISTORY,
    ECHO_MESSAGE,
    EXTENDED_JOIN,
    MESSAGE_TAGS,
    MULTI_PREFIX,
    SASL,
    SERVER_TIME,
)
from trio_chat.protocol.errors import InvalidUTF8
from trio_chat.protocol.message import MAX_LINE_BYTES, MAX_SERVER_TAG_BYTES
from trio_chat.protocol.names import is_channel_name, split_userhost

from . import commands as cmd
from .chatlog import ChatLog
from .formatting import clean_formatting, strip_formatting
from .model import (
    NICKLIST_WIDTHS,
    Buffer,
    BufferKind,
    ChatModel,
    ConnectionState,
    Line,
    LineKind,
    ignore_mask,
    mentions,
)

log = logging.getLogger(__name__)

OpenStream = Callable[[], Awaitable[trio.abc.Stream]]
Now = Callable[[], datetime]

WANTED_CAPS = (
    SERVER_TIME,
    ECHO_MESSAGE,
    MESSAGE_TAGS,
    MULTI_PREFIX,
    AWAY_NOTIFY,
    EXTENDED_JOIN,
    CAP_NOTIFY,
    BATCH,
    CHATHISTORY,
    ACCOUNT_NOTIFY,
    ACCOUNT_TAG,
)
"""Capabilities requested when the server offers them; the client works the same with none of them.  ``sasl``
is requested too when logging in with ``--sasl``, and then the client does not work without it."""

SASL_CHUNK = 400
"""Base64 characters per ``AUTHENTICATE`` line; a payload that is an exact multiple ends with ``AUTHENTICATE +``."""

HISTORY_PAGE = 50
"""Messages asked for per ``CHATHISTORY`` request when scrolling up past the top (less if ISUPPORT says so)."""
HISTORY_BATCH_TYPES = frozenset({"chathistory", "draft/chathistory"})
MAX_OPEN_BATCHES = 32
"""Batches a server may have open at once; lines of any more are taken as they come, outside a batch."""
MAX_BATCH_LINES = 5000
"""Messages kept from one history batch (a buffer holds no more); the rest of a longer one is not shown."""

READ_BUFFER_BYTES = MAX_SERVER_TAG_BYTES + MAX_LINE_BYTES
"""An unfinished line from the server may hold a full server tag section plus a line: more is a broken peer."""
SEND_QUEUE_LINES = 1000
"""Lines waiting to be written; a paste longer than this is refused rather than buffered without bound."""
CLIENT_VERSION = "trio-chat"
PLAINTEXT_SSL_REASONS = frozenset({"WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG"})
"""OpenSSL's reasons when what came back to our TLS hello was not TLS at all: a plaintext port."""

_connection_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """How to reach the server and who to be there.  Times are in seconds of trio's clock."""

    nick: str
    host: str = "127.0.0.1"
    port: int = 6667
    channels: tuple[str, ...] = ("#lobby",)
    password: str | None = field(default=None, repr=False)
    """The connection password (PASS)."""
    sasl_account: str | None = None
    """Log in to this account with SASL PLAIN before registering (and on every reconnect); with
    ``sasl_password``.  A server that does not offer SASL, or refuses the login, is not joined at all."""
    sasl_password: str | None = field(default=None, repr=False)
    tls: bool = False
    tls_insecure: bool = False
    username: str | None = None
    realname: str = "trio-chat user"
    quit_message: str = "trio-chat"
    connect_timeout: float = 20.0
    reconnect_initial: float = 1.0
    reconnect_max: float = 60.0
    ping_interval: float = 30.0
    ping_timeout: float = 120.0
    quit_grace: float = 2.0
    max_nick_attempts: int = 5
    log_dir: str | None = None
    """Where conversation logs go (``<log_dir>/<network>/<buffer>.log``); None: not logged."""
    nick_retry_interval: float = 15.0
    """Registered under another nick because ours was taken (a ghost of our last connection, most often): ask
    for ours again this often…"""
    nick_retries: int = 40
    """…this many times (ten minutes by default: longer than servers take to drop a dead connection)."""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def backoff_delay(attempt: int, initial: float, cap: float) -> float:
    """Seconds to wait before reconnection attempt ``attempt`` (0-based): doubling from ``initial``, capped."""
    return float(min(cap, initial * 2 ** min(attempt, 30)))


def sasl_plain_lines(account: str, password: str) -> list[str]:
    """The ``AUTHENTICATE`` arguments that carry a SASL PLAIN login: ``account\0account\0password`` in base64,
    in chunks of 400 characters, with ``+`` after a last chunk of exactly 400 (or for an empty payload)."""
    encoded = base64.b64encode(f"{account}\0{account}\0{password}".encode()).decode("ascii")
    chunks = [encoded[i : i + SASL_CHUNK] for i in range(0, len(encoded), SASL_CHUNK)]
    if not chunks or len(chunks[-1]) == SASL_CHUNK:
        chunks.append("+")
    return chunks


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


@dataclass
class _Batch:
    """An IRCv3 batch the server opened (``BATCH +id type target``); history ones collect their messages."""

    kind: str
    target: str
    replay: bool
    """Opened between our JOIN of the channel and the PONG that follows it: the server's replay on joining."""
    messages: list[Message] = field(default_factory=list)

    @property
    def history(self) -> bool:
        return self.kind in HISTORY_BATCH_TYPES and bool(self.target)


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
    """What one connection knows; a new one is made for every connection."""

    send: trio.MemorySendChannel[bytes]
    conn_id: int
    registered: bool = False
    cap_ls: list[str] = field(default_factory=list)
    cap_values: dict[str, str] = field(default_factory=dict)
    """Values the server gave its capabilities in ``CAP LS 302`` (``sasl=PLAIN,EXTERNAL``)."""
    cap_ended: bool = False
    caps: set[str] = field(default_factory=set)
    nick_attempt: int = 0
    last_received: float = 0.0
    pings: dict[str, float] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)
    fatal: str | None = None
    error: str | None = None
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    ping_seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    batches: dict[str, _Batch] = field(default_factory=dict)
    joining: dict[str, str] = field(default_factory=dict)
    """Case-folded channels we just joined -> the token of the PING sent when the JOIN came.  The server sends
    all it has for a JOIN (names, the replay of recent messages) before it answers a later PING: a history batch
    for the channel before that PONG is the replay, and no history is asked for meanwhile."""
    history_request: str | None = None
    """The case-folded channel whose older history was asked for; one request at a time."""
    history_by_time: bool = False
    """That request names the oldest message by its time, not by its msgid."""
    chathistory_max: int | None = None
    """The most messages one CHATHISTORY request returns (ISUPPORT ``CHATHISTORY``); None if not said."""
    sasl: str = ""
    """The SASL login of this connection: "" (none or not yet), "requested" (in CAP REQ), "authenticating"
    (AUTHENTICATE PLAIN sent), "sent" (the payload sent), "done" (903)."""
    received_any: bool = False
    """Whether the server has sent anything at all on this connection."""
    closed_by_peer: bool = False
    """The server closed (or reset) the connection, rather than our side ending it."""
    nick_retry: str | None = None
    """The nick asked for again by the retry loop, until the server answers (a 433 then is not news)."""
    whois_open: set[str] = field(default_factory=set)
    """Case-folded nicks whose WHOIS answer has begun (311) and not ended (318): a 301 then belongs to it."""
    hidden_echoes: int = 0
    """Echoes (echo-message) still to come of ``/register`` and ``/identify`` messages to NickServ: not shown."""


class ChatClient:
    """The session with one server: run :meth:`run` in trio; call :meth:`submit` and :meth:`quit` from the UI."""

    def __init__(
        self,
        config: ClientConfig,
        model: ChatModel,
        *,
        open_stream: OpenStream | None = None,
        now: Now | None = None,
    ) -> None:
        self.config = config
        self.model = model
        self._open_stream = open_stream or default_opener(config)
        self._now = now or (lambda: datetime.now().astimezone())
        self._link: _Link | None = None
        self._wanted_nick = config.nick
        self._username = config.username or config.nick
        """The user name (ident) of every connection: the nick we started with, not the one we have now."""
        self._keys: dict[str, str] = {}
        self.chatlog: ChatLog | None = None
        if config.log_dir is not None:
            self.chatlog = ChatLog(Path(config.log_dir), config.host, on_failure=self._log_failed)
            chatlog = self.chatlog
            model.add_line_listener(lambda buf, line: chatlog.write(buf.name, line))
        """Case-folded channel -> its key (from /join or a +k we saw): rejoined with it after a reconnect."""
        self._autojoin: list[str] = list(config.channels)
        self._quiet_joins: set[str] = {casefold(c) for c in config.channels[1:]}
        self._quitting = False
        self._run_scope: trio.CancelScope | None = None
        self._prefixes = {"o": "@", "v": "+"}
        self._chanmodes = ("beI", "k", "l", "imnpst")
        self.connections = 0
        """How many times a connection was established (tests watch reconnects with it)."""
        self.registered = trio.Event()
        """Set at the first successful registration (001)."""
        self.fatal_error: str | None = None
        self._ever_registered = False
        self._away_said: dict[str, str] = {}
        """Case-folded nick -> the away message last shown for them (a server repeats it for every message)."""
        self._ctcp_ping_seq = itertools.count(1)
        self._ctcp_pings: dict[tuple[str, str], float] = {}
        """(case-folded nick, token) of CTCP PINGs we sent -> when (trio's clock): their replies are timed."""
        """Why :meth:`run` gave up by itself (wrong password, banned…); ``None`` after a normal quit."""

    # -- the UI's side ------------------------------------------------------------------------------------------

    @property
    def caps(self) -> frozenset[str]:
        return frozenset(self._link.caps) if self._link else frozenset()

    @property
    def connected(self) -> bool:
        return self._link is not None and self._link.registered

    def submit(self, text: str) -> None:
        """Carry out one line the person typed.  Synchronous: the UI calls it on trio's thread."""
        for part in text.splitlines() or [""]:
            buf = self.model.current
            target = None if buf.kind is BufferKind.SERVER else buf.name
            for action in cmd.parse_input(part, cmd.InputContext(self.model.nick, target)):
                self._perform(action)

    def fetch_older(self, name: str) -> bool:
        """Ask for the page of history before the oldest message of channel ``name`` (the UI calls this when
        scrolling up past the top line).  ``CHATHISTORY BEFORE name msgid=<oldest> <page>``, or ``LATEST`` when
        the buffer holds no message yet; the answer goes above everything in the buffer.

        Nothing is sent (and False returned) unless :meth:`can_fetch_older`.
        """
        link = self._link
        buf = self.model.find(name)
        if link is None or buf is None or not self.can_fetch_older(name):
            return False
        return self._ask_history(link, buf, by_time=False)

    def can_fetch_older(self, name: str) -> bool:
        """Whether :meth:`fetch_older` would ask: the server offers ``batch``, ``draft/chathistory`` and
        ``message-tags`` (msgids are how a message fetched twice is recognised), ``name`` is a joined channel
        whose JOIN the server has finished answering, no request is in flight, the server has not said there is
        nothing older, and the buffer's scrollback is not full."""
        link = self._link
        buf = self.model.find(name)
        if link is None or not link.registered or buf is None or buf.kind is not BufferKind.CHANNEL:
            return False
        if not buf.joined or buf.key in link.joining or not {BATCH, CHATHISTORY, MESSAGE_TAGS} <= link.caps:
            return False
        return link.history_request is None and not (buf.history_loading or buf.history_complete or buf.full)

    def _ask_history(self, link: _Link, buf: Buffer, *, by_time: bool) -> bool:
        page = HISTORY_PAGE if link.chathistory_max is None else min(HISTORY_PAGE, link.chathistory_max)
        oldest = buf.oldest_message()
        msgid = oldest.msgid if oldest is not None else None
        if oldest is None:
            ref, sub = "*", "LATEST"
        elif msgid and not by_time and msgid[0] != ":" and not any(c in msgid for c in " \r\n\0"):
            ref, sub = f"msgid={msgid}", "BEFORE"
        else:
            # By time when the server no longer knows the msgid (deleted since) or it cannot be sent.  "Before" is
            # strictly before: a millisecond later takes in messages of the same millisecond too (those we have
            # are left out when the answer comes).
            when = oldest.time.astimezone(UTC) + timedelta(milliseconds=1)
            ref, sub = f"timestamp={when.strftime('%Y-%m-%dT%H:%M:%S.')}{when.microsecond // 1000:03d}Z", "BEFORE"
        if not self._send(Message("CHATHISTORY", (sub, buf.name, ref, str(page)))):
            return False
        link.history_request = buf.key
        link.history_by_time = ref.startswith("timestamp=")
        self.model.set_history_loading(buf, True)
        return True

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
        self._send(Message("QUIT", (reason or self.config.quit_message,)))
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
                self._info(f"Reconnecting in {delay:g} s…", buf=self.model.server)
                self.model.set_state(ConnectionState.WAITING, f"in {delay:g} s")
                await trio.sleep(delay)
        self._run_scope = None
        self._link = None
        if self.model.state is not ConnectionState.FAILED:
            self.model.set_state(ConnectionState.DISCONNECTED)

    def _log_failed(self, why: str) -> None:
        self._error(why, buf=self.model.server)

    def _give_up(self, why: str) -> None:
        """Retrying cannot help: say why once, and :meth:`run` ends with :attr:`fatal_error` set."""
        self.fatal_error = why
        self._notify(why)
        self.model.set_state(ConnectionState.FAILED, why)

    async def _session(self, stream: trio.abc.Stream) -> str:
        """One connection, from registration until it ends; returns why it ended (raises FatalError)."""
        send, receive = trio.open_memory_channel[bytes](SEND_QUEUE_LINES)
        link = _Link(send, next(_connection_ids), last_received=trio.current_time())
        self._link = link
        self.connections += 1
        log.info("conn %d: connected to %s", link.conn_id, self.config.address)
        self.model.set_state(ConnectionState.REGISTERING, self.config.address)
        self._info(f"Connected to {self.config.address}; registering as {self._wanted_nick}", buf=self.model.server)
        if self.config.tls and self.config.tls_insecure:
            self._error(insecure_warning(self.config), buf=self.model.server)
        try:
            async with trio.open_nursery() as nursery:
                link.scope = nursery.cancel_scope
                nursery.start_soon(self._write_loop, stream, receive, link)
                nursery.start_soon(self._keepalive_loop, link)
                nursery.start_soon(self._regain_nick_loop, link)
                self._send(Message("CAP", ("LS", "302")))
                if self.config.password:
                    self._send(Message("PASS", (self.config.password,)))
                self._send(Message("NICK", (self._wanted_nick,)))
                self._send(Message("USER", (self._username, "0", "*", self.config.realname)))
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
            self._quiet_joins = {casefold(c) for c in self._autojoin}
        for buf in self.model.channels():
            buf.joined = False
            buf.members.clear()
            buf.history_loading = False  # a request on the lost link gets no answer
        self.model.account = None  # a new connection logs in again (or not)
        self._link = None
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
                    message = self._parse(raw)
                    if message is not None:
                        self._handle(message)
                    if link.fatal:
                        return
            link.closed_by_peer = True
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            link.closed_by_peer = True
            link.error = link.error or f"Connection lost: {exc}"

    @staticmethod
    def _parse(raw: bytes) -> Message | None:
        # Be liberal in what we accept from servers: long bodies and non-UTF-8 text still get shown.
        for attempt in (raw, raw.decode("utf-8", "replace").encode("utf-8")):
            try:
                return parse_line(attempt, max_tag_bytes=MAX_SERVER_TAG_BYTES, max_body_bytes=MAX_LINE_BYTES)
            except InvalidUTF8:
                continue
            except ProtocolError:
                return None
        return None

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
            if link.registered and not self._is_me(self._wanted_nick) and not link.nick_retry:
                link.nick_retry = self._wanted_nick
                self._send(Message("NICK", (self._wanted_nick,)))

    # -- sending ------------------------------------------------------------------------------------------------

    def _send(self, message: Message) -> bool:
        link = self._link
        if link is None:
            self._error("Not connected; nothing was sent")
            return False
        try:
            link.send.send_nowait(message.to_bytes())
        except trio.WouldBlock:
            self._error("Too much queued for the server; that line was dropped")
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._error("Not connected; nothing was sent")
            return False
        return True

    def _perform(self, action: cmd.Action) -> None:
        model = self.model
        if isinstance(action, cmd.ShowError):
            self._error(action.text)
        elif isinstance(action, cmd.ShowHelp):
            for text in action.lines:
                self._info(text)
        elif isinstance(action, cmd.Quit):
            self.quit(action.reason)
        elif isinstance(action, cmd.OpenQuery):
            model.open(action.nick, switch=True)
        elif isinstance(action, cmd.SwitchBuffer):
            ok = model.switch(action.number - 1) if action.number is not None else self._switch_named(action.name)
            if not ok:
                self._error(f"No buffer {action.number if action.number is not None else action.name}")
        elif isinstance(action, cmd.CloseBuffer):
            self._close(action.name)
        elif isinstance(action, cmd.Ignore):
            self._ignore(action)
        elif isinstance(action, cmd.ClearBuffer):
            model.clear(model.current)
        elif isinstance(action, cmd.SetOption):
            self._set_option(action)
        elif not self.connected:
            self._error("Not connected; nothing was sent")
        elif isinstance(action, cmd.Send):
            if action.message.command == "JOIN":
                names = action.message.params[0].split(",")
                keys = action.message.params[1].split(",") if len(action.message.params) > 1 else []
                for name, key in itertools.zip_longest(names, keys[: len(names)], fillvalue=""):
                    self._quiet_joins.discard(casefold(name))
                    if key:
                        self._keys[casefold(name)] = key
            if action.message.command == "NAMES":
                self._link_names_requested(action.message.params[0])
            self._send(action.message)
        elif isinstance(action, cmd.Say):
            self._say(action)
        elif isinstance(action, cmd.Register):
            self._register(action)
        elif isinstance(action, cmd.Identify):
            self._identify(action)
        elif isinstance(action, cmd.Ctcp):
            self._send_ctcp(action)

    def _ignore(self, action: cmd.Ignore) -> None:
        ignores = self.model.ignores
        if action.mask is None:
            self._info("Ignoring: " + ", ".join(ignores) if ignores else "Ignoring no one (/ignore nick to start)")
            return
        mask = ignore_mask(action.mask)
        if action.undo:
            if mask not in ignores:
                self._error(f"{mask} is not ignored (/ignore lists who is)")
                return
            ignores.remove(mask)
            self._info(f"No longer ignoring {mask}")
        elif mask not in ignores:
            ignores.append(mask)
            self._info(f"Ignoring {mask}: what they say is not shown (/unignore {action.mask} to undo)")

    def _set_option(self, action: cmd.SetOption) -> None:
        settings = self.model.settings
        shown = {
            "timestamp_format": settings.timestamp_format,
            "nicklist_width": str(settings.nicklist_width),
            "highlight_words": ",".join(settings.highlight_words),
        }
        name, value = action.name, action.value
        if name is None or (name in shown and value is None):
            for key, current in shown.items():
                if name in (None, key):
                    self._info(f"{key} = {current}")
            return
        if name == "timestamp_format" and value is not None:
            if "\n" in value or len(self._now().strftime(value)) > 40:
                self._error("timestamp_format: a strftime format for one short time, such as %H:%M:%S")
                return
            settings.timestamp_format = value
        elif name == "nicklist_width" and value is not None:
            if not value.isdigit() or int(value) not in NICKLIST_WIDTHS:
                self._error(f"nicklist_width: a number from {NICKLIST_WIDTHS[0]} to {NICKLIST_WIDTHS[-1]}")
                return
            settings.nicklist_width = int(value)
        elif name == "highlight_words" and value is not None:
            settings.highlight_words = tuple(w for w in value.replace(",", " ").split() if w and w != "-")
        else:
            self._error(f"No setting {name}; /set lists them")
            return
        self._info(f"{name} = {value}")

    def _send_ctcp(self, action: cmd.Ctcp) -> None:
        """A CTCP request; a PING carries a token of ours, and its reply is timed on trio's clock."""
        arg = action.arg
        if action.kind == "PING" and not arg:
            arg = f"{next(self._ctcp_ping_seq)}"
        body = f"{action.kind} {arg}" if arg else action.kind
        if not self._send(Message("PRIVMSG", (action.target, f"\x01{body}\x01"))):
            return
        if action.kind == "PING":
            self._ctcp_pings[(casefold(action.target), arg)] = trio.current_time()
        self._info(f"CTCP {action.kind} sent to {action.target}")

    def _register(self, action: cmd.Register) -> None:
        """``/register``: with ``REGISTER`` where the server offers draft/account-registration, else through
        NickServ.  Neither the password nor the message carrying it is shown anywhere."""
        link = self._link
        assert link is not None
        if self.model.account is not None:
            self._error(f"You are already logged in as {self.model.account}")
            return
        if ACCOUNT_REGISTRATION in link.cap_ls:
            sent = self._send(Message("REGISTER", ("*", action.email or "*", action.password)))
        else:
            text = f"REGISTER {action.password}" + (f" {action.email}" if action.email else "")
            sent = self._send_to_nickserv(link, text)
        if sent:
            self._account_news(f"Registering the account {self.model.nick}…")

    def _identify(self, action: cmd.Identify) -> None:
        """``/identify``: ``PRIVMSG NickServ :IDENTIFY [account] password``, its echo not shown."""
        link = self._link
        assert link is not None
        words = ("IDENTIFY", action.account, action.password) if action.account else ("IDENTIFY", action.password)
        if self._send_to_nickserv(link, " ".join(words)):
            self._account_news(f"Logging in to the account {action.account or self.model.nick} (NickServ)…")

    def _send_to_nickserv(self, link: _Link, text: str) -> bool:
        if not self._send(Message("PRIVMSG", (cmd.NICKSERV, text))):
            return False
        if ECHO_MESSAGE in link.caps:
            link.hidden_echoes += 1
        return True

    def _switch_named(self, name: str | None) -> bool:
        buf = self.model.find(name or "")
        return buf is not None and self.model.switch(self.model.index_of(buf))

    def _close(self, name: str | None) -> None:
        buf = self.model.find(name) if name else self.model.current
        if buf is None or buf.kind is BufferKind.SERVER:
            self._error("The server buffer stays open; /quit to leave")
            return
        if buf.kind is BufferKind.CHANNEL and buf.joined and self.connected:
            self._send(Message("PART", (buf.name,)))
        self.model.close(buf.name)

    def _link_names_requested(self, channel: str) -> None:
        if self._link is not None:
            self._link.names.setdefault(casefold(channel), [])

    def _say(self, action: cmd.Say) -> None:
        for message in action.messages():
            if not self._send(message):
                return
        if ECHO_MESSAGE in self.caps:
            return  # the server echoes each line back: it is shown then, once, in the server's order
        buf = self.model.open(action.target)
        kind = {"privmsg": LineKind.MESSAGE, "action": LineKind.ACTION, "notice": LineKind.NOTICE}[action.kind]
        for chunk in action.chunks:
            shown = self._shown_to(action.target, chunk)
            self.model.add(buf, Line(self._now(), kind, shown, nick=self.model.nick, own=True))

    @staticmethod
    def _shown_to(target: str, text: str) -> str:
        """What we said to ``target`` as it is shown: a password to NickServ becomes ``********``."""
        if casefold(target) == casefold(cmd.NICKSERV):
            return cmd.mask_service_text(text) or text
        return text

    # -- showing ------------------------------------------------------------------------------------------------

    def _info(self, text: str, *, buf: Buffer | None = None, kind: LineKind = LineKind.INFO) -> None:
        self.model.info(text, time=self._now(), kind=kind, buf=buf)

    def _error(self, text: str, *, buf: Buffer | None = None) -> None:
        self._info(text, buf=buf, kind=LineKind.ERROR)

    def _account_news(
        self, text: str, *, kind: LineKind = LineKind.INFO, time: datetime | None = None, nick: str | None = None
    ) -> None:
        """News about logging in and registering: in the server buffer, and in the one being looked at too."""
        line = Line(time or self._now(), kind, text, nick=nick)
        self.model.add(self.model.server, line)
        if self.model.current is not self.model.server:
            self.model.add(self.model.current, line)

    def _notify(self, text: str) -> None:
        """Connection news: in the server buffer, and in the one being looked at if that is another."""
        self._error(text, buf=self.model.server)
        if self.model.current is not self.model.server:
            self._error(text)

    def _time(self, message: Message) -> datetime:
        stamp = message.tags.get("time")
        if stamp:
            try:
                return datetime.fromisoformat(stamp).astimezone()
            except ValueError:
                pass
        return self._now()

    def _is_me(self, nick: str) -> bool:
        return casefold(nick) == casefold(self.model.nick)

    # -- receiving ----------------------------------------------------------------------------------------------

    def _handle(self, msg: Message) -> None:
        link = self._link
        if link is not None:
            batch = link.batches.get(msg.tags.get("batch", ""))
            if batch is not None and batch.history:
                if len(batch.messages) < MAX_BATCH_LINES:
                    batch.messages.append(msg)
                return
        command = msg.command.upper()
        if command == "BATCH":
            self._on_batch(msg)
            return
        handler = _COMMAND_HANDLERS.get(command)
        if handler is not None:
            handler(self, msg)
        elif command.isdigit():
            self._numeric(msg)
        else:
            self._show_unknown(msg)

    def _show_unknown(self, msg: Message) -> None:
        text = " ".join(msg.params)
        self.model.add(self.model.server, Line(self._time(msg), LineKind.INFO, f"{msg.command.upper()} {text}"))

    def _on_ping(self, msg: Message) -> None:
        self._send(Message("PONG", msg.params[:1] or ("",)))

    def _on_pong(self, msg: Message) -> None:
        link = self._link
        if link is None or not msg.params:
            return
        settled = [key for key, token in link.joining.items() if token == msg.params[-1]]
        if settled:
            for key in settled:
                del link.joining[key]  # everything the server had for that JOIN has come
            self.model.changed()  # scrolling up past the top can ask for older history now
        sent = link.pings.pop(msg.params[-1], None)
        if sent is not None:
            self.model.lag = trio.current_time() - sent
            self.model.changed()

    def _on_error(self, msg: Message) -> None:
        text = msg.params[-1] if msg.params else "closing link"
        if self._link is not None and not self._link.fatal:
            self._link.error = f"Server closed the link: {text}"

    def _on_batch(self, msg: Message) -> None:
        link = self._link
        if link is None or not msg.params or len(msg.params[0]) < 2:
            return
        ref, batch_id = msg.params[0][0], msg.params[0][1:]
        if ref == "+" and len(link.batches) < MAX_OPEN_BATCHES:
            kind = msg.params[1] if len(msg.params) > 1 else ""
            target = msg.params[2] if len(msg.params) > 2 else ""
            link.batches[batch_id] = _Batch(kind, target, replay=casefold(target) in link.joining)
        elif ref == "-":
            batch = link.batches.pop(batch_id, None)
            if batch is not None and batch.history:
                self._on_history(batch)

    def _on_history(self, batch: _Batch) -> None:
        """A ``chathistory`` batch has ended: the replay on joining, or the answer to :meth:`fetch_older`."""
        link = self._link
        assert link is not None
        key = casefold(batch.target)
        answer = not batch.replay and link.history_request == key
        if answer:
            link.history_request = None
        buf = self.model.find(batch.target)
        if buf is None or buf.kind is not BufferKind.CHANNEL:
            return
        lines = [line for line in map(self._history_line, batch.messages) if line is not None]
        if answer:
            self.model.add_older(buf, lines, complete=not batch.messages)
        elif buf.joined:
            # The replay, or history nobody asked for (a server replaying at another moment): shown the same way.
            self.model.add_history(buf, lines)

    def _history_line(self, msg: Message) -> Line | None:
        """A message from a history batch as a line marked history, at the time it was said; None for others."""
        command = msg.command.upper()
        if command not in ("PRIVMSG", "NOTICE") or len(msg.params) < 2:
            return None
        nick = split_userhost(msg.source or "")[0]
        text = msg.params[1]
        kind = LineKind.NOTICE if command == "NOTICE" else LineKind.MESSAGE
        if text.startswith("\x01"):
            ctcp, _, arg = text.strip("\x01").partition(" ")
            if ctcp.upper() != "ACTION" or kind is LineKind.NOTICE:
                return None  # a CTCP request of long ago: nothing to show, and certainly nothing to answer
            kind, text = LineKind.ACTION, arg
        return Line(
            self._time(msg),
            kind,
            clean_formatting(text),
            nick=nick or msg.source,
            own=self._is_me(nick),
            history=True,
            msgid=msg.tags.get("msgid"),
        )

    def _on_fail(self, msg: Message) -> None:
        """``FAIL command code [context…] :description`` (IRCv3 standard replies)."""
        link = self._link
        if link is not None and len(msg.params) >= 2 and msg.params[0].upper() == "CHATHISTORY":
            asked, link.history_request = link.history_request, None
            buf = self.model.find(asked) if asked is not None else None
            if buf is not None:
                bad_ref = msg.params[1] in ("INVALID_PARAMS", "INVALID_MSGREFS")
                if bad_ref and not link.history_by_time and self._ask_history(link, buf, by_time=True):
                    return  # the oldest message was deleted from history since: ask from its time instead
                buf.history_complete = buf.history_complete or bad_ref
                self.model.set_history_loading(buf, False)
                self._error(f"Could not load older messages: {strip_formatting(msg.params[-1])}", buf=buf)
                return
        if len(msg.params) >= 3 and msg.params[0].upper() == "REGISTER":
            text = f"Registration failed: {strip_formatting(msg.params[-1])} ({msg.params[1]})"
            self._account_news(text, kind=LineKind.ERROR, time=self._time(msg))
            return
        self._show_unknown(msg)

    def _on_cap(self, msg: Message) -> None:
        link = self._link
        if link is None or len(msg.params) < 2:
            return
        sub = msg.params[1].upper()
        caps = msg.params[-1].split()
        names = [c.partition("=")[0] for c in caps]
        if sub == "LS":
            link.cap_ls += names
            link.cap_values.update(c.partition("=")[::2] for c in caps)
            if len(msg.params) > 3 and msg.params[2] == "*":
                return  # more LS lines follow
            self._request_caps(link.cap_ls, login=True)
        elif sub == "NEW":
            self._request_caps(names)
        elif sub == "ACK":
            for name in names:
                if name.startswith("-"):
                    link.caps.discard(name[1:])
                else:
                    link.caps.add(name)
            if SASL in names and link.sasl == "requested" and not link.registered:
                link.sasl = "authenticating"
                self._send(Message("AUTHENTICATE", ("PLAIN",)))
                return  # CAP END once the login is done
            self._end_cap()
        elif sub == "NAK":
            if SASL in names and link.sasl == "requested":
                self._sasl_fatal(f"{self.config.address} refused the sasl capability: cannot log in")
                return
            self._end_cap()
        elif sub == "DEL":
            link.caps.difference_update(names)

    def _request_caps(self, offered: list[str], *, login: bool = False) -> None:
        link = self._link
        assert link is not None
        wanted = [c for c in WANTED_CAPS if c in offered and c not in link.caps]
        if login and self._sasl_wanted and not link.registered:
            mechanisms = link.cap_values.get(SASL, "")
            if SASL not in offered:
                self._sasl_fatal(
                    f"{self.config.address} does not offer SASL, so --sasl cannot log in; not connecting without it"
                )
                return
            if mechanisms and "PLAIN" not in mechanisms.upper().split(","):
                self._sasl_fatal(f"{self.config.address} does not offer SASL PLAIN (only {mechanisms}); cannot log in")
                return
            wanted.append(SASL)
            link.sasl = "requested"
        if wanted:
            self._send(Message("CAP", ("REQ", " ".join(wanted))))
        else:
            self._end_cap()

    def _end_cap(self) -> None:
        link = self._link
        if link is None or link.sasl in ("requested", "authenticating", "sent"):
            return  # registration waits for the SASL login
        if not link.cap_ended and not link.registered:
            link.cap_ended = True
            self._send(Message("CAP", ("END",)))

    def _numeric(self, msg: Message) -> None:
        code = msg.command
        handler = _NUMERIC_HANDLERS.get(code)
        if handler is not None:
            handler(self, msg)
            return
        params = msg.params[1:]
        text = " ".join((*params[:-1], strip_formatting(params[-1]))) if params else code
        if code.startswith(("4", "5")):
            self._error(f"{': '.join(params[:-1]) + ': ' if len(params) > 1 else ''}{params[-1] if params else code}")
        elif code in _CURRENT_BUFFER_NUMERICS:
            self.model.add(self.model.current, Line(self._time(msg), LineKind.INFO, text))
        else:
            self.model.add(self.model.server, Line(self._time(msg), LineKind.INFO, text))

    def _send_lag_ping(self, link: _Link) -> None:
        token = f"lag{next(link.ping_seq)}"
        link.pings[token] = trio.current_time()
        self._send(Message("PING", (token,)))

    def _on_welcome(self, msg: Message) -> None:
        link = self._link
        assert link is not None
        if self._sasl_wanted and link.sasl != "done":
            # A server that registered us before (or without) the SASL login: do not stay unauthenticated.
            self._sasl_fatal(f"{self.config.address} registered us without the SASL login; disconnected")
            return
        self._send_lag_ping(link)  # so the status line shows the lag from the start
        link.registered = True
        link.cap_ended = True
        if msg.params:
            self.model.nick = msg.params[0]
        self.model.set_state(ConnectionState.CONNECTED, self.config.address)
        self.model.add(self.model.server, Line(self._time(msg), LineKind.INFO, msg.params[-1] if msg.params else ""))
        if not self.registered.is_set():
            self.registered.set()
        if not self._is_me(self._wanted_nick):
            self._info(f"Registered as {self.model.nick}; {self._wanted_nick} is in use", buf=self.model.server)
        keyed = [c for c in self._autojoin if casefold(c) in self._keys]
        plain = [c for c in self._autojoin if casefold(c) not in self._keys]
        for i in range(0, len(keyed), 10):
            group = keyed[i : i + 10]
            keys = ",".join(self._keys[casefold(c)] for c in group)
            self._send(Message("JOIN", (",".join(group), keys)))  # keyed channels first, as JOIN pairs them
        for i in range(0, len(plain), 10):
            self._send(Message("JOIN", (",".join(plain[i : i + 10]),)))

    def _on_isupport(self, msg: Message) -> None:
        for token in msg.params[1:-1]:
            name, _, value = token.partition("=")
            if name == "PREFIX" and value.startswith("(") and ")" in value:
                modes, _, symbols = value[1:].partition(")")
                if len(modes) == len(symbols):
                    self._prefixes = dict(zip(modes, symbols, strict=True))
                    self.model.prefix_order = symbols
            elif name == "CHANMODES":
                parts = value.split(",")
                if len(parts) >= 4:
                    self._chanmodes = (parts[0], parts[1], parts[2], parts[3])
            elif name == "NETWORK" and value and self.chatlog is not None:
                self.chatlog.set_network(value)
            elif name == "CHATHISTORY" and self._link is not None:
                self._link.chathistory_max = int(value) if value.isdigit() and int(value) > 0 else None
        self.model.add(self.model.server, Line(self._time(msg), LineKind.INFO, " ".join(msg.params[1:])))

    def _on_nick_in_use(self, msg: Message) -> None:
        link = self._link
        assert link is not None
        taken = msg.params[1] if len(msg.params) > 2 else "?"
        if link.registered:
            if link.nick_retry is not None and casefold(taken) == casefold(link.nick_retry):
                link.nick_retry = None  # still taken: try again later, without a word
                return
            self._error(f"The nick {taken} is already in use")
            return
        link.nick_attempt += 1
        if link.nick_attempt > self.config.max_nick_attempts:
            link.fatal = f"Every nick tried is in use (last: {taken}); try another nick"
            return
        base = self._wanted_nick
        alt = base + "_" * link.nick_attempt if link.nick_attempt <= 3 else f"{base}{link.nick_attempt}"
        self._error(f"The nick {taken} is in use; trying {alt}", buf=self.model.server)
        self._send(Message("NICK", (alt,)))

    def _on_bad_nick(self, msg: Message) -> None:
        link = self._link
        assert link is not None
        bad = msg.params[1] if len(msg.params) > 2 else "?"
        text = f"The server refuses the nick {bad}: {msg.params[-1]}"
        if link.registered:
            self._error(text)
        else:
            link.fatal = text

    def _on_password_mismatch(self, msg: Message) -> None:
        link = self._link
        assert link is not None
        if self.config.password:
            link.fatal = f"Wrong password for {self.config.address} (the server said: {msg.params[-1]})"
        else:
            link.fatal = f"{self.config.address} needs a password: use --password"

    def _on_banned(self, msg: Message) -> None:
        assert self._link is not None
        self._link.fatal = f"You are banned from {self.config.address}: {msg.params[-1]}"

    def _on_privmsg(self, msg: Message) -> None:
        if len(msg.params) < 2:
            return
        nick = split_userhost(msg.source or "")[0]
        target, text = msg.params[0], msg.params[1]
        notice = msg.command.upper() == "NOTICE"
        own = self._is_me(nick)
        if not own and self.model.ignored(msg.source):
            return  # not shown, not answered (CTCP), not counted
        kind = LineKind.NOTICE if notice else LineKind.MESSAGE
        link = self._link
        from_user = bool(msg.source) and "!" in (msg.source or "")
        if link is not None and from_user and ACCOUNT_TAG in link.caps and casefold(nick) != casefold(cmd.NICKSERV):
            # account-tag: every message from a user says which account they are logged in to (none: no tag).
            self.model.set_account(nick, msg.tags.get("account") or None)
        to_nickserv = own and casefold(target) == casefold(cmd.NICKSERV)
        if to_nickserv and cmd.mask_service_text(text) is not None:
            if link is not None and link.hidden_echoes > 0:
                link.hidden_echoes -= 1  # the echo of /register or /identify: nothing to show
                return
            text = cmd.mask_service_text(text) or text
        if (
            notice
            and from_user
            and casefold(nick) == casefold(cmd.NICKSERV)
            and not is_channel_name(target)
            and self.model.find(nick) is None
        ):
            # NickServ's answers (to /register, /identify, or about the nick we hold): server news.
            self._account_news(strip_formatting(text), kind=LineKind.NOTICE, time=self._time(msg), nick=nick)
            return
        if text.startswith("\x01"):
            ctcp, _, arg = text.strip("\x01").partition(" ")
            if ctcp.upper() == "ACTION" and not notice:
                kind, text = LineKind.ACTION, arg
            else:
                self._ctcp(msg, nick, ctcp.upper(), arg, notice)
                return
        from_server = not msg.source or "!" not in msg.source
        if from_server or (not self.connected and not own):
            # From the server itself (or before we know who we are): that is server news.
            buf = self.model.server if not is_channel_name(target) else self.model.open(target)
        elif is_channel_name(target) or own:
            buf = self.model.open(target)
        elif notice and self.model.find(nick) is None:
            buf = self.model.current
        else:
            buf = self.model.open(nick)
        words = (self.model.nick, *self.model.settings.highlight_words)
        highlight = not own and (buf.kind is BufferKind.QUERY or any(mentions(text, w) for w in words))
        text = clean_formatting(text)  # drawn with its bold, colours…; other control characters go
        msgid = msg.tags.get("msgid")
        line = Line(self._time(msg), kind, text, nick=nick or msg.source, own=own, highlight=highlight, msgid=msgid)
        self.model.add(buf, line)

    def _ctcp(self, msg: Message, nick: str, ctcp: str, arg: str, reply: bool) -> None:
        """A CTCP request (PRIVMSG) or reply (NOTICE), shown once and readably.  Our own, echoed back by
        echo-message (the answers our client sent, the requests /ctcp sent and said so), are not shown again."""
        if self._is_me(nick):
            return
        target = msg.params[0]
        if reply:
            self._info(self._ctcp_reply_text(nick, ctcp, arg))
            return
        answer = {
            "VERSION": CLIENT_VERSION,
            "PING": arg,
            "TIME": self._now().strftime("%c"),
            "CLIENTINFO": "ACTION CLIENTINFO PING TIME VERSION",
        }.get(ctcp)
        if answer is not None:
            self._send(Message("NOTICE", (nick, f"\x01{ctcp} {answer}\x01" if answer else f"\x01{ctcp}\x01")))
        whose = "your" if not is_channel_name(target) else f"{target}'s"
        self.model.add(
            self.model.server, Line(self._time(msg), LineKind.INFO, f"{nick} asked for {whose} {ctcp}", nick)
        )

    def _ctcp_reply_text(self, nick: str, ctcp: str, arg: str) -> str:
        if ctcp == "PING":
            sent = self._ctcp_pings.pop((casefold(nick), arg.strip()), None)
            if sent is not None:
                return f"PING reply from {nick}: {trio.current_time() - sent:.2f} s"
        said = strip_formatting(arg)
        return f"{ctcp} reply from {nick}: {said}" if said else f"{ctcp} reply from {nick}"

    def _on_join(self, msg: Message) -> None:
        if not msg.params:
            return
        nick, user, host = split_userhost(msg.source or "")
        channel = msg.params[0]
        when = self._time(msg)
        if self._is_me(nick):
            quiet = casefold(channel) in self._quiet_joins
            self._quiet_joins.discard(casefold(channel))
            buf = self.model.open(channel, switch=not quiet)
            link = self._link
            if link is not None and BATCH in link.caps:
                token = f"sync{next(link.ping_seq)}"
                link.joining[buf.key] = token
                self._send(Message("PING", (token,)))
            buf.joined = True
            buf.members.clear()
            buf.add_member(nick, account=self.model.account)
            self.model.add(buf, Line(when, LineKind.JOIN, f"You joined {channel}", nick=nick, own=True))
            return
        account = self._join_account(msg)
        buf = self.model.open(channel)
        buf.add_member(nick, account=account)
        about = [f"{user}@{host}"] if user else []
        if account:
            about.append(f"account {account}")
        who = f"{nick} ({', '.join(about)})" if about else nick
        self.model.add(buf, Line(when, LineKind.JOIN, f"{who} joined {channel}", nick=nick))

    def _join_account(self, msg: Message) -> str | None:
        """The account of whoever joined: extended-join's second parameter (``*`` for none), or the account tag."""
        link = self._link
        caps = link.caps if link is not None else set()
        if EXTENDED_JOIN in caps and len(msg.params) >= 3:
            return msg.params[1] if msg.params[1] != "*" else None
        if ACCOUNT_TAG in caps:
            return msg.tags.get("account") or None
        return None

    def _on_account(self, msg: Message) -> None:
        """account-notify: ``:nick!user@host ACCOUNT <account|*>``, said in every channel where they are."""
        if not msg.params:
            return
        nick = split_userhost(msg.source or "")[0]
        account = msg.params[0] if msg.params[0] != "*" else None
        if self._is_me(nick):
            self.model.account = account
            self.model.set_account(nick, account)
            self.model.changed()
            return  # 900 / 901 say it
        self.model.set_account(nick, account)
        text = f"{nick} is now logged in as {account}" if account else f"{nick} is now logged out"
        for buf in self.model.buffers_with(nick):
            self.model.add(buf, Line(self._time(msg), LineKind.ACCOUNT, text, nick))

    def _on_part(self, msg: Message) -> None:
        if not msg.params:
            return
        nick = split_userhost(msg.source or "")[0]
        channel = msg.params[0]
        reason = f" ({strip_formatting(msg.params[1])})" if len(msg.params) > 1 and msg.params[1] else ""
        buf = self.model.find(channel)
        if buf is None:
            return
        if self._is_me(nick):
            buf.joined = False
            buf.members.clear()
            self.model.add(buf, Line(self._time(msg), LineKind.PART, f"You left {channel}{reason}", nick, own=True))
        else:
            buf.remove_member(nick)
            self.model.add(buf, Line(self._time(msg), LineKind.PART, f"{nick} left {channel}{reason}", nick))

    def _on_kick(self, msg: Message) -> None:
        if len(msg.params) < 2:
            return
        by = split_userhost(msg.source or "")[0]
        channel, victim = msg.params[0], msg.params[1]
        reason = f" ({strip_formatting(msg.params[2])})" if len(msg.params) > 2 and msg.params[2] else ""
        buf = self.model.find(channel)
        if buf is None:
            return
        if self._is_me(victim):
            buf.joined = False
            buf.members.clear()
            text = f"You were kicked from {channel} by {by}{reason}"
            self.model.add(buf, Line(self._time(msg), LineKind.KICK, text, victim, highlight=True))
        else:
            buf.remove_member(victim)
            text = f"{victim} was kicked from {channel} by {by}{reason}"
            self.model.add(buf, Line(self._time(msg), LineKind.KICK, text, victim))

    def _on_quit(self, msg: Message) -> None:
        nick = split_userhost(msg.source or "")[0]
        reason = strip_formatting(msg.params[0]) if msg.params else ""
        text = f"{nick} quit" + (f" ({reason})" if reason else "")
        for buf in list(self.model.buffers_with(nick)):
            buf.remove_member(nick)
            self.model.add(buf, Line(self._time(msg), LineKind.QUIT, text, nick))

    def _on_nick(self, msg: Message) -> None:
        if not msg.params:
            return
        old = split_userhost(msg.source or "")[0]
        new = msg.params[0]
        when = self._time(msg)
        if self._is_me(old):
            link = self._link
            regained = link is not None and link.nick_retry is not None and casefold(new) == casefold(link.nick_retry)
            if link is not None:
                link.nick_retry = None
            self.model.nick = new
            self._wanted_nick = new
            if regained:
                self._info(f"Got the nick {new} back", buf=self.model.server)
            targets = [self.model.server, *(b for b in self.model.channels() if b.joined)]
            for buf in targets:
                buf.rename_member(old, new)
                self.model.add(buf, Line(when, LineKind.NICK, f"You are now known as {new}", new, own=True))
            return
        for buf in list(self.model.buffers_with(old)):
            buf.rename_member(old, new)
            self.model.add(buf, Line(when, LineKind.NICK, f"{old} is now known as {new}", new))
        self.model.rename(old, new)

    def _on_topic(self, msg: Message) -> None:
        if len(msg.params) < 2:
            return
        nick = split_userhost(msg.source or "")[0]
        buf = self.model.open(msg.params[0])
        buf.topic = strip_formatting(msg.params[1])
        text = f"{nick} changed the topic to: {buf.topic}" if buf.topic else f"{nick} cleared the topic"
        self.model.add(buf, Line(self._time(msg), LineKind.TOPIC, text, nick))

    def _on_rpl_topic(self, msg: Message) -> None:
        if len(msg.params) < 3:
            return
        buf = self.model.open(msg.params[1])
        buf.topic = strip_formatting(msg.params[2])
        self.model.add(buf, Line(self._time(msg), LineKind.TOPIC, f"Topic: {buf.topic}"))

    def _on_rpl_notopic(self, msg: Message) -> None:
        if len(msg.params) >= 2:
            self.model.add(self.model.open(msg.params[1]), Line(self._time(msg), LineKind.TOPIC, "No topic is set"))

    def _on_topic_who_time(self, msg: Message) -> None:
        if len(msg.params) < 4:
            return
        who = split_userhost(msg.params[2])[0]
        when = self._date(msg.params[3])
        self.model.add(self.model.open(msg.params[1]), Line(self._time(msg), LineKind.TOPIC, f"Set by {who} on {when}"))

    def _on_names(self, msg: Message) -> None:
        if len(msg.params) < 4 or self._link is None:
            return
        self._link.names.setdefault(casefold(msg.params[2]), []).extend(msg.params[3].split())

    def _on_end_of_names(self, msg: Message) -> None:
        if len(msg.params) < 2 or self._link is None:
            return
        channel = msg.params[1]
        names = self._link.names.pop(casefold(channel), [])
        symbols = "".join(self._prefixes.values())
        buf = self.model.find(channel)
        if buf is not None and buf.joined:
            known = {key: member.account for key, member in buf.members.items()}  # NAMES does not say
            known[casefold(self.model.nick)] = self.model.account
            buf.members.clear()
            for entry in names:
                nick = split_userhost(entry.lstrip(symbols))[0]
                buf.add_member(nick, entry[: len(entry) - len(entry.lstrip(symbols))], known.get(casefold(nick)))
            shown = " ".join(m.prefixes[:1] + m.nick for m in buf.sorted_members(self.model.prefix_order))
            count = len(buf.members)
        else:
            buf = self.model.current
            shown, count = " ".join(names), len(names)
        people = "person" if count == 1 else "people"
        self.model.add(buf, Line(self._time(msg), LineKind.INFO, f"{count} {people} in {channel}: {shown}"))

    def _on_mode(self, msg: Message) -> None:
        if len(msg.params) < 2:
            return
        nick = split_userhost(msg.source or "")[0]
        target = msg.params[0]
        change = " ".join(msg.params[1:])
        if not is_channel_name(target):
            self._info(f"{nick} sets mode {change} on {target}", buf=self.model.server, kind=LineKind.MODE)
            return
        buf = self.model.open(target)
        self._apply_prefix_modes(buf, msg.params[1], list(msg.params[2:]))
        self._note_key(target, msg.params[1], list(msg.params[2:]))
        self.model.add(buf, Line(self._time(msg), LineKind.MODE, f"{nick} sets mode {change}", nick))

    def _note_key(self, channel: str, modes: str, args: list[str]) -> None:
        """Follow the channel key (``+k key`` / ``-k``) in MODE changes and 324, to rejoin with it."""
        always, param, set_only, _ = self._chanmodes
        adding = True
        for ch in modes:
            if ch in "+-":
                adding = ch == "+"
            elif ch == "k":
                key = args.pop(0) if args else ""
                if adding and key and key != "*":
                    self._keys[casefold(channel)] = key
                elif not adding:
                    self._keys.pop(casefold(channel), None)
            elif (ch in self._prefixes or ch in always or ch in param or (ch in set_only and adding)) and args:
                args.pop(0)

    def _apply_prefix_modes(self, buf: Buffer, modes: str, args: list[str]) -> None:
        always, param, set_only, _ = self._chanmodes
        adding = True
        for ch in modes:
            if ch in "+-":
                adding = ch == "+"
            elif ch in self._prefixes:
                if not args:
                    return
                member = buf.members.get(casefold(args.pop(0)))
                if member is not None:
                    symbol = self._prefixes[ch]
                    order = self.model.prefix_order
                    have = set(member.prefixes) | {symbol} if adding else set(member.prefixes) - {symbol}
                    member.prefixes = "".join(s for s in order if s in have)
            elif (ch in always or ch in param or (ch in set_only and adding)) and args:
                args.pop(0)

    def _on_away(self, msg: Message) -> None:
        nick = split_userhost(msg.source or "")[0]
        for buf in self.model.buffers_with(nick):
            member = buf.members.get(casefold(nick))
            if member is not None:
                member.away = bool(msg.params)
        if not msg.params:
            self._away_said.pop(casefold(nick), None)  # back: the next away message is news again
        self.model.changed()

    def _on_invite(self, msg: Message) -> None:
        if len(msg.params) < 2:
            return
        nick = split_userhost(msg.source or "")[0]
        who, channel = msg.params[0], msg.params[1]
        if self.model.ignored(msg.source):
            return
        if self._is_me(who):
            text = f"{nick} invites you to {channel} (/join {channel})"
            self.model.add(self.model.current, Line(self._time(msg), LineKind.INFO, text, nick, highlight=True))
        else:
            buf = self.model.find(channel) or self.model.current
            self.model.add(buf, Line(self._time(msg), LineKind.INFO, f"{nick} invited {who} to {channel}", nick))

    def _on_unaway(self, msg: Message) -> None:
        self.model.away = msg.command == rpl.RPL_NOWAWAY
        self._info(msg.params[-1] if msg.params else "")

    def _on_unknown_command(self, msg: Message) -> None:
        if len(msg.params) >= 2 and msg.params[1].upper() == "CAP":
            # A server without capability negotiation: registration simply goes on without it.
            if self._link is not None:
                self._link.cap_ended = True
            if self._sasl_wanted:
                self._sasl_fatal(
                    f"{self.config.address} does not support capability negotiation, so --sasl cannot log in; "
                    "not connecting without it"
                )
            return
        if len(msg.params) >= 2 and msg.params[1].upper() == "CHATHISTORY" and self._link is not None:
            asked, self._link.history_request = self._link.history_request, None
            buf = self.model.find(asked) if asked is not None else None
            if buf is not None:
                buf.history_complete = True  # it will not know the command next time either
                self.model.set_history_loading(buf, False)
        self._error(f"The server does not know {msg.params[1] if len(msg.params) > 2 else 'that command'}")

    def _on_whois_account(self, msg: Message) -> None:
        """``330 me nick account :is logged in as``."""
        p = msg.params
        if len(p) < 3:
            return
        self.model.set_account(p[1], p[2])
        self.model.add(self.model.current, Line(self._time(msg), LineKind.INFO, f"{p[1]} is logged in as {p[2]}"))

    # -- accounts: SASL, REGISTER, logins -------------------------------------------------------------------------

    @property
    def _sasl_wanted(self) -> bool:
        return self.config.sasl_account is not None and self.config.sasl_password is not None

    def _sasl_fatal(self, why: str) -> None:
        link = self._link
        if link is not None and not link.fatal:
            link.fatal = why

    def _on_authenticate(self, msg: Message) -> None:
        link = self._link
        account, password = self.config.sasl_account, self.config.sasl_password
        if link is None or link.sasl != "authenticating" or account is None or password is None:
            return
        if msg.params[:1] != ("+",):
            self._sasl_fatal(f"{self.config.address} answered SASL PLAIN strangely; not logging in")
            return
        link.sasl = "sent"
        for chunk in sasl_plain_lines(account, password):
            self._send(Message("AUTHENTICATE", (chunk,)))

    def _on_sasl_success(self, msg: Message) -> None:
        link = self._link
        if link is None:
            return
        if link.sasl in ("authenticating", "sent"):
            link.sasl = "done"
            account = self.model.account or self.config.sasl_account
            self._account_news(f"Logged in as {account}", time=self._time(msg))
            self._end_cap()
        else:
            self._account_news(msg.params[-1] if msg.params else "SASL authentication successful")

    def _on_sasl_failure(self, msg: Message) -> None:
        """904 (wrong password, no such account), 905 (too long), 906 (aborted), 902 (nick locked)."""
        link = self._link
        said = strip_formatting(msg.params[-1]) if len(msg.params) > 1 else msg.command
        if link is not None and link.sasl in ("requested", "authenticating", "sent") and not link.registered:
            account = self.config.sasl_account
            why = f"wrong password, or no account {account}" if msg.command == rpl.ERR_SASLFAIL else "refused"
            self._sasl_fatal(f"Logging in as {account} failed: {why} (the server said: {said})")
            return
        self._error(f"{said}", buf=self.model.server)

    def _on_sasl_already(self, msg: Message) -> None:
        link = self._link
        if link is not None and link.sasl in ("authenticating", "sent"):
            link.sasl = "done"
            self._end_cap()
        self._info(msg.params[-1] if msg.params else "Already logged in", buf=self.model.server)

    def _on_logged_in(self, msg: Message) -> None:
        """``900 me nick!user@host account :You are now logged in as account``."""
        if len(msg.params) < 3:
            return
        account = msg.params[2]
        self.model.account = account
        self.model.set_account(self.model.nick, account)
        self.model.changed()
        link = self._link
        if link is None or link.sasl not in ("authenticating", "sent"):  # SASL says it with 903
            self._account_news(f"You are now logged in as {account}", time=self._time(msg))

    def _on_logged_out(self, msg: Message) -> None:
        self.model.account = None
        self.model.set_account(self.model.nick, None)
        self.model.changed()
        self._account_news("You are now logged out", time=self._time(msg))

    def _on_register(self, msg: Message) -> None:
        """draft/account-registration: ``REGISTER SUCCESS <account> :message`` (``VERIFICATION_REQUIRED``)."""
        p = msg.params
        if len(p) >= 2 and p[0].upper() == "SUCCESS":
            self._account_news(f"Account {p[1]} registered", time=self._time(msg))
        elif len(p) >= 2 and p[0].upper() == "VERIFICATION_REQUIRED":
            self._account_news(f"Account {p[1]} registered; verify it: {strip_formatting(p[-1])}")
        else:
            self._show_unknown(msg)

    def _on_away_reply(self, msg: Message) -> None:
        """301: in a WHOIS answer, part of it; otherwise the answer to a message we sent someone who is away,
        shown in the query with them (once per away message, as servers repeat it for every message)."""
        p = msg.params
        link = self._link
        if len(p) < 3 or link is None:
            return
        if casefold(p[1]) in link.whois_open:
            self._on_whois(msg)
            return
        said = strip_formatting(p[2])
        if self._away_said.get(casefold(p[1])) == said:
            return
        self._away_said[casefold(p[1])] = said
        buf = self.model.find(p[1]) or self.model.current
        self.model.add(buf, Line(self._time(msg), LineKind.INFO, f"{p[1]} is away: {said}", p[1]))

    def _on_no_motd(self, msg: Message) -> None:
        """422: the server has no message of the day; news for the server buffer, not an error."""
        self.model.add(self.model.server, Line(self._time(msg), LineKind.INFO, "No message of the day"))
        self._end_of_motd(msg)

    def _end_of_motd(self, msg: Message) -> None:
        """376 or 422: the welcome is over; a server that has not named its network by now will not."""
        if msg.command == rpl.RPL_ENDOFMOTD:
            self.model.add(self.model.server, Line(self._time(msg), LineKind.INFO, " ".join(msg.params[1:])))
        if self.chatlog is not None:
            self.chatlog.set_network(None)

    def _on_channel_time(self, msg: Message) -> None:
        """329 ``me #chan <unix time>``: when the channel was created, as a date."""
        p = msg.params
        if len(p) < 3:
            return
        text = f"{p[1]} was created on {self._date(p[2])}"
        self.model.add(self.model.find(p[1]) or self.model.current, Line(self._time(msg), LineKind.INFO, text))

    def _on_channel_modes(self, msg: Message) -> None:
        """324 ``me #chan +modes [args]``."""
        p = msg.params
        if len(p) < 3:
            return
        text = f"{p[1]} modes: {' '.join(p[2:])}"
        self._note_key(p[1], p[2], list(p[3:]))
        self.model.add(self.model.find(p[1]) or self.model.current, Line(self._time(msg), LineKind.INFO, text))

    @staticmethod
    def _date(stamp: str) -> str:
        try:
            return datetime.fromtimestamp(int(stamp)).astimezone().strftime("%Y-%m-%d %H:%M")
        except (ValueError, OverflowError, OSError):
            return stamp

    def _on_end_of_whois(self, msg: Message) -> None:
        if self._link is not None and len(msg.params) >= 2:
            self._link.whois_open.discard(casefold(msg.params[1]))
        self._on_whois(msg)

    def _on_whois(self, msg: Message) -> None:
        p = msg.params
        code = msg.command
        if code == rpl.RPL_WHOISUSER and len(p) >= 6:
            if self._link is not None and len(self._link.whois_open) < 16:
                self._link.whois_open.add(casefold(p[1]))
            header = Line(self._time(msg), LineKind.INFO, f"─── whois {p[1]} ───", p[1])
            self.model.add(self.model.current, header)
            text = f"{p[1]} is {p[2]}@{p[3]} ({strip_formatting(p[5])})"
        elif code == rpl.RPL_WHOISSERVER and len(p) >= 4:
            text = f"{p[1]} is on {p[2]} ({p[3]})"
        elif code == rpl.RPL_WHOISIDLE and len(p) >= 3:
            text = f"{p[1]} has been idle {p[2]} s"
            if len(p) >= 5 and p[3].isdigit():
                text += f", connected since {self._date(p[3])}"
        elif code == rpl.RPL_WHOISCHANNELS and len(p) >= 3:
            text = f"{p[1]} is in {p[2]}"
        elif code == rpl.RPL_AWAY and len(p) >= 3:
            text = f"{p[1]} is away: {strip_formatting(p[2])}"
        elif code == rpl.RPL_WHOREPLY and len(p) >= 8:
            text = f"{p[1]} {p[5]} ({p[2]}@{p[3]}) {p[6]} {strip_formatting(p[7])}"
        elif code == rpl.RPL_LIST and len(p) >= 4:
            text = f"{p[1]} ({p[2]}): {strip_formatting(p[3])}"
        else:
            text = " ".join((*p[1:-1], strip_formatting(p[-1]))) if len(p) > 1 else code
        self.model.add(self.model.current, Line(self._time(msg), LineKind.INFO, text))


_CURRENT_BUFFER_NUMERICS = frozenset(
    {
        rpl.RPL_ENDOFWHO,
        rpl.RPL_WHOISOPERATOR,
        rpl.RPL_WHOISHOST,
        rpl.RPL_WHOISSECURE,
        "338",
        rpl.RPL_LISTSTART,
        rpl.RPL_LISTEND,
        rpl.RPL_INVITING,
        rpl.RPL_UMODEIS,
        rpl.RPL_BANLIST,
        rpl.RPL_ENDOFBANLIST,
    }
)

_Handler = Callable[[ChatClient, Message], None]

_COMMAND_HANDLERS: dict[str, _Handler] = {
    "PING": ChatClient._on_ping,
    "PONG": ChatClient._on_pong,
    "ERROR": ChatClient._on_error,
    "CAP": ChatClient._on_cap,
    "PRIVMSG": ChatClient._on_privmsg,
    "NOTICE": ChatClient._on_privmsg,
    "JOIN": ChatClient._on_join,
    "PART": ChatClient._on_part,
    "KICK": ChatClient._on_kick,
    "QUIT": ChatClient._on_quit,
    "NICK": ChatClient._on_nick,
    "TOPIC": ChatClient._on_topic,
    "MODE": ChatClient._on_mode,
    "AWAY": ChatClient._on_away,
    "INVITE": ChatClient._on_invite,
    "FAIL": ChatClient._on_fail,
    "ACCOUNT": ChatClient._on_account,
    "AUTHENTICATE": ChatClient._on_authenticate,
    "REGISTER": ChatClient._on_register,
}

_NUMERIC_HANDLERS: dict[str, _Handler] = {
    rpl.RPL_WELCOME: ChatClient._on_welcome,
    rpl.RPL_ISUPPORT: ChatClient._on_isupport,
    rpl.ERR_NICKNAMEINUSE: ChatClient._on_nick_in_use,
    rpl.ERR_ERRONEUSNICKNAME: ChatClient._on_bad_nick,
    rpl.ERR_PASSWDMISMATCH: ChatClient._on_password_mismatch,
    rpl.ERR_YOUREBANNEDCREEP: ChatClient._on_banned,
    rpl.RPL_TOPIC: ChatClient._on_rpl_topic,
    rpl.RPL_NOTOPIC: ChatClient._on_rpl_notopic,
    rpl.RPL_TOPICWHOTIME: ChatClient._on_topic_who_time,
    rpl.RPL_NAMREPLY: ChatClient._on_names,
    rpl.RPL_ENDOFNAMES: ChatClient._on_end_of_names,
    rpl.RPL_UNAWAY: ChatClient._on_unaway,
    rpl.RPL_NOWAWAY: ChatClient._on_unaway,
    rpl.ERR_UNKNOWNCOMMAND: ChatClient._on_unknown_command,
    rpl.RPL_WHOISUSER: ChatClient._on_whois,
    rpl.RPL_WHOISSERVER: ChatClient._on_whois,
    rpl.RPL_WHOISIDLE: ChatClient._on_whois,
    rpl.RPL_WHOISCHANNELS: ChatClient._on_whois,
    rpl.RPL_AWAY: ChatClient._on_away_reply,
    rpl.ERR_NOMOTD: ChatClient._on_no_motd,
    rpl.RPL_ENDOFMOTD: ChatClient._end_of_motd,
    rpl.RPL_CREATIONTIME: ChatClient._on_channel_time,
    rpl.RPL_CHANNELMODEIS: ChatClient._on_channel_modes,
    rpl.RPL_ENDOFWHOIS: ChatClient._on_end_of_whois,
    rpl.RPL_WHOREPLY: ChatClient._on_whois,
    rpl.RPL_LIST: ChatClient._on_whois,
    rpl.RPL_WHOISACCOUNT: ChatClient._on_whois_account,
    rpl.RPL_LOGGEDIN: ChatClient._on_logged_in,
    rpl.RPL_LOGGEDOUT: ChatClient._on_logged_out,
    rpl.RPL_SASLSUCCESS: ChatClient._on_sasl_success,
    rpl.ERR_SASLFAIL: ChatClient._on_sasl_failure,
    rpl.ERR_SASLTOOLONG: ChatClient._on_sasl_failure,
    rpl.ERR_SASLABORTED: ChatClient._on_sasl_failure,
    rpl.ERR_NICKLOCKED: ChatClient._on_sasl_failure,
    rpl.ERR_SASLALREADY: ChatClient._on_sasl_already,
}
