"""The ASGI side of the web listener: the page (``/`` and ``/static/``) and the IRC WebSocket endpoint.

A WebSocket handshake is checked before it is accepted, as a browser's peer must be:

* ``Origin``: a page on another site must not open a chat connection in its visitor's name (the browser sends
  the visitor's cookies and address along).  Allowed are the page's own origin (the request's ``Host``) and the
  origins in ``web_origins`` (``*``: any); anything else is refused with 403.  A request without ``Origin``
  comes from no browser and is allowed: the check protects browsers' users, not the server.
* Subprotocol: the IRCv3 WebSocket spec's ``text.ircv3.net`` and ``binary.ircv3.net``, in the client's order
  of preference.  A client that asks for none gets text; one that asks only for others is refused (400), since
  accepting would answer in a framing it did not ask for.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.handshake import server_extensions_handshake

from ..app import host_in, peer_host
from .stream import HandOff, websocket_stream_class

if TYPE_CHECKING:
    from ..app import Server
    from ..config import IPNetwork

log = logging.getLogger("trio_chat.web")

STATIC = Path(__file__).parent / "static"
TEXT_SUBPROTOCOL = "text.ircv3.net"
BINARY_SUBPROTOCOL = "binary.ircv3.net"
SUBPROTOCOLS = (TEXT_SUBPROTOCOL, BINARY_SUBPROTOCOL)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""No inline script or style, nothing from elsewhere: the page's code is the files it ships, nothing more."""
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class Connection:
    """The TCP connection an ASGI request came on: the stream hypercorn serves it on (which an accepted WebSocket
    takes over), its socket, whether it is TLS, and how to cut it."""

    handoff: HandOff
    socket: trio.socket.SocketType
    secure: bool
    abort: Callable[[], None]


class Refused(Exception):
    """A WebSocket handshake that is answered with an HTTP error instead of accepted."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether a WebSocket from a page of ``origin`` may connect, the request being for ``host`` (its Host)."""
    if origin is None:
        return True  # no browser: nobody's cookies or address are being borrowed
    origin = origin.strip().lower().rstrip("/")
    if "*" in allowed or origin in {o.strip().lower().rstrip("/") for o in allowed}:
        return True
    if host is None or origin == "null":
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc == host.strip().lower()


def choose_subprotocol(offered: list[str]) -> str | None:
    """The subprotocol to accept (None: the client asked for none, text framing); Refused if none fits."""
    if not offered:
        return None
    for name in offered:
        if name.strip().lower() in SUBPROTOCOLS:
            return name.strip().lower()
    raise Refused(400, f"unsupported WebSocket subprotocol; this server speaks {', '.join(SUBPROTOCOLS)}")


def forwarded(peer: str, headers: list[tuple[bytes, bytes]], proxies: Sequence[IPNetwork]) -> tuple[str | None, bool]:
    """The browser's address behind trusted reverse proxies (``web_proxies``), and whether the browser's side was
    HTTPS; ``(None, False)`` when ``peer`` (the host as ``peer_host`` gives it) is no trusted proxy.

    ``X-Forwarded-For`` lists the addresses a request came through, each proxy appending its peer's: read from
    the right, the first address that is not a trusted proxy is the client (anything left of it could have been
    written by the client itself).  A header that names no address gives the proxy's own.
    """
    if not proxies or not host_in(peer, proxies):
        return None, False
    hops: list[str] = []
    proto = ""
    for raw_name, value in headers:
        name = raw_name.lower()
        if name == b"x-forwarded-for":
            hops += [hop.strip() for hop in value.decode("latin-1").split(",")]
        elif name == b"x-forwarded-proto":
            proto = value.decode("latin-1").split(",")[0].strip().lower()
    client = peer
    for hop in reversed(hops):
        try:
            address = ipaddress.ip_address(hop[1:].partition("]")[0] if hop.startswith("[") else hop)
        except ValueError:
            break  # not an address (``unknown``, a port, garbage): nothing left of it can be believed
        client = f"[{address}]" if address.version == 6 else str(address)
        if not host_in(client, proxies):
            break
    return client, proto in ("https", "wss")


def negotiated_extensions(scope: Scope) -> list[Extension]:
    """The WebSocket extensions hypercorn accepts in its handshake response, as it negotiates them.

    hypercorn accepts permessage-deflate when the client offers it (browsers do), so the browser may compress
    what it sends; the stream must read with the same parameters.  What the server sends stays uncompressed,
    which permessage-deflate allows message by message: IRC lines are short, and every recipient of a line gets
    the same bytes.
    """
    offers: list[str] | None = None
    for name, value in scope.get("headers") or ():
        if name.lower() == b"sec-websocket-extensions":
            offers = [token.strip() for token in value.decode("latin-1").split(",") if token.strip()]
    extensions: list[Extension] = [PerMessageDeflate()]
    if offers is None or not server_extensions_handshake(offers, extensions):
        return []
    return [extension for extension in extensions if extension.enabled()]


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS, media_type="text/html; charset=utf-8")


class WebApp:
    """Builds the ASGI app of one TCP connection: the page, or an IRC session over WebSocket."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.origins = server.config.web_origins
        self.proxies = server.config.proxy_networks()
        # A message longer than this closes the WebSocket (1009) before the session sees it; below it, the
        # session's own limits answer as they answer a TCP client (417 past the line limit, ReadQ exceeded past
        # readq_bytes).
        self.max_message = max(4 * server.config.readq_bytes, 65536)
        self.pages = Starlette(
            routes=[
                Route("/", index, methods=["GET", "HEAD"]),
                Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
            ]
        )

    def for_connection(self, connection: Connection) -> ASGIApp:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "websocket":
                await self.serve_websocket(connection, scope, receive, send)
            else:
                await self.pages(scope, receive, send)

        return app

    async def serve_websocket(self, connection: Connection, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        try:
            if not origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host"), self.origins):
                raise Refused(403, "this page's origin may not connect (web_origins)")
            subprotocol = choose_subprotocol(list(scope.get("subprotocols") or []))
            if self.server.shutting_down:
                raise Refused(503, "server shutting down")
        except Refused as refusal:
            log.info("refused WebSocket from %s: %s", scope.get("client"), refusal.reason)
            await websocket.send_denial_response(PlainTextResponse(refusal.reason, status_code=refusal.status))
            return
        client, forwarded_secure = forwarded(peer_host(connection.handoff.inner), scope["headers"], self.proxies)
        inner = connection.handoff.inner
        stream = websocket_stream_class(inner)(
            inner,
            extensions=negotiated_extensions(scope),
            binary=subprotocol == BINARY_SUBPROTOCOL,
            socket=connection.socket,
            secure=connection.secure or forwarded_secure,
            abort=connection.abort,
            max_message=self.max_message,
            client=client,
        )
        # From here the connection is the session's: what is read goes to the stream, not to hypercorn, and once
        # the handshake's response is out, hypercorn writes nothing more on it.
        connection.handoff.take(stream)
        await websocket.accept(subprotocol=subprotocol)
        connection.handoff.drop_writes()
        try:
            await self.server.handle_connection(stream)
        finally:
            with trio.CancelScope(shield=True):
                await stream.aclose()
