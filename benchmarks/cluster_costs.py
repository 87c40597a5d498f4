#!/usr/bin/env python3
"""What one event costs a trio-chat node and Redis: CPU microseconds per channel message sent to another node,
per message received from another node, per state change applied from the log, and per XADD / XREAD'd entry.

    .venv/bin/python benchmarks/cluster_costs.py                 # ~1 min
    .venv/bin/python benchmarks/cluster_costs.py --rates 500,2000,8000 --seconds 5 --nick-events 6000

Starts a redis-server (free port, no persistence) and two nodes (node A, node B) exactly as `run.py --cluster`
does (it reuses its functions), then runs, with small IRC clients of its own (Python sockets, one thread each):

* ``local``: a sender and a receiver on node A in ``#loc``: a message costs node A one PRIVMSG, one delivery and
  its history record; no other node has a member, so nothing goes to Redis (the baseline).
* ``cross``: a sender on node A and a receiver on node B in ``#x``, at each of ``--rates`` msgs/s: node A pays
  the PRIVMSG, the history record and the append (one XADD per message, pipelined per scheduler batch); node B
  the XREAD, decoding, one delivery and its history record; Redis the XADD and the XREADs (node A follows the
  channel too: it has a member there, so each entry is read twice, once by each node).
* ``state``: ``--nick-clients`` clients on node A change nicks (``--nick-events`` NICKs in all, no channels):
  every change is one log entry, appended by node A and applied by both nodes (node B has no user concerned:
  the cost of applying the log everywhere).

CPU comes from /proc/<pid>/stat (utime+stime, 10 ms ticks) over each phase, minus the idle rate of each process
measured before; Redis's own time per command from ``INFO commandstats`` (``usec``: inside the command, not
its network I/O).  Every process started is stopped by PID.  Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks import run as bench  # noqa: E402  (process bookkeeping, redis-server, trio-chat starts)

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK


# ---------------------------------------------------------------------------------------------
# a tiny IRC client
# ---------------------------------------------------------------------------------------------


@dataclass
class Client:
    nick: str
    port: int
    sock: socket.socket = field(init=False)
    lines: int = 0
    privmsgs: int = 0
    nicks: int = 0
    welcome: threading.Event = field(default_factory=threading.Event)
    joined: threading.Event = field(default_factory=threading.Event)
    on_count: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self.sock = socket.create_connection((bench.HOST, self.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        self.send(f"NICK {self.nick}\r\nUSER u 0 * :cost\r\n")
        if not self.welcome.wait(15):
            raise RuntimeError(f"{self.nick}: no 001 within 15 s")

    def send(self, text: str) -> None:
        with self._lock:
            self.sock.sendall(text.encode())

    def join(self, channel: str) -> None:
        self.joined.clear()
        self.send(f"JOIN {channel}\r\n")
        if not self.joined.wait(15):
            raise RuntimeError(f"{self.nick}: not in {channel} within 15 s")

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except OSError:
                return
            if not data:
                return
            buf += data
            *done, buf = buf.split(b"\r\n")
            for line in done:
                self.lines += 1
                parts = line.split(b" ", 3)
                if len(parts) < 2:
                    continue
                if parts[0] == b"PING":
                    self.send("PONG " + line[5:].decode(errors="replace") + "\r\n")
                verb = parts[1]
                if verb == b"PRIVMSG":
                    self.privmsgs += 1
                elif verb == b"NICK":
                    self.nicks += 1
                elif verb == b"001":
                    self.welcome.set()
                elif verb == b"366":
                    self.joined.set()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send("QUIT :done\r\n")
        self.sock.close()


def last_entry_bytes(redis_port: int, key: str) -> tuple[int, bytes]:
    """Size of the payload of the newest entry of stream `key` (its field values), and the payload."""
    r = bench.Resp(redis_port)
    try:
        reply = r.call("XREVRANGE", key, "+", "-", "COUNT", "1")
    finally:
        r.close()
    if not isinstance(reply, list) or not reply:
        return 0, b""
    entry = reply[0]
    assert isinstance(entry, list)
    fields = entry[1]
    assert isinstance(fields, list)
    payload = b"".join(f for f in fields[1::2] if isinstance(f, bytes))
    return len(payload), payload


def xread_key_costs(redis_port: int, sizes: list[int], calls: int = 200) -> dict[int, dict[str, float]]:
    """What one (non-blocking, nothing new) XREAD naming K streams costs Redis, inside the command and as a
    round trip: a node's reader names the log and every channel it follows on every read."""
    r = bench.Resp(redis_port)
    out: dict[int, dict[str, float]] = {}
    try:
        for k in sizes:
            keys = [f"trio-chat-bench:xr:{i}" for i in range(k)]
            args = ["XREAD", "COUNT", "100", "STREAMS", *keys, *(["0-0"] * k)]
            r.call("CONFIG", "RESETSTAT")
            t0 = time.perf_counter()
            for _ in range(calls):
                r.call(*args)
            wall = time.perf_counter() - t0
            stats = bench.redis_calls(redis_port).get("xread", (calls, 0.0))
            out[k] = {"usec_inside": stats[1] / max(1, stats[0]), "usec_round_trip": wall * 1e6 / calls}
    finally:
        r.close()
    return out


