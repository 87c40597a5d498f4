"""IRC over WebSocket (``web_port``) against the real listener on port 0: hypercorn, the ASGI app, the stream
adapter and the server's ordinary sessions, with trio-websocket as the client."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import trio
import trio.testing
import trustme
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_client_stream
from wsproto import WSConnection
from wsproto.connection import Connection, ConnectionType
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Event, Ping, Pong, Request, TextMessage
from wsproto.extensions import PerMessageDeflate

from tests.helpers import FAST
from tests.ircclient import IRCClient
from trio_chat.server.app import Server, listener_port, serve
from trio_chat.server.config import ConfigError, ServerConfig
from trio_chat.server.web.asgi import CONTENT_SECURITY_POLICY, choose_subprotocol, forwarded, origin_allowed
from trio_chat.server.web.stream import (
    CLOSE_TIMEOUT,
    SocketWebSocketStream,
    WebSocketStream,
    frame_header,
    websocket_stream_class,
)

CONFIG = replace(FAST, port=0, web_port=0)


class WebSocketClientStream(trio.abc.Stream):
    """The client side of the IRCv3 WebSocket transport as a stream, so IRCClient can speak it: each message
    received is one line (it must hold no CR or LF), each line sent is one message."""

    def __init__(self, ws: WebSocketConnection, tcp: trio.SocketStream) -> None:
        self.ws = ws
        self.tcp = tcp
        self.kinds: set[type] = set()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        for line in bytes(data).split(b"\r\n"):
            if line:
                await self.ws.send_message(line if self.ws.subprotocol == "binary.ircv3.net" else line.decode())

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        try:
            message = await self.ws.get_message()
        except ConnectionClosed:
            return b""
        self.kinds.add(type(message))
        data = message.encode() if isinstance(message, str) else message
        assert b"\r" not in data and b"\n" not in data, f"a line break inside a WebSocket message: {data!r}"
        return data + b"\r\n"

    async def aclose(self) -> None:
        await self.ws.aclose()
        await self.tcp.aclose()  # trio-websocket leaves it open when the server closed first


class WebNet:
    """A running server with a web port, and the clients a test opened on it (all closed at the end)."""

    def __init__(self, server: Server, nursery: trio.Nursery) -> None:
        self.server = server
        self.nursery = nursery
        self.streams: list[trio.abc.Stream] = []
        assert server.web is not None
        self.port = server.web.port

    async def ws_connect(
        self,
        *,
        subprotocols: list[str] | None = None,
        origin: str | None = None,
        queue: int = 100,
        headers: list[tuple[bytes, bytes]] | None = None,
        over: trio.SocketStream | trio.SSLStream[trio.SocketStream] | None = None,
    ) -> WebSocketClientStream:
        """A WebSocket on a new connection, or ``over`` one already open (TCP, or TLS for WSS)."""
        scheme = "https" if isinstance(over, trio.SSLStream) else "http"
        if headers is None:
            headers = [(b"Origin", (origin or f"{scheme}://127.0.0.1:{self.port}").encode())]
        if over is None:
            over = await trio.open_tcp_stream("127.0.0.1", self.port)
        self.streams.append(over)
        tcp = over.transport_stream if isinstance(over, trio.SSLStream) else over
        ws = await wrap_client_stream(
            self.nursery,
            over,
            f"127.0.0.1:{self.port}",
            "/",
            subprotocols=["text.ircv3.net"] if subprotocols is None else subprotocols,
            extra_headers=headers,
            message_queue_size=queue,
        )
        stream = WebSocketClientStream(ws, tcp)
        self.streams.append(stream)
        return stream

    async def ws(self, nick: str, *, subprotocols: list[str] | None = None, queue: int = 100) -> IRCClient:
        client = IRCClient(await self.ws_connect(subprotocols=subprotocols, queue=queue), nick)
        await client.register(nick)
        return client

    async def tcp(self, nick: str) -> IRCClient:
        stream = await trio.open_tcp_stream("127.0.0.1", listener_port(self.server.listeners[0])[1])
        self.streams.append(stream)
        client = IRCClient(stream, nick)
        await client.register(nick)
        return client

    async def handshake_status(self, *, origin: str | None = None, subprotocols: str | None = None) -> int:
        """The HTTP status a WebSocket handshake gets (101: accepted)."""
        headers = [
            "GET / HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
        ]
        if origin is not None:
            headers.append(f"Origin: {origin}")
        if subprotocols is not None:
            headers.append(f"Sec-WebSocket-Protocol: {subprotocols}")
        async with await trio.open_tcp_stream("127.0.0.1", self.port) as stream:
            await stream.send_all(("\r\n".join(headers) + "\r\n\r\n").encode())
            data = b""
            with trio.fail_after(5):
                while b"\r\n" not in data:
                    chunk = await stream.receive_some(4096)
                    assert chunk, "closed before a status line"
                    data += chunk
        return int(data.split(b" ", 2)[1])

    async def close(self) -> None:
        for stream in reversed(self.streams):
            with trio.move_on_after(2):
                await stream.aclose()


@asynccontextmanager
async def web_server(**changes: object) -> AsyncIterator[WebNet]:
    config = replace(CONFIG, **changes)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(serve, config)
        net = WebNet(server, nursery)
        try:
            yield net
        finally:
            await net.close()
            server.shutdown()


# ---- handshake ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("subprotocol", "kind"), [("text.ircv3.net", str), ("binary.ircv3.net", bytes)])
async def test_websocket_and_tcp_clients_chat(subprotocol: str, kind: type) -> None:
    async with web_server() as net:
        alice = await net.ws("alice", subprotocols=[subprotocol])
        assert isinstance(alice.stream, WebSocketClientStream)
        assert alice.stream.ws.subprotocol == subprotocol
        bob = await net.tcp("bob")
        await alice.send("JOIN #web")
        await alice.expect(" 366 ")
        await bob.send("JOIN #web")
        await alice.expect(r":bob!~bob@127\.0\.0\.1 JOIN #web")
        await bob.send("PRIVMSG #web :hello from TCP")
        assert (await alice.expect("PRIVMSG")).params == ("#web", "hello from TCP")
        await alice.send("PRIVMSG #web :héllo from the web")
        message = await bob.expect("PRIVMSG")
        assert message.source == "alice!~alice@127.0.0.1"
        assert message.params == ("#web", "héllo from the web")
        assert alice.stream.kinds == {kind}
        assert len(net.server.sessions) == 2 and net.server.per_host == {"127.0.0.1": 2}
        await alice.send("QUIT :bye")
        assert (await alice.expect_closed())[-1].command == "ERROR"
        await bob.expect(r":alice!\S+ QUIT :Quit: bye")


async def test_no_subprotocol_asked_is_text() -> None:
    async with web_server() as net:
        alice = await net.ws("alice", subprotocols=[])
        assert isinstance(alice.stream, WebSocketClientStream)
        assert alice.stream.ws.subprotocol is None
        await alice.sync()
        assert alice.stream.kinds == {str}


async def test_only_unknown_subprotocols_are_refused() -> None:
    async with web_server() as net:
        assert await net.handshake_status(subprotocols="chat, irc") == 400
        assert await net.handshake_status(subprotocols="chat, binary.ircv3.net") == 101
        assert await net.handshake_status() == 101
        assert net.server.sessions == set() or all(s.user.nick == "*" for s in net.server.sessions)
    assert choose_subprotocol(["Text.IRCv3.net", "binary.ircv3.net"]) == "text.ircv3.net"
    assert choose_subprotocol(["chat", "binary.ircv3.net"]) == "binary.ircv3.net"
    assert choose_subprotocol([]) is None


async def test_a_page_of_another_origin_is_refused_with_403() -> None:
    async with web_server() as net:
        assert await net.handshake_status(origin="https://evil.example") == 403
        assert await net.handshake_status(origin=f"http://127.0.0.1:{net.port}") == 101
        assert await net.handshake_status(origin="https://chat.example.org") == 403
    async with web_server(web_origins=("https://chat.example.org",)) as net:
        assert await net.handshake_status(origin="https://chat.example.org") == 101
        assert await net.handshake_status(origin="https://evil.example") == 403


def test_origin_rules() -> None:
    assert origin_allowed("http://chat.example.org:8080", "chat.example.org:8080", ())
    assert origin_allowed("https://chat.example.org", "chat.example.org", ())
    assert not origin_allowed("http://chat.example.org:8081", "chat.example.org:8080", ())
    assert not origin_allowed("http://evil.example", "chat.example.org", ())
    assert not origin_allowed("null", "chat.example.org", ())
    assert origin_allowed("https://app.example.org/", "chat.example.org", ("https://app.example.org",))
    assert origin_allowed("http://anything.example", "chat.example.org", ("*",))
    assert origin_allowed(None, "chat.example.org", ())  # no browser, nobody's credentials borrowed


# ---- lines: the same answers as over TCP ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        "PING :one\r\nPING :two",  # a line break inside a message: two lines, as over TCP
        "PRIVMSG #nowhere :" + "x" * 600,  # past the line limit: 417
        "NOTICE bob :" + "y" * 20_000,  # past the ReadQ (16 KiB): ReadQ exceeded
    ],
    ids=["crlf-inside", "over-line-limit", "over-readq"],
)
async def test_a_frame_gets_what_the_same_line_gets_over_tcp(frame: str) -> None:
    async with web_server() as net:
        web = await net.ws("web")
        tcp = await net.tcp("tcp")
        await web.stream.send_all(frame.encode() + b"\r\n")  # one message: the adapter strips nothing but CRLF
        await tcp.send_raw(frame.encode() + b"\r\n")
        answers = []
        for client in (web, tcp):
            await client.send("PING :end")
            lines = await client.collect_until(r"(PONG \S+ :?end|^ERROR)")
            answers.append([m.to_line().replace(client.name, "NICK") for m in lines])
        assert answers[0] == answers[1]
        assert answers[0]  # something was answered


async def test_a_slow_websocket_reader_gets_sendq_exceeded() -> None:
    # The SendQ holds more than one round of messages: only a client that stops reading overflows it.
    async with web_server(sendq_lines=300, shutdown_grace=0.5) as net:
        alice = await net.tcp("alice")
        fast = await net.ws("fast")
        for client in (alice, fast):
            await client.send("JOIN #room")
            await client.expect(" 366 ")
        # slow's client library stops reading the socket once one message waits in its queue.
        slow = await net.ws("slow", queue=0)
        await slow.send("JOIN #room")
        await alice.expect(r":slow!\S+ JOIN #room")
        text = "z" * 400
        quits: list[str] = []
        sent = 0
        with trio.fail_after(60):
            while not quits:
                await alice.send(*(f"PRIVMSG #room :{sent + i} {text}" for i in range(100)), "PING :sync")
                sent += 100
                lines = await alice.collect_until(r"PONG \S+ :?sync")
                quits += [m.to_line() for m in lines if m.command == "QUIT"]
                await fast.expect(f"PRIVMSG #room :{sent - 1} ")  # the fast reader keeps up
                assert sent < 100_000
        assert quits == [":slow!~slow@127.0.0.1 QUIT :SendQ exceeded"]
        assert net.server.network.find_user("slow") is None
        assert net.server.network.find_user("fast") is not None
        assert sent > 300  # it took the socket's buffers filling up, not one burst
        # The connection under the WebSocket is cut: reading on, slow gets what was buffered, then the end.
        await slow.expect_closed(within=10)


async def test_per_address_limit_counts_websockets_and_tcp_together() -> None:
    async with web_server(max_per_ip=2, max_per_ip_exempt=()) as net:
        await net.tcp("tcp")
        await net.ws("web")
        assert net.server.per_host == {"127.0.0.1": 2}
        refused = IRCClient(await net.ws_connect(), "third")
        lines = await refused.expect_closed()
        assert [m.to_line() for m in lines] == ["ERROR :Too many connections from your address"]
        assert net.server.per_host == {"127.0.0.1": 2}


async def test_a_websocket_ping_is_answered() -> None:
    async with web_server() as net:
        stream = await net.ws_connect()
        client = IRCClient(stream, "pinger")
        await client.register("pinger")
        with trio.fail_after(5):
            await stream.ws.ping(b"still there?")  # returns when the matching pong arrives
        await client.send("PING :after")
        await client.expect("PONG .* :?after")


async def test_a_browser_that_compresses_what_it_sends_is_understood() -> None:
    # Browsers offer permessage-deflate and hypercorn's handshake accepts it: what they send may come compressed.
    async with web_server() as net:
        tcp = await trio.open_tcp_stream("127.0.0.1", net.port)
        net.streams.append(tcp)
        client = WSConnection(ConnectionType.CLIENT)
        offer = Request(
            host=f"127.0.0.1:{net.port}",
            target="/",
            subprotocols=["text.ircv3.net"],
            extensions=[PerMessageDeflate()],
            extra_headers=[(b"Origin", f"http://127.0.0.1:{net.port}".encode())],
        )
        await tcp.send_all(client.send(offer))
        received: list[str] = []

        async def events() -> list[Event]:
            client.receive_data(bytes(await tcp.receive_some()))
            return list(client.events())

        with trio.fail_after(10):
            [accepted] = await events()
            assert isinstance(accepted, AcceptConnection)
            assert [e.name for e in accepted.extensions] == ["permessage-deflate"]
            text = "PRIVMSG squeezed :" + "compressible " * 30
            for line in ("NICK squeezed", "USER s 0 * :S", text, "PING :done"):
                await tcp.send_all(client.send(TextMessage(line)))
            while not any("done" in line for line in received):
                received += [e.data for e in await events() if isinstance(e, TextMessage)]
        assert any(" 001 squeezed " in line for line in received)
        assert any(
            line.endswith(text.partition(" :")[2].rstrip()) or text.partition(" :")[2] in line for line in received
        )


async def test_a_websocket_after_a_page_on_the_same_connection() -> None:
    async with web_server() as net:
        tcp = await trio.open_tcp_stream("127.0.0.1", net.port)
        net.streams.append(tcp)
        await tcp.send_all(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{net.port}\r\n\r\n".encode())
        data = b""
        with trio.fail_after(5):
            while b"</html>" not in data.lower():
                data += await tcp.receive_some(65536)
        assert data.startswith(b"HTTP/1.1 200 ")
        client = IRCClient(await net.ws_connect(over=tcp), "kept")
        await client.register("kept")
        await client.send("PING :alive")
        await client.expect("PONG .* :?alive")


async def test_shutdown_tells_websocket_clients() -> None:
    async with web_server() as net:
        alice = await net.ws("alice")
        net.server.shutdown()
        lines = await alice.expect_closed()
        assert lines[-1].to_line() == "ERROR :Server shutting down"
    assert net.server.sessions == set()


# ---- the page -----------------------------------------------------------------------------------------------


async def http_get(port: int, path: str) -> tuple[str, dict[str, str], bytes]:
    """One GET; the body is read as far as Content-Length says."""
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        await stream.send_all(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        data = b""
        with trio.fail_after(5):
            while b"\r\n\r\n" not in data:
                data += await stream.receive_some(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            status, *header_lines = head.decode().split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
            while len(body) < int(headers.get("content-length", "0")):
                body += await stream.receive_some(65536)
    return status, headers, body


async def test_the_page_is_served_with_a_strict_content_security_policy() -> None:
    async with web_server() as net:
        status, headers, body = await http_get(net.port, "/")
        assert " 200 " in status
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
        assert headers["content-type"].startswith("text/html")
        assert b"<html" in body.lower() or b"<!doctype html" in body.lower()
        status, _, _ = await http_get(net.port, "/static/../app.py")
        assert " 404 " in status


# ---- configuration --------------------------------------------------------------------------------------------


def test_web_port_is_checked_like_the_other_ports() -> None:
    with pytest.raises(ConfigError, match="web_port must be from 1 to 65535"):
        ServerConfig(web_port=70000)
    assert ServerConfig().web_port is None  # off by default
    assert ServerConfig().merged({"web-port": 8080, "web_origins": ["https://a.example"]}).web_origins == (
        "https://a.example",
    )


async def test_a_web_port_in_use_is_an_error_before_serving() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = replace(CONFIG, web_port=taken.getsockname()[1])
        with pytest.raises(OSError):
            await serve(config)


# ---- the stream alone -----------------------------------------------------------------------------------------


class Peer:
    """The browser's side of a WebSocket, in wsproto: frames what it sends (masked), decodes what it gets."""

    def __init__(self) -> None:
        self.ws = Connection(ConnectionType.CLIENT)

    def send(self, event: Event) -> bytes:
        return self.ws.send(event)

    def events(self, data: bytes) -> list[Event]:
        self.ws.receive_data(data)
        return list(self.ws.events())


