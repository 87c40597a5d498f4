"""The web listener: hypercorn serving :class:`~.asgi.WebApp` on ``web_port``, inside the server's nursery.

hypercorn's ``serve`` opens its own listeners; this runs its per-connection ``TCPServer`` from listeners of our
own instead, for two reasons: the port is bound before the server starts (a port in use is the same one-line
error as for the IRC ports, and port 0 tells which port it got), and each connection's ASGI app knows its TCP
socket, so a WebSocket peer that stops reading can be cut (see ``stream.py``) and every connection is cut when
the listener stops: hypercorn shields its writes, so nothing else would end them.
"""

from __future__ import annotations

import logging
import ssl
from typing import TYPE_CHECKING, Any, cast

import trio
from hypercorn.config import Config
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import wrap_app

from .asgi import Connection, WebApp
from .stream import HandOff

if TYPE_CHECKING:
    from ..app import Server
    from ..config import ServerConfig

log = logging.getLogger("trio_chat.web")

WebStream = trio.SocketStream | trio.SSLStream[trio.SocketStream]


def hypercorn_config(config: ServerConfig) -> Config:
    """hypercorn's settings for the web listener."""
    hconfig = Config()
    hconfig.accesslog = None
    hconfig.errorlog = log
    hconfig.include_server_header = False
    hconfig.graceful_timeout = config.shutdown_grace
    return hconfig


class WebListener:
    """The bound web port(s); :meth:`run` serves them for a :class:`~..app.Server` until cancelled."""

    def __init__(self, listeners: list[trio.SocketListener], context: ssl.SSLContext | None, config: ServerConfig):
        self.listeners = listeners
        self.context = context
        self.hconfig = hypercorn_config(config)
        self._live: set[trio.SocketStream] = set()

    @property
    def port(self) -> int:
        return int(self.listeners[0].socket.getsockname()[1])

    @property
    def secure(self) -> bool:
        return self.context is not None

    async def run(self, server: Server, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        app = WebApp(server)
        worker = WorkerContext(None)
        listeners: list[trio.abc.Listener[Any]] = list(self.listeners)
        if self.context is not None:
            listeners = [trio.SSLListener(inner, self.context, https_compatible=True) for inner in self.listeners]

        async def handle(stream: WebStream) -> None:
            raw = stream.transport_stream if isinstance(stream, trio.SSLStream) else stream
            self._live.add(raw)
            handoff = HandOff(stream)
            connection = Connection(handoff, raw.socket, self.secure, raw.socket.close)
            try:
                # starlette's and hypercorn's ASGI types spell the same callable differently.
                asgi = cast(Any, app.for_connection(connection))
                wrapped = wrap_app(asgi, self.hconfig.wsgi_max_body_size, "asgi")
                # TCPServer takes plain streams too (it tells them from TLS ones itself).
                await TCPServer(wrapped, self.hconfig, worker, ConnectionState({}), cast(Any, handoff))
            finally:
                self._live.discard(raw)

        async def cut_when_cancelled() -> None:
            try:
                await trio.sleep_forever()
            finally:
                for raw in list(self._live):
                    raw.socket.close()  # ends shielded writes to peers that do not read

        async with trio.open_nursery() as nursery:
            nursery.start_soon(cut_when_cancelled)
            await nursery.start(trio.serve_listeners, handle, listeners)
            task_status.started()


async def open_web_listener(config: ServerConfig, context: ssl.SSLContext | None) -> WebListener:
    """Bind ``web_port`` (OSError if it cannot be); with ``context``, it serves HTTPS and WSS."""
    assert config.web_port is not None
    listeners = await trio.open_tcp_listeners(config.web_port, host=config.host)
    for listener in listeners:
        name = listener.socket.getsockname()
        log.info("web client on %s://%s:%d/", "https" if context else "http", name[0], name[1])
    return WebListener(listeners, context, config)
