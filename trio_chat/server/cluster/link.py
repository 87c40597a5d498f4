"""A plain connection to Redis that speaks RESP2 (``resp.py``) over a trio stream: what the node's writer and
reader use, so that a batch leaves in the task that made it and a reply wakes the task that waits for it, with
no connection pool, request objects or helper tasks in between."""

from __future__ import annotations

import ssl
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import trio

from .resp import INCOMPLETE, Arg, Parser, RespError, pack

RECEIVE_SIZE = 256 * 1024


class Link:
    """One connection; :meth:`send` writes commands, :meth:`reply` returns the next reply in order."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.parser = Parser()

    @classmethod
    async def open(cls, url: str) -> Link:
        """Connect to ``redis://[user:password@]host[:port][/db]`` (``rediss://`` over TLS, ``unix:///path``),
        authenticate and select the database the URL names."""
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        stream: trio.abc.Stream
        if parts.scheme == "unix":
            stream = await trio.open_unix_socket(unquote(parts.path))
            db = query.get("db", ["0"])[0]
        else:
            host = parts.hostname or "localhost"
            stream = await trio.open_tcp_stream(host, parts.port or 6379)
            if parts.scheme == "rediss":
                tls = trio.SSLStream(stream, ssl.create_default_context(), server_hostname=host)
                await tls.do_handshake()
                stream = tls
            db = parts.path.lstrip("/") or query.get("db", ["0"])[0]
        link = cls(stream)
        try:
            setup: list[tuple[Arg, ...]] = []
            if parts.password is not None:
                password = unquote(parts.password)
                username = unquote(parts.username) if parts.username else None
                setup.append(("AUTH", username, password) if username else ("AUTH", password))
            if db not in ("", "0"):
                setup.append(("SELECT", db))
            if setup:
                await link.send(b"".join(pack(*command) for command in setup))
                for _ in setup:
                    await link.value()
        except BaseException:
            await link.aclose()
            raise
        return link

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def command(self, *args: Arg) -> Any:
        await self.send(pack(*args))
        return await self.value()

    async def reply(self) -> Any:
        """The next reply (an error reply is returned as a :class:`RespError` value)."""
        parser = self.parser
        while True:
            value = parser.next()
            if value is not INCOMPLETE:
                return value
            data = await self.stream.receive_some(RECEIVE_SIZE)
            if not data:
                raise ConnectionError("Redis closed the connection")
            parser.feed(data)

    async def value(self) -> Any:
        """The next reply; an error reply is raised."""
        value = await self.reply()
        if isinstance(value, RespError):
            raise value
        return value

    async def aclose(self) -> None:
        await self.stream.aclose()

    async def __aenter__(self) -> Link:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