def make_stream(
    inner: trio.abc.Stream, *, binary: bool = False, max_message: int = 1000
) -> tuple[WebSocketStream, list[int]]:
    """A stream on ``inner``, and the list each abort (cutting the TCP connection) appends to."""
    aborts: list[int] = []
    stream = websocket_stream_class(inner)(
        inner,
        binary=binary,
        socket=trio.socket.socket(),
        secure=False,
        abort=lambda: aborts.append(1),
        max_message=max_message,
    )
    return stream, aborts


async def read_events(peer: Peer, end: trio.abc.ReceiveStream) -> list[Event]:
    return peer.events(bytes(await end.receive_some()))


def test_frame_headers_follow_rfc_6455_at_every_size_boundary() -> None:
    assert frame_header(0x1, 125) == b"\x81\x7d"
    assert frame_header(0x1, 126) == b"\x81\x7e\x00\x7e"
    assert frame_header(0x2, 65535) == b"\x82\x7e\xff\xff"
    assert frame_header(0x2, 65536) == b"\x82\x7f" + (65536).to_bytes(8, "big")


async def test_stream_sends_a_frame_per_line_and_reads_a_line_per_message() -> None:
    server_end, client_end = trio.testing.memory_stream_pair()
    stream, _ = make_stream(server_end)
    peer = Peer()
    long = "PRIVMSG #c :" + "x" * 300
    await stream.send_all(f"PING :a\r\n{long}\r\n:s NOTICE * :caf".encode() + b"\xe9\r\n")
    assert await read_events(peer, client_end) == [
        TextMessage("PING :a"),
        TextMessage(long),
        TextMessage(":s NOTICE * :caf\ufffd"),  # a text frame must be UTF-8, or the browser drops the connection
    ]
    assert await stream.feed(peer.send(TextMessage("NICK x\r\nUSER")))
    assert await stream.feed(peer.send(TextMessage("caf\u00e9")))
    assert await stream.receive_some(5) == b"NICK "
    assert await stream.receive_some() == b"x\r\nUSER\r\ncaf\xc3\xa9\r\n"
    stream.socket.close()


