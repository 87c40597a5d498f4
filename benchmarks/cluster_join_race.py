#!/usr/bin/env python3
"""Does a member who has just joined on one node get a message sent right afterwards from another node?

    .venv/bin/python benchmarks/cluster_join_race.py              # 200 tries, message sent at once
    .venv/bin/python benchmarks/cluster_join_race.py --delay 0.05 # the same, 50 ms after the 366

Starts a redis-server and two nodes as `run.py --cluster` does. For every try: `alice` (node A) joins a new
channel; a new client on node B joins it and waits for its 366 (end of NAMES: the JOIN is done); then alice sends one
message to the channel. On a single server the new member always gets it. Prints how many did not within 2 s, and
exits 1 if any did not. Every process started is stopped by PID. The clients are tests/ircclient.py's.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # benchmarks.run, tests.ircclient, and this checkout's trio_chat

import trio  # noqa: E402

from benchmarks import run as bench  # noqa: E402
from tests.ircclient import IRCClient, command  # noqa: E402

SETUP_TIMEOUT = 15.0
"""Seconds a registration or a JOIN may take."""
DELIVERY_TIMEOUT = 2.0


async def race(port_a: int, port_b: int, tries: int, delay: float) -> int:
    """Returns how many of the new members on node B missed alice's message."""
    missed = 0
    alice = await IRCClient.connect_tcp(bench.HOST, port_a, "alice", auto_pong=True)
    try:
        await alice.register("alice", within=SETUP_TIMEOUT)
        for i in range(tries):
            channel = f"#race{i}"
            await alice.send(f"JOIN {channel}")
            await alice.expect(rf" 366 alice {channel} ", within=SETUP_TIMEOUT)
            await trio.sleep(0.05)  # alice's JOIN applied on both nodes
            bob = await IRCClient.connect_tcp(bench.HOST, port_b, f"bob{i}", auto_pong=True)
            try:
                await bob.register(f"bob{i}", within=SETUP_TIMEOUT)
                await bob.send(f"JOIN {channel}")
                await bob.expect(command("366"), within=SETUP_TIMEOUT)
                if delay:
                    await trio.sleep(delay)
                await alice.send(f"PRIVMSG {channel} :hello {i}")
                try:
                    await bob.expect(command("PRIVMSG"), within=DELIVERY_TIMEOUT)
                except (trio.TooSlowError, EOFError):
                    missed += 1
                await bob.send("QUIT :done")
            finally:
                await bob.aclose()
            await alice.send(f"PART {channel}")
    finally:
        await alice.aclose()
    return missed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--tries", type=int, default=200)
    ap.add_argument("--delay", type=float, default=0.0, help="seconds between the 366 and the message (default 0)")
    ap.add_argument("--python", default=bench.default_python(), help="interpreter for trio-chat (default: .venv)")
    a = ap.parse_args(argv)
    bench.setup_process()
    opts = bench.Options(a.python, shlex.split(bench.DEFAULT_TRIO_ARGS), None, None, 0, node_cpus=(0, 1))
    try:
        cluster = bench.start_cluster(opts)
        node_b = cluster.parts[0]
        missed = trio.run(race, cluster.port, node_b.port, a.tries, a.delay)
    finally:
        bench.stop_all()
    print(
        f"{missed}/{a.tries} members who had joined on node B (366 received) missed a message sent "
        f"{a.delay * 1000:.0f} ms later from node A"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
