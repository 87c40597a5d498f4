"""The server: listeners, connection handling, and graceful shutdown."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import signal
import ssl
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from .config import ConfigError, IPNetwork, ServerConfig
from .handlers import offline
from .history import HistoryStore, MemoryHistory, StoreError
from .outbound import Flusher
from .session import Session
from .state import Network

if TYPE_CHECKING:
    from .cluster.node import Node
    from .web.listener import WebListener
from .store import SQLiteHistory, StoreWorker
from .store.inline import InlineStoreWorker

log = logging.getLogger("trio_chat.server")

ACCEPT_RETRY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
"""``accept`` errors that mean "out of a resource for now" (as in ``trio.serve_listeners``): retried."""
ACCEPT_RETRY_SLEEP = 0.1
MEMORY_MAX_PER_TARGET = 10_000
"""The in-memory store (``--db :memory:``) never keeps more per target than this or ``history_max_messages``,
even with no retention limit: it must fit in memory."""


def read_motd(path: str | None) -> list[str] | None:
    """The MOTD file's lines, or None when no file is configured; an unreadable file is a ConfigError."""
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read MOTD file {path}: {exc}") from None
    return [line[:400] for line in text.splitlines()]


def open_store(config: ServerConfig) -> HistoryStore:
    """The history store ``config.db`` names; a file that cannot be used raises StoreError (one clear line)."""
    if config.db == ":memory:":
        # Its own bound per target never cuts below what retention is told to keep.
        return MemoryHistory(max_per_target=max(MEMORY_MAX_PER_TARGET, config.history_max_messages))
    return SQLiteHistory.open(config.db)


def open_node(network: Network, config: ServerConfig) -> Node:
    """This server as a node of the network in ``config.redis_url``; a ConfigError if coredis is missing."""
    from .cluster import coredis_missing

    problem = coredis_missing()
    if problem is not None:
        raise ConfigError(problem)
    from .cluster.node import Node

    return Node(network, config)


def rss_kb() -> int:
    """The process's resident memory in KiB (Linux); 0 where /proc is not there."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def peer_host(stream: trio.abc.Stream) -> str:
    """The peer's address for a socket stream (``unknown`` for memory streams in tests); for a WebSocket through a
    trusted reverse proxy, the browser's address the proxy gave."""
    client = getattr(stream, "client", None)
    if isinstance(client, str):
        return client
    if isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    socket = getattr(stream, "socket", None)
    if socket is None:
        return "unknown"
    try:
        address = socket.getpeername()
    except OSError:
        return "unknown"
    host = str(address[0]) if isinstance(address, tuple) else "local"
    return f"[{host}]" if ":" in host else host


def host_in(host: str, networks: Sequence[IPNetwork]) -> bool:
    """Whether ``host`` (as :func:`peer_host` gives it: ``10.0.0.1``, ``[::1]``, or a name such as ``unknown``
    that is no address) is in one of ``networks``; an IPv4-mapped IPv6 address counts as its IPv4 address."""
    try:
        address = ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        mapped = address.ipv4_mapped
        return any(address in network or mapped in network for network in networks)
    return any(address in network for network in networks)