async def test_binary_stream_sends_binary_frames_and_takes_fragmented_messages() -> None:
    server_end, client_end = trio.testing.memory_stream_pair()
    stream, _ = make_stream(server_end, binary=True)
    peer = Peer()
    await stream.send_all(b":s 001 x :caf\xe9\r\n")
    assert await read_events(peer, client_end) == [BytesMessage(b":s 001 x :caf\xe9")]
    assert await stream.feed(peer.send(BytesMessage(b"PRIVMSG #a :one ", message_finished=False)))
    assert await stream.feed(peer.send(BytesMessage(b"message")))
    assert await stream.receive_some() == b"PRIVMSG #a :one message\r\n"
    stream.socket.close()


async def test_stream_answers_pings_and_a_close() -> None:
    server_end, client_end = trio.testing.memory_stream_pair()
    stream, aborts = make_stream(server_end)
    peer = Peer()
    assert await stream.feed(peer.send(Ping(b"are you there")))
    assert await read_events(peer, client_end) == [Pong(b"are you there")]
    assert not await stream.feed(peer.send(CloseConnection(1001, "going away")))
    assert await read_events(peer, client_end) == [CloseConnection(1001, "going away")]
    assert await stream.receive_some() == b""  # the session sees the end of its input
    with pytest.raises(trio.BrokenResourceError):
        await stream.send_all(b"PING :late\r\n")
    await stream.aclose()
    assert aborts == [1]
    stream.socket.close()