class StreamReader:
    """One more reader of a stream, as a further node with a member in the channel would be: a blocking XREAD
    loop on its own connection (what it reads is thrown away).  Measures what each reader costs Redis."""

    def __init__(self, redis_port: int, key: str) -> None:
        self.key = key
        self.entries = 0
        self.stop = threading.Event()
        self.conn = bench.Resp(redis_port)
        last = self.conn.call("XREVRANGE", key, "+", "-", "COUNT", "1")
        newest = last[0][0] if isinstance(last, list) and last and isinstance(last[0], list) else None
        self.last = newest.decode() if isinstance(newest, bytes) else "0-0"
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                reply = self.conn.call("XREAD", "COUNT", "2000", "BLOCK", "200", "STREAMS", self.key, self.last)
            except OSError:
                return
            if isinstance(reply, list):
                for stream in reply:
                    if isinstance(stream, list) and len(stream) == 2 and isinstance(stream[1], list) and stream[1]:
                        self.entries += len(stream[1])
                        newest = stream[1][-1]
                        if isinstance(newest, list) and isinstance(newest[0], bytes):
                            self.last = newest[0].decode()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.conn.close()


def wait_until(cond: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return cond()


# ---------------------------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------------------------


@dataclass
class Procs:
    a: int
    b: int
    redis: int
    redis_port: int
    idle: dict[str, float] = field(default_factory=dict)
    """CPU seconds per wall second of each process while nothing happens (heartbeats, timers)."""

    def pids(self) -> dict[str, int]:
        return {"node A": self.a, "node B": self.b, "redis": self.redis}

    def cpu(self) -> dict[str, float]:
        return {k: cpu_s(p) for k, p in self.pids().items()}

    def measure_idle(self, seconds: float) -> None:
        c0, t0 = self.cpu(), time.monotonic()
        time.sleep(seconds)
        c1, t1 = self.cpu(), time.monotonic()
        self.idle = {k: (c1[k] - c0[k]) / (t1 - t0) for k in c0}


@dataclass
class Phase:
    name: str
    events: int
    wall_s: float
    cpu_s: dict[str, float]
    """Per process, CPU over the phase minus its idle rate."""
    redis_cmds: dict[str, dict[str, float]]

    def us_per_event(self, who: str) -> float:
        return self.cpu_s[who] * 1e6 / self.events if self.events else float("nan")

    def as_dict(self) -> dict[str, object]:
        return {
            "phase": self.name,
            "events": self.events,
            "wall_s": round(self.wall_s, 3),
            "events_per_s": round(self.events / self.wall_s) if self.wall_s else None,
            "cpu_s": {k: round(v, 3) for k, v in self.cpu_s.items()},
            "us_per_event": {k: round(self.us_per_event(k), 1) for k in self.cpu_s},
            "redis_commands": self.redis_cmds,
        }


def measured(procs: Procs, name: str, body: Callable[[], int]) -> Phase:
    """Run `body` (returns the number of events it made) and charge each process's CPU to those events."""
    stats0, c0, t0 = bench.redis_calls(procs.redis_port), procs.cpu(), time.monotonic()
    events = body()
    c1, t1, stats1 = procs.cpu(), time.monotonic(), bench.redis_calls(procs.redis_port)
    wall = t1 - t0
    cpu = {k: max(0.0, c1[k] - c0[k] - procs.idle.get(k, 0.0) * wall) for k in c0}
    cmds = {}
    for cmd, (n, usec) in stats1.items():
        n0, usec0 = stats0.get(cmd, (0, 0.0))
        if n > n0:
            cmds[cmd] = {
                "calls": n - n0,
                "usec": round(usec - usec0, 1),
                "usec_per_call": round((usec - usec0) / (n - n0), 2),
            }
    return Phase(name, events, wall, cpu, cmds)


def paced_messages(sender: Client, receiver: Client, channel: str, rate: float, seconds: float) -> int:
    """`rate` msgs/s for `seconds` from `sender` to `channel`, in 5 ms slices; returns the count once `receiver`
    has all of them."""
    total = int(rate * seconds)
    start_count = receiver.privmsgs
    t0 = time.monotonic()
    sent = 0
    body = "x" * 48
    while sent < total:
        due = min(total, int((time.monotonic() - t0) * rate) + 1)
        if due > sent:
            sender.send("".join(f"PRIVMSG {channel} :{i} {body}\r\n" for i in range(sent, due)))
            sent = due
        time.sleep(0.005)
    if not wait_until(lambda: receiver.privmsgs - start_count >= total, 30):
        print(f"warning: {receiver.privmsgs - start_count}/{total} messages arrived", file=sys.stderr)
    return receiver.privmsgs - start_count


def nick_changes(clients: list[Client], per_client: int) -> int:
    """Every client sends `per_client` NICKs at once (the server takes them one at a time, each through the
    log); returns the changes acknowledged."""
    before = sum(c.nicks for c in clients)
    for c in clients:
        c.send("".join(f"NICK {c.nick}_{i % 2}\r\n" for i in range(per_client)))
    want = len(clients) * per_client
    if not wait_until(lambda: sum(c.nicks for c in clients) - before >= want, 120):
        print(f"warning: {sum(c.nicks for c in clients) - before}/{want} nick changes confirmed", file=sys.stderr)
    return sum(c.nicks for c in clients) - before


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="500,2000", help="msgs/s of the cross-node phases (default 500,2000)")
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each message phase (default 5)")
    ap.add_argument("--nick-clients", type=int, default=20, help="clients changing nicks (default 20)")
    ap.add_argument("--nick-events", type=int, default=4000, help="nick changes in all (default 4000)")
    ap.add_argument("--node-cpus", default="0,1", help="CPUs of node A and node B (default 0,1; none = unpinned)")
    ap.add_argument("--python", default=bench.default_python(), help="interpreter for trio-chat (default: .venv)")
    ap.add_argument("--trio-args", default=bench.DEFAULT_TRIO_ARGS, help="extra args for `serve`")
    ap.add_argument("--json", action="store_true", help="print the raw phases as JSON lines too")
    ap.add_argument(
        "--extra-readers",
        type=int,
        default=8,
        help="a last cross phase at the highest rate with this many more readers of the channel's stream "
        "(stand-ins for further nodes with members there; 0 = none)",
    )
    ap.add_argument(
        "--xread-keys", default="1,10,100,1000,10000", help="streams named in the XREAD microbenchmark (K values)"
    )
    a = ap.parse_args(argv)
    bench.setup_process()
    cpus = [bench.cpu_arg(c) for c in (a.node_cpus.split(",") * 2)[:2]]
    opts = bench.Options(a.python, shlex.split(a.trio_args), None, None, 0, node_cpus=(cpus[0], cpus[1]))
    print(f"# {bench.machine_info()}", file=sys.stderr)
    busy = bench.warn_if_busy()
    phases: list[Phase] = []
    clients: list[Client] = []
    try:
        cluster = bench.start_cluster(opts)
        node_b, redis = cluster.parts
        procs = Procs(cluster.pid, node_b.pid, redis.pid, redis.port)
        procs.measure_idle(2.0)

        s_a = Client("sendA", cluster.port)
        r_a = Client("recvA", cluster.port)
        r_b = Client("recvB", node_b.port)
        clients += [s_a, r_a, r_b]
        for c in (s_a, r_a):
            c.join("#loc")
        s_a.join("#x")
        r_b.join("#x")
        time.sleep(0.5)  # the joins applied everywhere

        rates = [float(r) for r in a.rates.split(",") if r.strip()]
        rate0 = rates[-1]
        phases.append(
            measured(procs, f"local {rate0:.0f}/s", lambda: paced_messages(s_a, r_a, "#loc", rate0, a.seconds))
        )
        for rate in rates:

            def cross(r: float = rate) -> int:
                return paced_messages(s_a, r_b, "#x", r, a.seconds)

            phases.append(measured(procs, f"cross {rate:.0f}/s", cross))
        if a.extra_readers > 0:
            readers = [StreamReader(redis.port, "trio-chat:ch:#x") for _ in range(a.extra_readers)]
            try:
                phases.append(
                    measured(
                        procs,
                        f"cross {rate0:.0f}/s +{a.extra_readers}r",
                        lambda: paced_messages(s_a, r_b, "#x", rate0, a.seconds),
                    )
                )
            finally:
                for reader in readers:
                    reader.close()
            got = sum(r.entries for r in readers)
            print(f"# the {a.extra_readers} extra readers read {got} entries", file=sys.stderr)
        nickers = [Client(f"nk{i}", cluster.port) for i in range(a.nick_clients)]
        clients += nickers
        time.sleep(0.5)
        per = max(1, a.nick_events // max(1, a.nick_clients))
        phases.append(measured(procs, "state (NICK)", lambda: nick_changes(nickers, per)))
        msg_size, msg_payload = last_entry_bytes(redis.port, "trio-chat:ch:#x")
        log_size, log_payload = last_entry_bytes(redis.port, "trio-chat:log")
        sizes = [int(k) for k in a.xread_keys.split(",") if k.strip()]
        xread_costs = xread_key_costs(redis.port, sizes) if sizes else {}
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for c in clients:
            c.close()
        bench.stop_all()

    if a.json:
        for p in phases:
            print(json.dumps(p.as_dict()))
    print(
        f"cluster costs, {bench.machine_info()}; machine {busy:.0%} busy before; idle CPU/s: "
        + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in procs.idle.items())
    )
    print()
    head = (
        f"{'phase':16} {'events':>7} {'ev/s':>7}  {'node A us/ev':>12} {'node B us/ev':>12} {'redis us/ev':>11}"
        "  redis inside: us/call"
    )
    print(head)
    print("-" * len(head))
    for p in phases:
        inside = ", ".join(
            f"{cmd} {c['calls']}x {c['usec_per_call']:.1f}"
            for cmd, c in sorted(p.redis_cmds.items(), key=lambda kv: -kv[1]["calls"])
            if cmd in ("xadd", "xread", "set", "hset", "hgetall", "exists", "xrevrange")
        )
        print(
            f"{p.name:16} {p.events:7d} {p.events / p.wall_s:7.0f}  {p.us_per_event('node A'):12.1f} "
            f"{p.us_per_event('node B'):12.1f} {p.us_per_event('redis'):11.1f}  {inside or '-'}"
        )
    by = {p.name: p for p in phases}
    local = next((p for p in phases if p.name.startswith("local")), None)
    print()
    for p in phases:
        if not p.name.startswith("cross"):
            continue
        xadd = p.redis_cmds.get("xadd", {})
        xread = p.redis_cmds.get("xread", {})
        # each entry of #x's stream is read by both nodes (each has a member in #x), and by the extra readers
        extra = int(p.name.rpartition("+")[2].rstrip("r")) if "+" in p.name else 0
        entries_read = (2 + extra) * p.events
        line = (
            f"{p.name}: node A {p.us_per_event('node A'):.1f} us per message sent to another node"
            + (f" (local baseline {local.us_per_event('node A'):.1f} incl. one local delivery)" if local else "")
            + f"; node B {p.us_per_event('node B'):.1f} us per message received from another node; "
            f"redis {p.us_per_event('redis'):.1f} us per message (process CPU) = "
            f"{xadd.get('calls', 0) / max(1, p.events):.2f} XADD + "
            f"{xread.get('calls', 0) / max(1, p.events):.2f} XREAD per message; "
            f"inside Redis {xadd.get('usec_per_call', 0):.1f} us/XADD, "
            f"{xread.get('usec', 0) / max(1, entries_read):.2f} us per XREAD'd entry "
            f"({entries_read / max(1, xread.get('calls', 1)):.1f} entries per XREAD)"
        )
        print(line)
    state = by.get("state (NICK)")
    if state:
        print(
            f"state: node A {state.us_per_event('node A'):.1f} us per change it originates and applies; node B "
            f"{state.us_per_event('node B'):.1f} us per change applied from the log; redis "
            f"{state.us_per_event('redis'):.1f} us per change"
        )
    print()
    print(
        f"entry sizes: a channel message (64-byte text) {msg_size} bytes in its stream; a NICK change {log_size} bytes"
    )
    if a.json:
        print(
            json.dumps(
                {
                    "channel_entry": msg_payload.decode(errors="replace"),
                    "log_entry": log_payload.decode(errors="replace"),
                }
            )
        )
    if xread_costs:
        print(
            "XREAD naming K streams (nothing new, non-blocking): "
            + "; ".join(
                f"K={k}: {v['usec_inside']:.1f} us inside Redis, {v['usec_round_trip']:.0f} us round trip"
                for k, v in xread_costs.items()
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
