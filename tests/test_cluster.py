"""Several nodes, one network: servers in one trio run sharing a real redis-server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace

from tests.helpers import FAST, InProcessNetwork, join, running_server
from tests.redis_server import RedisServer

CLUSTER = replace(FAST, node_timeout=3.0, snapshot_interval=3600.0)


@asynccontextmanager
async def nodes(redis: RedisServer, *names: str) -> AsyncIterator[list[InProcessNetwork]]:
    async with AsyncExitStack() as stack:
        out = []
        for name in names:
            out.append(
                await stack.enter_async_context(
                    running_server(CLUSTER, server_name=name, redis_url=redis.url, clock=trio_wall)
                )
            )
        yield out


def trio_wall() -> float:
    import time

    return time.time()


async def test_two_nodes_share_a_channel(redis: RedisServer) -> None:
    async with nodes(redis, "a.test", "b.test") as (a, b):
        alice = await a.client("alice")
        bob = await b.client("bob")
        await join(alice, "alice", "#lobby")
        await join(bob, "bob", "#lobby")
        await alice.expect(r":bob!\S+ JOIN #lobby")
        await alice.send("PRIVMSG #lobby :hello from a")
        await bob.expect(r":alice!\S+ PRIVMSG #lobby :hello from a")
        await bob.send("PRIVMSG #lobby :hi from b")
        await alice.expect(r":bob!\S+ PRIVMSG #lobby :hi from b")
        await bob.send("PRIVMSG alice :psst")
        await alice.expect(r":bob!\S+ PRIVMSG alice :psst")
        await alice.send("NICK alicia")
        await bob.expect(r":alice!\S+ NICK :?alicia")
        await alice.send("TOPIC #lobby :a topic")
        await bob.expect(r":alicia!\S+ TOPIC #lobby :a topic")
        await bob.send("TOPIC #lobby :not op")
        await bob.expect(r" 482 bob #lobby ")
        await alice.send("WHOIS bob")
        await alice.expect(r" 311 alicia bob ")
        await bob.send("QUIT :bye")
        await alice.expect(r":bob!\S+ QUIT :Quit: bye")