async def test_a_message_over_the_limit_closes_with_1009() -> None:
    server_end, client_end = trio.testing.memory_stream_pair()
    stream, _ = make_stream(server_end, max_message=100)
    peer = Peer()
    assert await stream.feed(peer.send(TextMessage("x" * 60, message_finished=False)))
    assert not await stream.feed(peer.send(TextMessage("x" * 60)))
    [close] = await read_events(peer, client_end)
    assert isinstance(close, CloseConnection) and close.code == 1009
    assert await stream.receive_some() == b""
    stream.socket.close()


async def test_aclose_cuts_a_peer_that_does_not_read(autojump_clock: trio.testing.MockClock) -> None:
    server_end, _client_end = trio.testing.lockstep_stream_pair()  # a write waits for a read that never comes
    stream, aborts = make_stream(server_end)
    start = trio.current_time()
    await stream.aclose()  # the close frame cannot go out
    assert aborts == [1] and trio.current_time() - start == pytest.approx(CLOSE_TIMEOUT)
    stream.socket.close()


async def test_a_write_cut_short_ends_the_connection_at_once(autojump_clock: trio.testing.MockClock) -> None:
    server_end, _client_end = trio.testing.lockstep_stream_pair()
    stream, aborts = make_stream(server_end)
    with trio.move_on_after(10) as waited:
        await stream.send_all(b"PRIVMSG x :stuck\r\n")  # the writer, cancelled at the session's grace deadline
    assert waited.cancelled_caught
    with pytest.raises(trio.BrokenResourceError):
        await stream.send_all(b"PING :x\r\n")  # part of a frame may be out: nothing can follow it
    start = trio.current_time()
    await stream.aclose()
    assert aborts == [1] and trio.current_time() == start
    stream.socket.close()


