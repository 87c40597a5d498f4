"""How fast history goes to disk: appends through StoreWorker into an SQLite file, with group commit.

    .venv/bin/python benchmarks/store_bench.py [--messages N] [--dir PATH]

Three ways of producing messages, each into a fresh database file in a temporary directory (or ``--dir``):

* ``closed burst=B``: append B messages synchronously, wait until all B are committed, repeat.  B=1 is the cost of
  one transaction per message; larger B shows what group commit buys.
* ``open burst=B``: append B messages at each trio checkpoint without waiting for commits, as a busy server does;
  the worker takes whatever has accumulated, so a transaction carries many messages.
* ``paced R/s``: a steady rate in bursts of 10, to show the latency of the echo at a realistic load.
* ``+busy``: the same while another task keeps the event loop 100% busy (pure Python, a checkpoint every ~50 µs),
  as under a fan-out storm: the worker thread then competes for the GIL.

For each: messages per second (wall time from the first append to the last on_commit), transactions, messages
per transaction, and the latency from ``append`` to its ``on_commit`` (p50, p99, max, in milliseconds).
Standard library and the package only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trio_chat.server.history import StoredMessage
from trio_chat.server.store.sqlite import SQLiteHistory
from trio_chat.server.store.worker import StoreWorker

TARGETS = ("#Lobby", "#python", "#trio", "#random")
TEXT = "the quick brown fox jumps over the lazy dog, and then it jumps back again, twice"


@dataclass
class Result:
    name: str
    messages: int
    seconds: float
    transactions: int
    latencies: list[float]

    def row(self) -> str:
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        return (
            f"{self.name:<20} {self.messages / self.seconds:>10,.0f} {self.transactions:>8,} "
            f"{self.messages / self.transactions:>9.1f} {p50:>8.2f} {p99:>8.2f} {lat[-1] * 1000:>8.2f}"
        )


def message(n: int) -> StoredMessage:
    target = TARGETS[n % len(TARGETS)]
    return StoredMessage(
        seq=0,
        msgid=f"bench{n:09d}",
        time_ms=1_700_000_000_000 + n,
        target=target,
        folded=target.lower(),
        source=f"user{n % 50}!u@10.0.0.{n % 250}",
        account=None,
        command="PRIVMSG",
        text=TEXT,
    )


async def spin(stop: trio.Event) -> None:
    """Keep the event loop busy with Python code, checkpointing often (like a server relaying a storm)."""
    while not stop.is_set():
        total = 0
        for i in range(1000):
            total += i
        await trio.sleep(0)  # noqa: ASYNC115 - a checkpoint, as between two client lines


async def measure(
    path: Path, name: str, total: int, *, mode: str, burst: int, rate: float = 0.0, busy: bool = False
) -> Result:
    worker = StoreWorker(SQLiteHistory.open(str(path)))
    stop = trio.Event()
    sent_at: list[float] = [0.0] * total
    latencies: list[float] = []
    committed = 0
    burst_done = trio.Event()
    all_done = trio.Event()
    waiting_for = 0

    def on_commit(result: StoredMessage | None) -> None:
        nonlocal committed
        assert result is not None, "commit failed"
        latencies.append(time.perf_counter() - sent_at[int(result.msgid[5:])])
        committed += 1
        if committed == waiting_for:
            burst_done.set()
        if committed == total:
            all_done.set()

    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        if busy:
            nursery.start_soon(spin, stop)
        start = time.perf_counter()
        paced_from = trio.current_time()
        n = 0
        while n < total:
            count = min(burst, total - n)
            if mode == "closed":
                burst_done = trio.Event()
                waiting_for = n + count
            for i in range(n, n + count):
                sent_at[i] = time.perf_counter()
                worker.append(message(i), on_commit)
            n += count
            if mode == "closed":
                await burst_done.wait()
            elif mode == "open":
                await trio.sleep(0)  # noqa: ASYNC115 - a checkpoint, as between two client lines
            else:
                await trio.sleep_until(paced_from + n / rate)
        await all_done.wait()
        seconds = time.perf_counter() - start
        stop.set()
        await worker.aclose()
    return Result(name, total, seconds, worker.stats.transactions, latencies)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000, help="messages per run (default 20,000)")
    parser.add_argument("--dir", type=Path, default=None, help="directory for the database files (default: temp)")
    args = parser.parse_args()
    total: int = args.messages

    runs: list[tuple[str, str, int, float, bool]] = [
        ("closed burst=1", "closed", 1, 0.0, False),
        ("closed burst=10", "closed", 10, 0.0, False),
        ("closed burst=100", "closed", 100, 0.0, False),
        ("closed burst=1000", "closed", 1000, 0.0, False),
        ("open burst=1", "open", 1, 0.0, False),
        ("open burst=10", "open", 10, 0.0, False),
        ("open burst=100", "open", 100, 0.0, False),
        ("paced 5000/s", "paced", 10, 5000.0, False),
        ("paced 20000/s", "paced", 10, 20000.0, False),
        ("closed 100 +busy", "closed", 100, 0.0, True),
        ("paced 5000/s +busy", "paced", 10, 5000.0, True),
    ]
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        print(f"SQLite store, {total:,} messages per run, files in {directory}")
        print(f"{'run':<20} {'msgs/s':>10} {'txns':>8} {'msgs/txn':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for index, (name, mode, burst, rate, busy) in enumerate(runs):
            count = min(total, 5_000) if mode == "closed" and burst == 1 else total
            if mode == "paced":
                count = min(total, int(rate * 2))  # two seconds of traffic
            path = Path(directory) / f"run{index}.db"
            result = await measure(path, name, count, mode=mode, burst=burst, rate=rate, busy=busy)
            print(result.row(), flush=True)


if __name__ == "__main__":
    trio.run(main)
