"""What each kind of client does during a wave, and how it judges the server's answer to it.

Well-behaved clients connect, register, join and talk (:func:`well_behaved`); the misbehavers each do one thing
a server must survive (:data:`MISBEHAVIOURS`, plus :func:`slowloris`, which starts before registration) and set
``client.answer`` (how the server answered) and ``client.problem`` (why that was wrong, if it was).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

import trio

from .clients import READ_PAUSE, Client, WellBehaved
from .server import FLOOD_BURST, FLOOD_RATE, REGISTRATION_TIMEOUT


def how_it_ended(client: Client) -> str:
    """The last ERROR's reason, or what happened instead."""
    return client.errors[-1] if client.errors else ("closed without ERROR" if client.eof else "still connected")


async def start_client(client: Client, nursery: trio.Nursery) -> None:
    """Connect and register (misbehavers that never register are started elsewhere)."""
    if client.kind == "nonreader":
        # A tiny receive buffer and segment size, so the kernel holds little for it and its SendQ fills.
        if not await client.connect(rcvbuf=4096, mss=536):
            return
        nursery.start_soon(client.read_loop, lambda: client.registered)
    else:
        if not await client.connect():
            return
        nursery.start_soon(client.read_loop)
    if not await client.register():
        client.problem = client.problem or f"not registered ({client.errors[-1] if client.errors else 'no 001'})"


async def well_behaved(client: WellBehaved, start: float, stop: float) -> None:
    """Talk until ``stop``; a rejoiner leaves a channel midway and comes back, a reconnecter quits and returns."""
    run = client.run
    duration = stop - start
    if client.kind == "talker":
        await client.talk(stop)
        return
    midway = start + client.rng.uniform(0.3, 0.6) * duration
    await client.talk(midway)
    if client.eof:
        return
    if client.kind == "rejoiner":
        channel = run.channels[client.rng.choice(client.channel_ids)]
        name = channel.encode()
        client.joined.discard(name)  # no more messages to it from now on
        if not await client.send(f"PART {channel} :back soon\r\n".encode()):
            return
        await trio.sleep(client.rng.uniform(1.0, 4.0))
        if not await client.join([channel], limit=20):
            client.problem = client.problem or f"could not rejoin {channel}"
    else:
        await client.quit()
        await client.close()
        await trio.sleep(client.rng.uniform(1.0, 3.0))
        run.reconnects += 1
        if not await client.connect():
            return
        client.read_pause = READ_PAUSE
        run.nursery.start_soon(client.read_loop)
        if not await client.register():
            client.problem = client.problem or "could not register again after reconnecting"
            return
        if not await client.join([run.channels[c] for c in client.channel_ids], limit=30):
            client.problem = client.problem or "could not rejoin after reconnecting"
    await client.talk(stop)


async def slowloris(client: Client, nursery: trio.Nursery) -> None:
    """Never finish registering: silent, or dribbling a USER line one byte every 3 s."""
    if not await client.connect():
        return
    nursery.start_soon(client.read_loop)
    started = trio.current_time()
    if client.index % 2:
        await client.send(f"NICK {client.nick}\r\n".encode())
        dribble = f"USER {client.nick} 0 * :never finished".encode()
        for byte in dribble:
            if client.eof or trio.current_time() - started > REGISTRATION_TIMEOUT + 15:
                break
            await client.send(bytes([byte]))
            await client.wait_for(lambda: client.eof, 3.0)
    await client.wait_for(lambda: client.eof, REGISTRATION_TIMEOUT + 15 - (trio.current_time() - started))
    elapsed = trio.current_time() - started
    reason = how_it_ended(client)
    client.answer = f"ERROR :{reason}" if client.errors else reason
    if reason != "Registration timed out":
        client.problem = f"slowloris answered {reason!r}"
    elif elapsed < REGISTRATION_TIMEOUT - 1:
        client.problem = f"dropped after {elapsed:.1f} s, before the registration timeout"
    await client.close()


async def flooder(client: Client, start: float, stop: float) -> None:
    """300 lines at once: far past the backlog the server tolerates."""
    await trio.sleep_until(start + client.rng.uniform(0.1, 0.5) * (stop - start))
    channel = client.rng.choice(client.run.channels)
    await client.send(b"".join(f"PRIVMSG {channel} :flood {i}\r\n".encode() for i in range(300)))
    await client.wait_for(lambda: client.eof, 30)
    reason = how_it_ended(client)
    client.answer = f"ERROR :{reason}" if client.errors else reason
    if reason != "Excess flood":
        client.problem = f"flooder answered {reason!r}"


SLOWED_LINES = 30


async def slowed(client: Client, start: float, stop: float) -> None:
    """30 PINGs at once: under the backlog limit, so they should all be answered, at about 2 a second."""
    await trio.sleep_until(start + client.rng.uniform(0.05, 0.25) * (stop - start))
    await client.wait_for(lambda: False, 3.0)  # let the token bucket refill after the JOIN
    sent_at = trio.current_time()
    await client.send(b"".join(f"PING :soak{i}\r\n".encode() for i in range(SLOWED_LINES)))
    await client.wait_for(lambda: len(client.pongs) >= SLOWED_LINES or client.eof, 40)
    tokens = [token for _, token in client.pongs]
    spread = client.pongs[-1][0] - sent_at if client.pongs else 0.0
    least = (SLOWED_LINES - FLOOD_BURST) / FLOOD_RATE * 0.8
    client.answer = f"{len(tokens)} PONGs over {spread:.1f} s"
    if tokens != [f"soak{i}".encode() for i in range(SLOWED_LINES)]:
        client.problem = f"got {len(tokens)} of {SLOWED_LINES} PONGs, or out of order"
    elif spread < least:
        client.problem = f"not slowed down: {SLOWED_LINES} PONGs within {spread:.1f} s (expected >= {least:.1f} s)"
    elif client.eof:
        client.problem = "disconnected"