async def test_aclose_waits_for_the_peers_close_not_for_the_timeout(autojump_clock: trio.testing.MockClock) -> None:
    server_end, client_end = trio.testing.memory_stream_pair()
    stream, aborts = make_stream(server_end)
    peer = Peer()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stream.aclose)
        [close] = await read_events(peer, client_end)
        assert isinstance(close, CloseConnection) and close.code == 1000
        start = trio.current_time()
        assert not await stream.feed(peer.send(close.response()))
    assert trio.current_time() - start < CLOSE_TIMEOUT and aborts == [1]
    with pytest.raises(trio.ClosedResourceError):
        await stream.send_all(b"more\r\n")
    stream.socket.close()


async def test_a_partial_write_finishes_its_frame_before_anything_else() -> None:
    ours, theirs = trio.socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    inner = trio.SocketStream(ours)
    stream, _ = make_stream(inner)
    assert isinstance(stream, SocketWebSocketStream)
    lines = [f"PRIVMSG #c :{i} {'y' * (i % 300)}" for i in range(2000)]
    data = "".join(f"{line}\r\n" for line in lines).encode()
    # The flusher's write: the kernel takes part, so part of a frame is out.
    done = stream.try_write(data)
    assert 0 < done < len(data) and data[:done].endswith(b"\r\n")
    assert stream.try_write(b"PING :x\r\n") == 0  # nothing more until that frame is finished
    peer = Peer()
    messages: list[str] = []
    pongs: list[Event] = []

    async def read_all() -> None:
        reader = trio.SocketStream(theirs)
        partial = ""
        while len(messages) < len(lines) or not pongs:
            for event in peer.events(bytes(await reader.receive_some())):
                if isinstance(event, TextMessage):
                    partial += event.data  # wsproto hands a message over in the pieces it arrived in
                    if event.message_finished:
                        messages.append(partial)
                        partial = ""
                else:
                    pongs.append(event)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_all)
        # A ping arrives before the writer task goes on: its pong follows the frame under way.
        assert await stream.feed(Peer().send(Ping(b"p")))
        await stream.send_all(data[done:])  # the writer task, with what the flusher left
    assert pongs == [Pong(b"p")]
    assert messages == lines
    stream.socket.close()
    inner.socket.close()
    theirs.close()