class Server:
    """Holds the network state and runs one :class:`Session` per connection."""

    def __init__(
        self, config: ServerConfig, *, clock: Callable[[], float] = time.time, store: HistoryStore | None = None
    ) -> None:
        """Opens the history store (``store``, or the one ``config.db`` names: StoreError if it cannot be used)
        and restores the channels it kept."""
        self.config = config
        self.network = Network(config, clock=clock)
        self.network.motd = read_motd(config.motd)
        self.store = store if store is not None else open_store(config)
        self.history: StoreWorker | InlineStoreWorker = (
            InlineStoreWorker(self.store) if isinstance(self.store, MemoryHistory) else StoreWorker(self.store)
        )
        """Runs the store off the event loop (a thread for SQLite) while :meth:`run` runs."""
        self.network.history = self.history
        replay = self.network.replay_size
        recent = {f: self.store.latest(f, replay) for f in self.store.targets_with_history()} if replay > 0 else {}
        # With several nodes the channels are the network's (Redis): this node's store keeps only its history.
        self.network.restore(self.store.load_channels() if config.redis_url is None else (), recent)
        self.network.restore_accounts(self.store.load_accounts())
        self.network.restore_markers(self.store.load_markers())
        network = self.network
        network.on_login = lambda user: offline.on_login(network, user)
        stats = self.history.stats
        self.network.probes = {
            "sessions": lambda: len(self.sessions),
            "tasks": lambda: trio.lowlevel.current_statistics().tasks_living,
            "rss_kb": rss_kb,
            # Objects alive in CPython's allocator: returns to its baseline when users leave, while RSS keeps
            # the allocator's high-water mark for reuse.
            "py_blocks": sys.getallocatedblocks,
            "store_healthy": lambda: int(stats.healthy),
            "store_messages": lambda: stats.messages,
            "store_transactions": lambda: stats.transactions,
            "store_backlog": lambda: stats.backlog,
            "store_lost": lambda: stats.lost,
        }
        self.sessions: set[Session] = set()
        self.listeners: list[trio.abc.Listener[trio.abc.Stream]] = []
        self.per_host: dict[str, int] = {}
        self.exempt_networks = config.exempt_networks()
        """Address ranges the per-address limit does not apply to (``max_per_ip_exempt``)."""
        self.flusher = Flusher()
        """Writes the SendQs of plain-TCP connections directly, once per scheduler batch (see
        :meth:`run_services`)."""
        self._shutdown = trio.Event()
        self._idle = trio.Event()
        self.node: Node | None = None
        """This server's link to the other nodes of its network (``redis_url``); None on a single node."""
        if config.redis_url is not None:
            self.node = open_node(self.network, config)
        self.web: WebListener | None = None
        """The web client and IRC over WebSocket (``web_port``), served by :meth:`run` when set."""

    async def handle_connection(self, stream: trio.abc.Stream) -> None:
        """Serve one connection until it ends; a bug in one connection never reaches the others."""
        host = peer_host(stream)
        refusal = self._refusal(host)
        if refusal is not None:
            log.info("refused connection from %s: %s", host, refusal)
            with (
                trio.move_on_after(self.config.shutdown_grace),
                contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError),
            ):
                await stream.send_all(f"ERROR :{refusal}\r\n".encode())
            await trio.aclose_forcefully(stream)
            return
        session = Session(self.config, self.network, self.flusher, stream, host)
        self.sessions.add(session)
        self.per_host[host] = self.per_host.get(host, 0) + 1
        try:
            await session.run()
        except Exception:
            log.exception("[%d] internal error; connection dropped", session.id)
            self.network.remove_user(session.user, "Internal server error")
        finally:
            self.sessions.discard(session)
            if not self.sessions:
                self._idle.set()
            if self.per_host[host] == 1:
                del self.per_host[host]
            else:
                self.per_host[host] -= 1

    def _refusal(self, host: str) -> str | None:
        """Why a new connection from ``host`` is refused, or None to accept it."""
        config = self.config
        if config.max_clients and len(self.sessions) >= config.max_clients:
            return "Server is full, try again later"
        if (
            config.max_per_ip
            and self.per_host.get(host, 0) >= config.max_per_ip
            and not host_in(host, self.exempt_networks)
        ):
            return "Too many connections from your address"
        return None

    @property
    def shutting_down(self) -> bool:
        """Whether :meth:`shutdown` was called: listeners that accept on their own (web) refuse from then on."""
        return self._shutdown.is_set()

    def shutdown(self) -> None:
        """Ask :func:`serve` to stop accepting and close every connection with an ERROR line."""
        self._shutdown.set()

    async def run(
        self,
        listeners: Sequence[trio.abc.Listener[trio.abc.Stream]],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept on ``listeners`` until :meth:`shutdown`, then close every connection gracefully.

        The history store runs around the connections: it commits what they stored, then closes.
        """
        async with trio.open_nursery() as services:
            await services.start(self.run_services)
            if self.web is not None:
                await services.start(self.web.run, self)
            await self._serve_connections(listeners, task_status)
            if self.node is not None:
                with trio.move_on_after(self.config.shutdown_grace):
                    await self.node.flush()  # the other nodes see this one's users quit
            services.cancel_scope.cancel()

    async def run_services(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The flusher, the history store and its retention, until cancelled (then the store commits what is
        queued and closes).  :meth:`run` runs them; so do tests that hand streams to :meth:`handle_connection`
        directly."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.flusher.run)
            await nursery.start(self.history.run)
            nursery.start_soon(self.run_retention)
            if self.node is not None:
                # Connections are accepted once this node has the network's state.
                await nursery.start(self.node.run)

            def call_later(delay: float, callback: Callable[[], None]) -> None:
                async def later() -> None:
                    await trio.sleep(delay)
                    try:
                        callback()
                    except Exception:  # a bug in one timed change must not take the server's services down
                        log.exception("internal error in a timed change")

                nursery.start_soon(later)

            self.network.call_later = call_later
            try:
                task_status.started()
                await trio.sleep_forever()
            finally:
                self.network.call_later = None

    async def run_retention(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Apply the retention limits at start-up and then every ``history_prune_interval`` seconds (of trio's
        clock: tests run it on MockClock), until cancelled."""
        task_status.started()
        while True:
            await self.prune_history()
            await trio.sleep(self.config.history_prune_interval)

    async def prune_history(self) -> tuple[int, int]:
        """One pass of retention; returns (messages deleted, channels dropped).

        The store deletes what is beyond ``history_max_messages`` per channel or older than ``history_max_days``;
        the replay rings drop the same old messages (they never hold more than a count prune keeps, see
        :attr:`Network.replay_size`).  Then every persistent channel without members whose history is now empty
        goes, with its stored record: a channel with history exists until its retention empties it.  A registered
        channel (ChanServ) never goes this way: it keeps its record (topic, modes, bans, founder, AMODEs) without
        any history until ``CS DROP``.  A store that fails is logged and tried again at the next pass.
        """
        config, network, history = self.config, self.network, self.history
        max_age_ms = max(1, round(config.history_max_days * 86_400_000)) if config.history_max_days > 0 else 0
        now_ms = int(network.clock() * 1000)
        try:
            deleted = await history.prune(config.history_max_messages, max_age_ms, now_ms)
        except StoreError as exc:
            log.warning("history retention failed: %s; trying again in %g s", exc, config.history_prune_interval)
            return 0, 0
        if max_age_ms:
            network.expire_recent(now_ms - max_age_ms)
        # A channel with messages in its replay ring has history: only the others are worth a store query.
        candidates = [
            c
            for c in network.channels.values()
            if c.persistent and c.founder is None and not c.members and not network.recent.get(c.folded)
        ]
        dropped = 0
        for channel in candidates:
            remembered = channel.remembered
            try:
                left = await history.latest(channel.folded, 1)
            except StoreError as exc:
                log.warning("history retention: cannot check channel %s: %s", channel.name, exc)
                break
            # While the store answered, someone may have spoken in it (outside messages, -n) or joined it (which
            # drop_channel checks).
            if not left and channel.remembered == remembered and network.drop_channel(channel):
                dropped += 1
        if deleted or dropped:
            log.info("history retention: %d message(s) deleted, %d empty channel(s) dropped", deleted, dropped)
        return deleted, dropped

    async def _serve_connections(
        self, listeners: Sequence[trio.abc.Listener[trio.abc.Stream]], task_status: trio.TaskStatus[None]
    ) -> None:
        async with trio.open_nursery() as connections:
            async with trio.open_nursery() as accepting:
                for listener in listeners:
                    accepting.start_soon(self._accept_loop, listener, connections)
                task_status.started()
                await self._shutdown.wait()
                accepting.cancel_scope.cancel()
            log.info("shutting down: closing %d connection(s)", len(self.sessions))
            self._idle = trio.Event()  # set by the last connection to end
            if not self.sessions:
                self._idle.set()
            for session in list(self.sessions):
                session.close("Server shutting down")
            connections.cancel_scope.deadline = trio.current_time() + self.config.shutdown_grace + 1
            await self._idle.wait()
            connections.cancel_scope.cancel()

    async def _accept_loop(self, listener: trio.abc.Listener[trio.abc.Stream], nursery: trio.Nursery) -> None:
        """Accept until cancelled; out of a resource for now, wait and retry; any other error ends the listener.

        The errors retried are the ones ``trio.serve_listeners`` retries on: they pass when connections close.
        """
        async with listener:
            while True:
                try:
                    stream = await listener.accept()
                except OSError as exc:
                    if exc.errno in ACCEPT_RETRY_ERRNOS:
                        log.warning("accept failed: %s; retrying in %.1f s", exc, ACCEPT_RETRY_SLEEP)
                        await trio.sleep(ACCEPT_RETRY_SLEEP)
                        continue
                    log.error("accept failed: %s; this listener stops accepting", exc)
                    return
                nursery.start_soon(self.handle_connection, stream)


def tls_context(config: ServerConfig) -> ssl.SSLContext:
    """A server TLS context with the configured certificate; a bad file is a ConfigError."""
    if not config.tls_cert or not config.tls_key:
        raise ConfigError("TLS needs both tls_cert and tls_key (--tls-cert FILE --tls-key FILE)")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    load_certificate(context, config)
    if config.tls_client_ca:
        # Python's ssl module cannot accept any certificate a client presents (no verify callback): client
        # certificates are requested, not required, and accepted when signed by one of these authorities.
        try:
            context.load_verify_locations(cafile=config.tls_client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load client certificate authorities {config.tls_client_ca}: {exc}") from None
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def load_certificate(context: ssl.SSLContext, config: ServerConfig) -> None:
    """Load the certificate into ``context``, checking it on a scratch context first so a bad file on reload
    leaves the certificate in use untouched."""
    assert config.tls_cert and config.tls_key
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load TLS certificate {config.tls_cert} / key {config.tls_key}: {exc}") from None
    context.load_cert_chain(config.tls_cert, config.tls_key)


async def open_listeners(
    config: ServerConfig, context: ssl.SSLContext | None
) -> list[trio.abc.Listener[trio.abc.Stream]]:
    """The plaintext listeners (unless turned off) and the TLS listeners (when a TLS port is set)."""
    listeners: list[trio.abc.Listener[trio.abc.Stream]] = []
    if config.plaintext:
        for listener in await trio.open_tcp_listeners(config.port, host=config.host):
            name = listener.socket.getsockname()
            log.info("listening on %s port %d", name[0], name[1])
            listeners.append(listener)
    if context is not None and config.tls_port is not None:
        for listener in await trio.open_tcp_listeners(config.tls_port, host=config.host):
            name = listener.socket.getsockname()
            log.info("listening for TLS on %s port %d", name[0], name[1])
            listeners.append(trio.SSLListener(listener, context, https_compatible=False))
    if not listeners:
        raise ConfigError("nothing to listen on: plaintext is off and no TLS port is set")
    return listeners


async def open_web(config: ServerConfig, context: ssl.SSLContext | None) -> WebListener:
    """The web listener on ``web_port``; a ConfigError if its packages (the ``web`` extra) are missing."""
    from .web import web_missing

    problem = web_missing()
    if problem is not None:
        raise ConfigError(problem)
    from .web.listener import open_web_listener

    return await open_web_listener(config, context)


def listener_port(listener: trio.abc.Listener[trio.abc.Stream]) -> tuple[str, int]:
    """``("plain" | "tls", port)`` of a listener that :func:`open_listeners` made."""
    if isinstance(listener, trio.SSLListener):
        inner = listener.transport_listener
        assert isinstance(inner, trio.SocketListener)
        return "tls", int(inner.socket.getsockname()[1])
    assert isinstance(listener, trio.SocketListener)
    return "plain", int(listener.socket.getsockname()[1])


async def serve(
    config: ServerConfig,
    *,
    task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen and serve until SIGINT, SIGTERM or ``Server.shutdown()``; SIGHUP reloads the TLS certificate.

    Hands the :class:`Server` to ``task_status`` once listening (``server.listeners`` tells the bound ports).
    Raises OSError when an address cannot be bound (for example, the port is in use), ConfigError for a bad
    certificate or MOTD file, StoreError for a history database that cannot be used.
    """
    server = Server(config)
    listeners: list[trio.abc.Listener[trio.abc.Stream]] = []
    try:
        # The web port serves HTTPS/WSS with the same certificate when one is configured.
        tls_wanted = config.tls_port is not None or (config.web_port is not None and config.tls_cert is not None)
        context = tls_context(config) if tls_wanted else None
        if server.node is not None:
            await server.node.check()
        listeners = await open_listeners(config, context)
        if config.web_port is not None:
            server.web = await open_web(config, context)
    except BaseException:
        server.store.close()  # nothing was stored; release the database file at once
        for listener in listeners:  # the IRC ports, when the web port is the one that failed
            await trio.aclose_forcefully(listener)
        raise
    server.listeners = listeners
    signals_wanted = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
    with trio.open_signal_receiver(*signals_wanted) as signals:
        async with trio.open_nursery() as nursery:

            async def watch_signals() -> None:
                async for signum in signals:
                    if signum == signal.SIGHUP:
                        reload_certificate(context, config)
                    else:
                        log.info("received %s: shutting down", signal.Signals(signum).name)
                        server.shutdown()

            nursery.start_soon(watch_signals)
            task_status.started(server)
            await server.run(listeners)
            nursery.cancel_scope.cancel()


def reload_certificate(context: ssl.SSLContext | None, config: ServerConfig) -> None:
    """SIGHUP: load the certificate files again for new connections; existing ones keep theirs."""
    if context is None:
        log.info("received SIGHUP: no TLS listener, nothing to reload")
        return
    try:
        load_certificate(context, config)
    except ConfigError as exc:
        log.error("received SIGHUP: %s; keeping the certificate in use", exc)
    else:
        log.info("received SIGHUP: TLS certificate reloaded from %s", config.tls_cert)
