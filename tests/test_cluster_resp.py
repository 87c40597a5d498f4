"""The RESP2 links of a node's writer and reader: packing and parsing (pure), and a real redis-server."""

from __future__ import annotations

import pytest

from tests.redis_server import RedisServer
from trio_chat.server.cluster.link import Link
from trio_chat.server.cluster.resp import INCOMPLETE, Parser, RespError, RespProtocolError, pack, stream_entries


def test_a_command_is_an_array_of_bulk_strings() -> None:
    assert pack(b"XADD", "k", 5, "é") == b"*4\r\n$4\r\nXADD\r\n$1\r\nk\r\n$1\r\n5\r\n$2\r\n\xc3\xa9\r\n"


def test_replies_come_whole_however_the_bytes_are_cut() -> None:
    data = (
        b"$3\r\nabc\r\n$-1\r\n*-1\r\n:42\r\n+OK\r\n-ERR no\r\n"
        b"*1\r\n*2\r\n$3\r\nkey\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\ne\r\n$2\r\n{}\r\n"
    )
    for cut in range(1, len(data)):
        parser = Parser()
        replies = []
        for chunk in (data[:cut], data[cut:]):
            parser.feed(chunk)
            while (reply := parser.next()) is not INCOMPLETE:
                replies.append(reply)
        assert replies[:5] == [b"abc", None, None, 42, b"OK"]
        assert isinstance(replies[5], RespError) and str(replies[5]) == "ERR no"
        assert stream_entries(replies[6]) == [(b"key", [(b"1-0", {b"e": b"{}"})])]
        assert len(replies) == 7


def test_bytes_that_are_not_resp_are_refused() -> None:
    parser = Parser()
    parser.feed(b"?what\r\n")
    with pytest.raises(RespProtocolError):
        parser.next()


async def test_a_link_selects_the_database_of_its_url_and_raises_error_replies(redis: RedisServer) -> None:
    async with await Link.open(redis.url.rpartition("/")[0] + "/3") as link:
        assert await link.command(b"SET", b"k", b"v") == b"OK"
        assert await link.command(b"GET", b"k") == b"v"
        # Several commands in one write, their replies in order.
        await link.send(pack(b"INCR", b"n") + pack(b"INCR", b"n") + pack(b"INCR", b"k"))
        assert [await link.reply() for _ in range(2)] == [1, 2]
        assert isinstance(await link.reply(), RespError)
        with pytest.raises(RespError):
            await link.command(b"NOSUCHCOMMAND")
    async with await Link.open(redis.url) as link:
        assert await link.command(b"GET", b"k") is None