GARBAGE: list[tuple[bytes, str]] = [
    (b"PRIVMSG {chan} :\xff\xfe not UTF-8\r\n", "FAIL"),
    (b"PRIVMSG {chan} :a NUL \x00 inside\r\n", "400"),
    (b"PRIVMSG {chan} :a bare CR \r inside\r\n", "400"),
    (b"PRIVMSG {chan} :" + b"y" * 600 + b"\r\n", "417"),
    (b"FROBNICATE the server\r\n", "421"),
    (b"PRIVMSG " + b",".join(b"#t%d" % i for i in range(50)) + b" :too many targets\r\n", "407"),
    (b"\xc3\x28\xa0\xa1 garbage command\r\n", "FAIL"),
]
"""Bad lines and the numeric (or FAIL) each must be answered with."""


async def garbage(client: Client, start: float, stop: float) -> None:
    """Bad lines at a polite pace; each must get its protocol answer, and the client must stay connected."""
    await trio.sleep_until(start + client.rng.uniform(0.0, 0.2) * (stop - start))
    channel = client.rng.choice(client.run.channels).encode()
    wanted: Counter[str] = Counter()
    for template, code in GARBAGE:
        if client.eof:
            break
        await client.send(template.replace(b"{chan}", channel))
        wanted[code] += 1
        await trio.sleep(client.rng.uniform(1.0, 2.0))
    await client.send(b"PING :garbage-done\r\n")
    await client.wait_for(lambda: any(t == b"garbage-done" for _, t in client.pongs) or client.eof, 20)
    missing = {code: n - client.numerics[code] for code, n in wanted.items() if client.numerics[code] < n}
    client.answer = " ".join(f"{code}x{client.numerics[code]}" for code in sorted(wanted))
    if client.eof:
        client.problem = f"disconnected: {client.errors[-1] if client.errors else 'no ERROR'}"
    elif missing:
        client.problem = f"answers missing: {missing}"


async def readq(client: Client, start: float, stop: float) -> None:
    """20 KB without a line end: the ReadQ (16 KB) is exceeded."""
    await trio.sleep_until(start + client.rng.uniform(0.1, 0.5) * (stop - start))
    await client.send(b"PRIVMSG #soak00 :" + b"z" * 20000)
    await client.wait_for(lambda: client.eof, 20)
    reason = how_it_ended(client)
    client.answer = f"ERROR :{reason}" if client.errors else reason
    if reason != "ReadQ exceeded":
        client.problem = f"answered {reason!r}"


async def nonreader(client: Client, start: float, stop: float) -> None:
    """Joins every channel and a #sink, talks into #sink (under the flood limit), never reads."""
    run = client.run
    names = [*run.channels, "#sink"]
    if not await client.send(f"JOIN {','.join(names)}\r\n".encode()):
        return
    line = f"PRIVMSG #sink :{'n' * 480}\r\n".encode()
    while trio.current_time() < stop:
        if not await client.send(line):
            break
        run.relayed_bytes += len(line) + 30
        client.sent_bytes += len(line) + 30
        await trio.sleep(1 / FLOOD_RATE * 1.1)


NONREADER_ENOUGH = 512 * 1024
"""Bytes sent towards a non-reader after which it must have been dropped: the kernel holds ~100-150 KB for it
(tiny receive buffer and segment size), the SendQ 512 lines of at most ~600 bytes."""


async def nonreader_end(client: Client) -> None:
    """At the end: read what is left (up to EOF, bounded), then judge by what the server told the others."""
    if client.irc is not None and not client.eof:
        with trio.move_on_after(10):
            await client.read_loop()
    await client.close()
    reason = client.run.quit_reasons.get(client.nick)
    told = f", ERROR :{client.errors[-1]} reached it" if client.errors else ""
    client.answer = f"QUIT :{reason} (seen by peers){told}" if reason else "never dropped"
    sent_its_way = client.run.relayed_bytes - client.sent_bytes
    if reason is None and sent_its_way < NONREADER_ENOUGH:
        # Too little traffic to fill the kernel's buffers (~100-150 KB here) and then the SendQ: inconclusive.
        client.answer = f"not dropped: only ~{sent_its_way // 1024} KB sent its way (inconclusive)"
    elif reason != "SendQ exceeded":
        client.problem = f"expected a drop with SendQ exceeded, peers saw {reason!r}"


async def abrupt(client: Client, start: float, stop: float) -> None:
    """A message, then the socket closed without QUIT (odd indices with a TCP reset)."""
    await trio.sleep_until(start + client.rng.uniform(0.1, 0.8) * (stop - start))
    await client.send(f"PRIVMSG {client.rng.choice(client.run.channels)} :bye without QUIT\r\n".encode())
    await trio.sleep(0.2)
    client.quit_sent = True  # the end of the stream is expected from now on
    await client.close(reset=bool(client.index % 2))


def judge_abrupt(client: Client) -> None:
    """After everyone left: the peers must have seen a QUIT for a closed connection."""
    reason = client.run.quit_reasons.get(client.nick)
    client.answer = f"QUIT :{reason} (seen by peers)" if reason else "no QUIT seen"
    if reason is None or not (reason == "Connection closed" or reason.startswith("Read error")):
        client.problem = f"expected a QUIT for a closed connection, peers saw {reason!r}"


MISBEHAVIOURS: dict[str, Callable[[Client, float, float], Awaitable[None]]] = {
    "flooder": flooder,
    "slowed": slowed,
    "garbage": garbage,
    "readq": readq,
    "nonreader": nonreader,
    "abrupt": abrupt,
}
"""The talk phase of each misbehaving kind that registers."""
