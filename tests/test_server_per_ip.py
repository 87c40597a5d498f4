"""The per-address connection limit (``max_per_ip``) and the ranges exempt from it (``max_per_ip_exempt``)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import trio
import trio.testing

from tests.helpers import InProcessNetwork, PipeStream, pipe_stream_pair, running_server
from tests.ircclient import IRCClient
from trio_chat.server.app import host_in, peer_host
from trio_chat.server.config import ServerConfig

REFUSED = "ERROR :Too many connections from your address"


@dataclass
class FakeSocket:
    """Just enough of a socket for :func:`peer_host`."""

    address: tuple[str, int] | tuple[str, int, int, int]

    def getpeername(self) -> tuple[str, int] | tuple[str, int, int, int]:
        return self.address


class PeerPipeStream(PipeStream):
    """The server's end of a pipe, seen as a connection from ``address``."""

    socket: FakeSocket


async def connect_from(net: InProcessNetwork, ip: str) -> IRCClient:
    def factory() -> tuple[PipeStream, PipeStream]:
        client_end, server_end = pipe_stream_pair()
        server_end.__class__ = PeerPipeStream
        address = (ip, 50000) if ":" not in ip else (ip, 50000, 0, 0)
        server_end.socket = FakeSocket(address)  # type: ignore[attr-defined]
        return client_end, server_end

    return await net.connect(ip, stream_factory=factory)


async def _accepted(net: InProcessNetwork) -> int:
    """Connections being served once every connection started so far has been accepted or refused."""
    await trio.testing.wait_all_tasks_blocked()
    return len(net.server.sessions)


def test_peer_host_of_a_fake_peer() -> None:
    _, server_end = pipe_stream_pair()
    assert peer_host(server_end) == "unknown"
    server_end.__class__ = PeerPipeStream
    server_end.socket = FakeSocket(("::1", 1, 0, 0))  # type: ignore[attr-defined]
    assert peer_host(server_end) == "[::1]"


@pytest.mark.parametrize(
    ("host", "exempt"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("[::1]", True),
        ("[::ffff:127.0.0.1]", True),
        ("10.0.0.1", False),
        ("[::2]", False),
        ("[2001:db8::1]", False),
        ("unknown", False),
        ("local", False),
    ],
)
def test_loopback_is_exempt_by_default(host: str, exempt: bool) -> None:
    assert host_in(host, ServerConfig().exempt_networks()) is exempt


async def test_300_loopback_connections_are_accepted_while_another_address_is_limited() -> None:
    async with running_server() as net:  # the default limits: 256 per address, loopback exempt
        assert net.server.config.max_per_ip == 256
        loopback = [await connect_from(net, "127.0.0.1") for _ in range(300)]
        ipv6 = [await connect_from(net, "::1") for _ in range(300)]
        assert await _accepted(net) == 600
        assert all(not c.closed for c in loopback + ipv6)
        assert net.server.per_host == {"127.0.0.1": 300, "[::1]": 300}
        for _ in range(256):
            await connect_from(net, "192.0.2.7")
        assert await _accepted(net) == 856
        extra = await connect_from(net, "192.0.2.7")
        assert [m.to_line() for m in await extra.expect_closed()] == [REFUSED]
        # The loopback connections work: one registers among them all.
        await loopback[-1].register("local")
        await loopback[-1].sync()


async def test_the_exempt_list_is_configurable() -> None:
    async with running_server(max_per_ip=2, max_per_ip_exempt=("192.0.2.0/24",)) as net:
        for _ in range(5):
            await connect_from(net, "192.0.2.7")
        assert await _accepted(net) == 5
        for _ in range(2):
            await connect_from(net, "127.0.0.1")
        assert await _accepted(net) == 7
        third = await connect_from(net, "127.0.0.1")  # loopback is not in this list: limited
        assert [m.to_line() for m in await third.expect_closed()] == [REFUSED]


async def test_an_empty_exempt_list_limits_loopback_too() -> None:
    async with running_server(max_per_ip=2, max_per_ip_exempt=()) as net:
        for _ in range(2):
            await connect_from(net, "::1")
        assert await _accepted(net) == 2
        third = await connect_from(net, "::1")
        assert [m.to_line() for m in await third.expect_closed()] == [REFUSED]
