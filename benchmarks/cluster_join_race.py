#!/usr/bin/env python3
"""Does a member who has just joined on one node get a message sent right afterwards from another node?

    .venv/bin/python benchmarks/cluster_join_race.py              # 200 tries, message sent at once
    .venv/bin/python benchmarks/cluster_join_race.py --delay 0.05 # the same, 50 ms after the 366

Starts a redis-server and two nodes as `run.py --cluster` does. For every try: `alice` (node A) joins a new
channel; a new client on node B joins it and waits for its 366 (end of NAMES: the JOIN is done); then alice sends one
message to the channel. On a single server the new member always gets it. Prints how many did not within 2 s, and
exits 1 if any did not. Every process started is stopped by PID.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import cluster_costs as cc  # noqa: E402
import run as bench  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--tries", type=int, default=200)
    ap.add_argument("--delay", type=float, default=0.0, help="seconds between the 366 and the message (default 0)")
    ap.add_argument("--python", default=bench.default_python(), help="interpreter for trio-chat (default: .venv)")
    a = ap.parse_args(argv)
    bench.setup_process()
    opts = bench.Options(a.python, shlex.split(bench.DEFAULT_TRIO_ARGS), None, None, 0, node_cpus=(0, 1))
    missed = 0
    clients: list[cc.Client] = []
    try:
        cluster = bench.start_cluster(opts)
        node_b = cluster.parts[0]
        alice = cc.Client("alice", cluster.port)
        clients.append(alice)
        for i in range(a.tries):
            channel = f"#race{i}"
            alice.join(channel)
            time.sleep(0.05)  # alice's JOIN applied on both nodes
            bob = cc.Client(f"bob{i}", node_b.port)
            bob.join(channel)
            if a.delay:
                time.sleep(a.delay)
            alice.send(f"PRIVMSG {channel} :hello {i}\r\n")
            if not cc.wait_until(lambda b=bob: b.privmsgs >= 1, 2.0):
                missed += 1
            bob.close()
            alice.send(f"PART {channel}\r\n")
    finally:
        for c in clients:
            c.close()
        bench.stop_all()
    print(
        f"{missed}/{a.tries} members who had joined on node B (366 received) missed a message sent "
        f"{a.delay * 1000:.0f} ms later from node A"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