# ---- WSS ------------------------------------------------------------------------------------------------------


async def test_wss_with_the_tls_certificate(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with web_server(tls_cert=str(cert_path), tls_key=str(key_path)) as net:
        assert net.server.web is not None and net.server.web.secure
        tls = await trio.open_ssl_over_tcp_stream("127.0.0.1", net.port, ssl_context=context, https_compatible=True)
        secure = IRCClient(await net.ws_connect(over=tls), "secure")
        await secure.register("secure")
        plain = await net.tcp("plain")
        for client in (secure, plain):
            await client.send("JOIN #tls")
            await client.expect(" 366 ")
        # Many lines at once: over TLS the session's writer task writes them, not the flusher.
        await plain.send(*(f"PRIVMSG #tls :line {i} " + "w" * 200 for i in range(300)))
        await secure.expect("PRIVMSG #tls :line 299 ")
        await secure.send("WHOIS secure")
        await secure.expect(" 671 secure secure ")  # is using a secure connection
        await secure.send("PRIVMSG #tls :over wss")
        await plain.expect(r":secure!\S+ PRIVMSG #tls :over wss")


# ---- behind a reverse proxy -------------------------------------------------------------------------------------


def test_forwarded_believes_only_trusted_proxies() -> None:
    proxies = ServerConfig(web_proxies=("127.0.0.0/8", "10.0.0.0/8")).proxy_networks()

    def xff(*values: str, proto: str | None = None) -> list[tuple[bytes, bytes]]:
        headers = [(b"X-Forwarded-For", v.encode()) for v in values]
        return headers + ([(b"X-Forwarded-Proto", proto.encode())] if proto else [])

    assert forwarded("127.0.0.1", xff("203.0.113.7"), proxies) == ("203.0.113.7", False)
    assert forwarded("127.0.0.1", xff("203.0.113.7", proto="https"), proxies) == ("203.0.113.7", True)
    # What the browser wrote itself (left) is not believed past the first address no proxy of ours added.
    assert forwarded("127.0.0.1", xff("198.51.100.1, 203.0.113.7, 10.1.2.3"), proxies) == ("203.0.113.7", False)
    assert forwarded("127.0.0.1", xff("198.51.100.1", "2001:db8::5"), proxies) == ("[2001:db8::5]", False)
    assert forwarded("127.0.0.1", xff("unknown"), proxies) == ("127.0.0.1", False)  # the proxy's own
    assert forwarded("127.0.0.1", [], proxies) == ("127.0.0.1", False)
    # Not from a trusted proxy: the headers are anyone's to write, and ignored.
    assert forwarded("192.0.2.9", xff("203.0.113.7", proto="https"), proxies) == (None, False)
    assert forwarded("127.0.0.1", xff("203.0.113.7"), ()) == (None, False)
    with pytest.raises(ConfigError, match="web_proxies: 'nginx' is not an address range"):
        ServerConfig(web_proxies=("nginx",))


async def test_a_websocket_through_a_trusted_proxy_has_the_browsers_address() -> None:
    async with web_server(web_proxies=("127.0.0.1/32",), max_per_ip=1, max_per_ip_exempt=()) as net:
        origin = (b"Origin", f"http://127.0.0.1:{net.port}".encode())

        async def through_proxy(address: str, proto: str = "http") -> WebSocketClientStream:
            return await net.ws_connect(
                headers=[origin, (b"X-Forwarded-For", address.encode()), (b"X-Forwarded-Proto", proto.encode())]
            )

        first = IRCClient(await through_proxy("203.0.113.7", "https"), "first")
        await first.register("first")
        await first.send("WHOIS first")
        whois = [m.to_line() for m in await first.collect_until(" 318 ")]
        assert any(" 311 first first ~first 203.0.113.7 " in line for line in whois)
        assert any(" 671 first first " in line for line in whois)  # HTTPS on the browser's side
        # Another browser behind the same proxy is another address: the per-address limit counts each.
        second = IRCClient(await through_proxy("198.51.100.4"), "second")
        await second.register("second")
        assert net.server.per_host == {"203.0.113.7": 1, "198.51.100.4": 1}
        refused = IRCClient(await through_proxy("203.0.113.7"), "third")
        lines = await refused.expect_closed()
        assert [m.to_line() for m in lines] == ["ERROR :Too many connections from your address"]


async def test_forwarded_headers_from_anyone_else_are_ignored() -> None:
    async with web_server() as net:  # no web_proxies
        stream = await net.ws_connect(
            headers=[
                (b"Origin", f"http://127.0.0.1:{net.port}".encode()),
                (b"X-Forwarded-For", b"203.0.113.7"),
                (b"X-Forwarded-Proto", b"https"),
            ]
        )
        client = IRCClient(stream, "spoofer")
        await client.register("spoofer")
        user = net.server.network.find_user("spoofer")
        assert user is not None and user.host == "127.0.0.1" and not user.secure
