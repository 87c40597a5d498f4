"""The server: listeners, connection handling, and graceful shutdown."""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import trio

from .config import ConfigError, ServerConfig
from .session import Session
from .state import Network

log = logging.getLogger("trio_chat.server")


def read_motd(path: str | None) -> list[str] | None:
    """The MOTD file's lines, or None when no file is configured; an unreadable file is a ConfigError."""
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read MOTD file {path}: {exc}") from None
    return [line[:400] for line in text.splitlines()]


def peer_host(stream: trio.abc.Stream) -> str:
    """The peer's address for a socket stream (``unknown`` for memory streams in tests)."""
    socket = getattr(stream, "socket", None)
    if socket is None:
        return "unknown"
    try:
        address = socket.getpeername()
    except OSError:
        return "unknown"
    host = str(address[0]) if isinstance(address, tuple) else "local"
    return f"[{host}]" if ":" in host else host


class Server:
    """Holds the network state and runs one :class:`Session` per connection."""

    def __init__(self, config: ServerConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.network = Network(config, clock=clock)
        self.network.motd = read_motd(config.motd)
        self.sessions: set[Session] = set()
        self.listeners: list[trio.SocketListener] = []
        self.per_host: dict[str, int] = {}
        self._shutdown = trio.Event()

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
        session = Session(self, stream, host)
        self.sessions.add(session)
        self.per_host[host] = self.per_host.get(host, 0) + 1
        try:
            await session.run()
        except Exception:
            log.exception("[%d] internal error; connection dropped", session.id)
            self.network.remove_user(session.user, "Internal server error")
        finally:
            self.sessions.discard(session)
            if self.per_host[host] == 1:
                del self.per_host[host]
            else:
                self.per_host[host] -= 1

    def _refusal(self, host: str) -> str | None:
        """Why a new connection from ``host`` is refused, or None to accept it."""
        config = self.config
        if config.max_clients and len(self.sessions) >= config.max_clients:
            return "Server is full, try again later"
        if config.max_per_ip and self.per_host.get(host, 0) >= config.max_per_ip:
            return "Too many connections from your address"
        return None

    def shutdown(self) -> None:
        """Ask :func:`serve` to stop accepting and close every connection with an ERROR line."""
        self._shutdown.set()

    async def run(
        self,
        listeners: Sequence[trio.abc.Listener[trio.abc.Stream]],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept on ``listeners`` until :meth:`shutdown`, then close every connection gracefully."""
        async with trio.open_nursery() as connections:
            async with trio.open_nursery() as accepting:
                for listener in listeners:
                    accepting.start_soon(self._accept_loop, listener, connections)
                task_status.started()
                await self._shutdown.wait()
                accepting.cancel_scope.cancel()
            log.info("shutting down: closing %d connection(s)", len(self.sessions))
            for session in list(self.sessions):
                session.close("Server shutting down")
            connections.cancel_scope.deadline = trio.current_time() + self.config.shutdown_grace + 1

    async def _accept_loop(self, listener: trio.abc.Listener[trio.abc.Stream], nursery: trio.Nursery) -> None:
        async with listener:
            while True:
                try:
                    stream = await listener.accept()
                except OSError as exc:
                    # EMFILE, ENFILE, ENOBUFS, ENOMEM: out of a resource for now.  Keep the listener alive.
                    log.warning("accept failed: %s; retrying shortly", exc)
                    await trio.sleep(0.1)
                    continue
                nursery.start_soon(self.handle_connection, stream)


async def serve(
    config: ServerConfig,
    *,
    task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on ``config.host:config.port`` and serve until SIGINT, SIGTERM or ``Server.shutdown()``.

    Hands the :class:`Server` to ``task_status`` once listening (``server.listeners`` tells the bound ports).
    Raises OSError when the address cannot be bound (for example, the port is in use).
    """
    server = Server(config)
    listeners = await trio.open_tcp_listeners(config.port, host=config.host)
    server.listeners = listeners
    for listener in listeners:
        name = listener.socket.getsockname()
        log.info("listening on %s port %d", name[0], name[1])
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def watch_signals() -> None:
                async for signum in signals:
                    log.info("received %s: shutting down", signal.Signals(signum).name)
                    server.shutdown()

            nursery.start_soon(watch_signals)
            task_status.started(server)
            await server.run(listeners)
            nursery.cancel_scope.cancel()
