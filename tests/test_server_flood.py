"""Flood control: the bucket in plain numbers, then a flooding client against the in-process server."""

from __future__ import annotations

import trio
import trio.testing

from tests.helpers import running_server
from trio_chat.server.flood import TokenBucket


def test_burst_then_steady_rate() -> None:
    bucket = TokenBucket(burst=5, rate=2.0, now=0.0)
    for _ in range(5):
        assert bucket.delay(0.0) == 0.0
        bucket.take(0.0)
    assert bucket.delay(0.0) == 0.5
    assert bucket.delay(0.25) == 0.25
    assert bucket.delay(0.5) == 0.0
    bucket.take(0.5)
    assert bucket.delay(0.5) == 0.5
    # A long pause refills the burst, and no more than the burst.
    assert bucket.delay(100.0) == 0.0
    assert bucket.tokens == 5


def test_rate_zero_disables() -> None:
    bucket = TokenBucket(burst=5, rate=0.0, now=0.0)
    for _ in range(1000):
        bucket.take(0.0)
    assert bucket.delay(0.0) == 0.0


async def test_flooder_is_slowed_not_dropped(autojump_clock: trio.testing.MockClock) -> None:
    async with running_server(flood_burst=5, flood_rate=2.0, flood_max_backlog=100) as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await bob.sync()
        start = trio.current_time()
        await alice.send(*(f"PRIVMSG bob :m{i}" for i in range(25)))
        arrivals = []
        for i in range(25):
            assert (await bob.expect("PRIVMSG", within=60)).params[1] == f"m{i}"
            arrivals.append(trio.current_time() - start)
        # Five at once, then one every half second: the 25th after 10 seconds.
        assert arrivals[:5] == [0.0] * 5
        assert abs(arrivals[24] - 10.0) < 0.01
        assert net.server.network.find_user("alice") is not None


async def test_excess_flood_disconnects_and_others_are_unaffected(autojump_clock: trio.testing.MockClock) -> None:
    async with running_server(flood_burst=5, flood_rate=2.0, flood_max_backlog=50) as net:
        flooder = await net.client("flooder")
        bob = await net.client("bob")
        carol = await net.client("carol")
        for c in (flooder, bob, carol):
            await c.send("JOIN #room")
            await c.expect(" 366 ")
        await flooder.send(*(f"PRIVMSG #room :spam {i}" for i in range(500)))
        lines = await flooder.expect_closed(within=60)
        assert lines[-1].to_line() == "ERROR :Excess flood"
        quit_ = await bob.expect(":flooder!\\S+ QUIT", within=60)
        assert quit_.params == ("Excess flood",)
        # bob and carol go on talking at once, unthrottled by the flood.
        start = trio.current_time()
        await bob.send("PRIVMSG #room :still here")
        assert (await carol.expect("PRIVMSG #room :still here")).source is not None
        assert trio.current_time() == start


async def test_flood_limit_zero_disables(autojump_clock: trio.testing.MockClock) -> None:
    async with running_server(flood_rate=0.0) as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        start = trio.current_time()
        await alice.send(*(f"PRIVMSG bob :m{i}" for i in range(300)))
        for i in range(300):
            assert (await bob.expect("PRIVMSG")).params[1] == f"m{i}"
        assert trio.current_time() == start
