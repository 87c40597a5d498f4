#!/usr/bin/env python3
"""Benchmark runner for trio-chat: trio-chat side by side with ngIRCd and InspIRCd.

    python benchmarks/run.py                      # W1..W5, every installed server, 3 repeats
    python benchmarks/run.py --quick -w W1,W2     # one repeat of W1 and W2
    python benchmarks/run.py --servers trio-chat --workloads W3

    python benchmarks/run.py -s trio-chat -w W1,W1tls  # W1 in plaintext and over TLS
    python benchmarks/run.py -s trio-chat -w W1 --trio-src base=/tmp/tc-base   # before/after
    python benchmarks/run.py --cluster              # W1, W3: one node beside two nodes over Redis

Builds the repo's load generator (benchmarks/loadgen/chatload.c -> benchmarks/bin/chatload), starts
each server on 127.0.0.1 pinned to CPU 0 (generator on CPU 1), runs the workloads A B A B (for every
repeat, every workload, every server in turn, each run against a freshly started server), prints one
table of medians plus ratios to the best peer, and saves the raw JSON lines under benchmarks/results/.
W1tls is W1 over TLS, against trio-chat only; `--trio-src NAME=DIR` adds another trio-chat source tree
as the server `trio-chat@NAME`.  The server `cluster` (`--cluster` = `-s trio-chat,cluster -w W1,W3`) is
two trio-chat nodes of one network over a redis-server started for the run, the clients split between them.
Every process it starts is stopped by PID on exit, Ctrl-C or failure.  Standard library only.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as _dt
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BIN = HERE / "bin"
RESULTS = HERE / "results"
PEERS_DIR = HERE / "peers"
SHARED_BENCH = REPO.parent / "shared" / "bench"
HOST = "127.0.0.1"  # loopback only, always

PEERS = ("ngircd", "inspircd")
ALL_SERVERS = ("trio-chat", *PEERS)
TRIO = "trio-chat"  # this checkout; `--trio-src NAME=DIR` adds "trio-chat@NAME" servers
CLUSTER = "cluster"  # two trio-chat nodes (this checkout) and a redis-server; not in the default list
REDIS_SERVER = "redis-server"


def is_trio(name: str) -> bool:
    return name == TRIO or name.startswith(TRIO + "@")


# Policy limits off, as for the peers (their configs turn throttles and per-IP limits off): flood
# control, the connection caps (defaults 4096 in all, 256 per address) -- every client is 127.0.0.1.
DEFAULT_TRIO_ARGS = "--host 127.0.0.1 --flood-limit 0 --max-clients 0 --max-per-ip 0 --log-level WARNING"

# ---------------------------------------------------------------------------------------------
# workloads (chatload and ircload take the same generator flags)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    name: str  # "W1", "W5/c1000", ...
    args: tuple[str, ...]
    metric: str  # "rate" (deliveries/s, higher is better), "latency" (p99), "memory" (KB/conn)
    clients: int
    about: str
    tls: bool = False  # generator --tls, server with a TLS listener only (trio-chat servers only)


W5_SIZES = (10, 100, 1000, 5000)


def w5_msgs(clients: int, senders: int, fixed: int | None) -> int:
    """Messages per sender for a W5 step: by default ~W1's 990k deliveries per step, so that the
    5,000-member step takes seconds, not minutes; `--w5-msgs 1000` gives W1's own 1,000 messages per sender."""
    if fixed:
        return fixed
    return max(10, min(10000, round(990_000 / (senders * (clients - 1)))))


W1_ARGS = ("-c", "100", "-s", "10", "-m", "1000")


def workloads(w5_fixed: int | None = None) -> dict[str, list[Workload]]:
    table: dict[str, list[Workload]] = {
        "W1": [
            Workload(
                "W1",
                W1_ARGS,
                "rate",
                100,
                "fan-out: 100 members, 10 senders x 1000 msgs, full speed",
            )
        ],
        "W1tls": [
            Workload(
                "W1tls",
                W1_ARGS,
                "rate",
                100,
                "W1 over TLS (trio-chat only: TLS listener, self-signed certificate, chatload --tls)",
                tls=True,
            )
        ],
        "W2": [
            Workload(
                "W2",
                ("-c", "1000", "-s", "4", "-m", "100"),
                "rate",
                1000,
                "big room: 1000 members, 4 senders x 100 msgs, full speed",
            )
        ],
        "W3": [
            Workload(
                "W3",
                ("-c", "100", "-s", "10", "-m", "2000", "-r", "2000"),
                "latency",
                100,
                "latency: 100 members, 20,000 msgs paced at 2,000 msgs/s",
            )
        ],
        "W4": [
            Workload(
                "W4",
                ("--idle", "5000", "-R", "300"),
                "memory",
                5000,
                "idle scale: 5000 members, 20 probes; RSS per connection",
            )
        ],
    }
    steps = []
    for c in W5_SIZES:
        s = min(10, c - 1)
        m = w5_msgs(c, s, w5_fixed)
        reg = ("-R", "300") if c >= 1000 else ()  # registering thousands takes minutes on a slow server
        steps.append(
            Workload(
                f"W5/c{c}",
                ("-c", str(c), "-s", str(s), "-m", str(m), *reg),
                "rate",
                c,
                f"growth: W1 with {c} members ({s} senders x {m} msgs)",
            )
        )
    table["W5"] = steps
    return table


# ---------------------------------------------------------------------------------------------
# process bookkeeping: everything we start is recorded and stopped by PID
# ---------------------------------------------------------------------------------------------

Record = dict[str, Any]
"""One run's record: the generator's JSON report and what the runner adds to it."""
Summary = dict[str, Any]
"""The medians of one (server, workload) pair's records."""

_children: dict[int, tuple[str, subprocess.Popen[Any]]] = {}
_tmpdirs: list[Path] = []


def _stop_pid(pid: int, grace: float = 3.0) -> None:
    """Stop one process we started (SIGTERM, then SIGKILL after `grace` s) and reap it."""
    entry = _children.pop(pid, None)
    if entry is None:
        return
    _what, p = entry
    if p.poll() is not None:
        return
    try:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    except ProcessLookupError:
        pass


def stop_all() -> None:
    for pid in list(_children):
        _stop_pid(pid)
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)
    _tmpdirs.clear()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def fd_limit(want: int) -> int:
    """Raise RLIMIT_NOFILE (inherited by the servers and generators we start); return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:  # only root may raise the hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = hard if hard == resource.RLIM_INFINITY or hard < want else want
    if new == resource.RLIM_INFINITY:
        new = want
    if soft < new:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    if cpu is None:
        return cmd
    if shutil.which("taskset"):
        return ["taskset", "-c", str(cpu), *cmd]
    return cmd  # no taskset: spawn() pins with sched_setaffinity instead


def spawn(cmd: list[str], what: str, cpu: int | None, **kw: Any) -> subprocess.Popen[Any]:
    p = subprocess.Popen(pinned(cmd, cpu), start_new_session=True, **kw)
    _children[p.pid] = (what, p)
    if cpu is not None and not shutil.which("taskset"):
        os.sched_setaffinity(p.pid, {cpu})
    return p


# ---------------------------------------------------------------------------------------------
# servers
# ---------------------------------------------------------------------------------------------


def listening(port: int) -> bool:
    """Is something listening on PORT on loopback or a wildcard address? (reads /proc, no connect)"""
    hexport = f"{port:04X}"
    for path, addrs in (("/proc/net/tcp", ("0100007F", "00000000")), ("/proc/net/tcp6", None)):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, state = parts[1], parts[3]
                    a, _, p = local.partition(":")
                    if p == hexport and state == "0A" and (addrs is None or a in addrs):
                        return True
        except FileNotFoundError:
            continue
    return False


def proc_rss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass
class Running:
    name: str
    pid: int
    port: int
    proc: subprocess.Popen[Any]
    workdir: Path
    notes: list[str] = field(default_factory=list)
    trio_args: list[str] | None = None
    parts: list[Running] = field(default_factory=list)
    """More processes that make up this server (a cluster's second node, its Redis), stopped with it."""
    gen_args: list[str] = field(default_factory=list)
    """Generator flags this server needs (a cluster: --host2, --cpu-pid)."""

    def alive(self) -> bool:
        return self.proc.poll() is None and all(p.alive() for p in self.parts)

    def stop(self) -> None:
        _stop_pid(self.pid)
        for part in self.parts:
            part.stop()

    def stderr_tail(self, n: int = 8) -> str:
        try:
            own = "\n".join((self.workdir / "stderr.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            own = ""
        return "\n".join([own, *(f"[{p.name}] {p.stderr_tail(n)}" for p in self.parts if not p.alive())]).strip()


class ServerError(RuntimeError):
    pass


def _wait_listen(run: Running, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not run.alive():
            raise ServerError(f"{run.name} exited at start (status {run.proc.returncode}):\n{run.stderr_tail()}")
        if listening(run.port):
            return
        time.sleep(0.05)
    run.stop()
    raise ServerError(f"{run.name} did not listen on {HOST}:{run.port} within {timeout:.0f}s:\n{run.stderr_tail()}")


def _workdir(name: str, port: int) -> Path:
    d = Path(tempfile.mkdtemp(prefix=f"trio-chat-bench-{name}-{port}-"))
    _tmpdirs.append(d)
    d.chmod(0o755)  # ngIRCd drops to nobody and must read its config and MOTD
    return d


def peer_dir(name: str) -> Path:
    for base in (PEERS_DIR, SHARED_BENCH / "peers"):
        if (base / name).is_dir():
            return base / name
    raise ServerError(f"no configuration for {name} in {PEERS_DIR}")


PEER_BINARIES = {"ngircd": "/usr/sbin/ngircd", "inspircd": "/usr/sbin/inspircd"}


def peer_installed(name: str) -> bool:
    return os.access(PEER_BINARIES[name], os.X_OK) or shutil.which(name) is not None


def start_peer(name: str, port: int, cpu: int | None) -> Running:
    """Same as peers/start-peer.sh, done here so the runner owns the PID."""
    src = peer_dir(name)
    run = _workdir(name, port)
    for f in src.iterdir():
        if f.suffix == ".tmpl":
            text = f.read_text().replace("@PORT@", str(port)).replace("@RUN@", str(run)).replace("@CONF@", str(run))
            (run / f.stem).write_text(text)
        else:
            shutil.copy(f, run / f.name)
        (run / (f.stem if f.suffix == ".tmpl" else f.name)).chmod(0o644)
    exe = PEER_BINARIES[name] if os.access(PEER_BINARIES[name], os.X_OK) else shutil.which(name)
    if exe is None:
        raise ServerError(f"{name} is not installed")
    if name == "ngircd":
        cmd = [exe, "--nodaemon", "--config", str(run / "ngircd.conf")]
    else:
        cmd = [exe, "--nofork", "--runasroot", f"--config={run / 'inspircd.conf'}"]
    with open(run / "stdout.log", "wb") as out, open(run / "stderr.log", "wb") as err:
        p = spawn(cmd, name, cpu, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    r = Running(name, p.pid, port, p, run)
    _wait_listen(r)
    return r


def make_tls_cert(workdir: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate and key (P-256, valid for a day) in `workdir`, for a TLS listener
    on loopback; chatload does not verify it."""
    openssl = shutil.which("openssl")
    if not openssl:
        raise ServerError("TLS workloads need the openssl command (apt-get install -y openssl)")
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    cmd = [
        openssl,
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-keyout",
        str(key),
        "-out",
        str(cert),
    ]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise ServerError("openssl req took more than 60 s") from None
    if p.returncode != 0 or not cert.exists() or not key.exists():
        raise ServerError(f"openssl req failed (status {p.returncode}): {p.stderr.strip()[-300:]}")
    return cert, key


# flags of `serve` whose values change from start to start: shown as these words in the notes
_SHOWN_AS = {
    "--port": "PORT",
    "--tls-port": "PORT",
    "--tls-cert": "CERT",
    "--tls-key": "KEY",
    "--db": "DB",
    "--redis-url": "URL",
}


def start_trio(
    port: int,
    cpu: int | None,
    python: str,
    extra: list[str],
    cwd: Path,
    *,
    name: str = TRIO,
    tls: bool = False,
    src: Path | None = None,
) -> Running:
    """Start `python -m trio_chat.cli serve --port P EXTRA` (with `tls`: `--tls-port P --tls-cert F
    --tls-key K --no-plaintext` in place of `--port P`, with a fresh self-signed certificate; with `src`:
    PYTHONPATH=src, run from src, so that tree's trio_chat is the one imported).  Arguments of EXTRA the
    CLI rejects ("unrecognized arguments: ...") are dropped with a note and the start is retried."""
    extra = list(extra)
    notes: list[str] = []
    want_db = True
    for _attempt in range(6):
        run = _workdir(name, port)
        if tls:
            cert, key = make_tls_cert(run)
            listen = ["--tls-port", str(port), "--tls-cert", str(cert), "--tls-key", str(key), "--no-plaintext"]
        else:
            listen = ["--port", str(port)]
        # Each start gets a fresh history database in its own work directory (not ./trio-chat.db, which would
        # grow from run to run); a tree whose CLI predates --db drops it with a note.
        db = ["--db", str(run / "chat.db")] if want_db and "--db" not in extra else []
        cmd = [python, "-m", "trio_chat.cli", "serve", *listen, *db, *extra]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if src is not None:
            env["PYTHONPATH"] = str(src)
            cwd = src  # `python -m` puts the working directory first on sys.path
        with open(run / "stdout.log", "wb") as out, open(run / "stderr.log", "wb") as err:
            p = spawn(cmd, name, cpu, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd, env=env)
        r = Running(name, p.pid, port, p, run, notes)
        try:
            _wait_listen(r, timeout=20.0)
            shown = [_SHOWN_AS.get(cmd[i - 1], c) if i > 0 else c for i, c in enumerate(cmd)]
            where = f"PYTHONPATH={src} (cwd {src}) " if src is not None else ""
            r.notes = [*notes, f"{name} command{' (TLS)' if tls else ''}: {where}{shlex.join(shown)}"]
            r.trio_args = extra
            return r
        except ServerError as e:
            r.stop()
            m = re.search(r"unrecognized arguments: (.*)", r.stderr_tail(20))
            if not m:
                raise ServerError(str(e)) from None
            bad = m.group(1).split()
            if db and "--db" in bad:
                want_db = False
                notes.append(f"{name} CLI has no --db (no history store): ran without it")
                continue
            kept, drop_next = [], False
            for i, a in enumerate(extra):
                if drop_next:
                    drop_next = False
                    if a in bad:
                        continue
                if a in bad or a.split("=", 1)[0] in bad:
                    drop_next = "=" not in a and i + 1 < len(extra) and not extra[i + 1].startswith("-")
                    continue
                kept.append(a)
            if kept == extra:
                raise ServerError(str(e)) from None
            notes.append(f"{name} CLI rejected {' '.join(bad)}: ran without it")
            print(f"  note: {name} serve rejected {' '.join(bad)}; retrying without it", file=sys.stderr)
            extra = kept
    raise ServerError(f"{name} would not start")


@dataclass
class Options:
    python: str
    trio_args: list[str]
    server_cpu: int | None
    gen_cpu: int | None
    port: int
    trio_srcs: dict[str, Path] = field(default_factory=dict)  # NAME -> source tree of "trio-chat@NAME"
    node_cpus: tuple[int | None, int | None] = (0, 1)  # the cluster's two nodes
    redis_cpu: int | None = None  # the cluster's redis-server
    cluster_gen_cpu: int | None = None  # the generator when it drives the cluster


def free_port() -> int:
    """A port nothing listens on now, chosen by the kernel (bound to port 0 and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def start_redis(cpu: int | None) -> Running:
    """A throwaway redis-server on a free port of loopback: no persistence, its files in its own run dir."""
    exe = shutil.which(REDIS_SERVER) or "/usr/bin/redis-server"
    if not os.access(exe, os.X_OK):
        raise ServerError("the cluster needs redis-server (apt-get install -y redis-server)")
    port = free_port()
    run = _workdir("redis", port)
    cmd = [exe, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no", "--dir", str(run)]
    cmd += ["--daemonize", "no", "--logfile", ""]
    with open(run / "stdout.log", "wb") as out, open(run / "stderr.log", "wb") as err:
        p = spawn(cmd, REDIS_SERVER, cpu, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    r = Running(REDIS_SERVER, p.pid, port, p, run)
    _wait_listen(r)
    return r


def start_cluster(opts: Options) -> Running:
    """Two trio-chat nodes of one network (`--redis-url`, their own `--server-name`, `--db` and port) on a
    redis-server of their own.  The first node is the returned server (its PID is the generator's `-S`); the
    second and Redis are its `parts`; the generator sends every odd-numbered client to the second node
    (`--host2`) and reads the CPU time of all three (`--cpu-pid`)."""
    redis = start_redis(opts.redis_cpu)
    nodes: list[Running] = []
    try:
        for i, cpu in enumerate(opts.node_cpus, start=1):
            args = [*opts.trio_args, "--redis-url", f"redis://{HOST}:{redis.port}/0", "--server-name", f"node{i}.bench"]
            nodes.append(start_trio(free_port(), cpu, opts.python, args, REPO, name=f"{CLUSTER}-node{i}"))
    except BaseException:
        for n in nodes:
            n.stop()
        redis.stop()
        raise
    first, second = nodes
    first.name = CLUSTER
    first.parts = [second, redis]
    first.notes = [
        *(n.replace(f"{CLUSTER}-node1 command", f"{CLUSTER} node command") for n in first.notes),
        f"{CLUSTER} Redis: redis-server --port PORT --bind {HOST} --save '' --appendonly no (pinned to "
        f"{'CPU ' + str(opts.redis_cpu) if opts.redis_cpu is not None else 'no CPU'}); nodes pinned to "
        f"{', '.join('CPU ' + str(c) if c is not None else 'none' for c in opts.node_cpus)}; clients alternate "
        "between the two nodes (chatload --host2)",
    ]
    first.gen_args = [
        "--host2",
        f"{HOST}:{second.port}",
        *(x for pid in (first.pid, second.pid, redis.pid) for x in ("--cpu-pid", str(pid))),
    ]
    return first


def start_server(name: str, opts: Options, tls: bool = False) -> Running:
    """Start `name` on a fresh port; `tls`: a TLS listener only (trio-chat servers only)."""
    if name == CLUSTER:
        if tls:
            raise ServerError("the cluster runs in plaintext only")
        return start_cluster(opts)
    opts.port += 1  # a fresh port per start: no TIME_WAIT or stale-listener surprises
    if is_trio(name):
        # Arguments the CLI rejects are dropped for this start only: the CLI may learn them later.
        src = opts.trio_srcs[name.partition("@")[2]] if name != TRIO else None
        return start_trio(opts.port, opts.server_cpu, opts.python, opts.trio_args, REPO, name=name, tls=tls, src=src)
    if tls:
        raise ServerError(f"{name}: the runner starts only trio-chat with TLS")
    return start_peer(name, opts.port, opts.server_cpu)


def server_batch(name: str) -> str:
    # Clients connecting/registering at once.  Only registration time depends on it.
    # ngIRCd listens with a backlog of 10: more clients connecting at once are dropped by the
    # kernel and retried after 1 s.  InspIRCd 3 completes registrations in a once-a-second
    # timer, so 50 at a time means 50 clients/s (W4 would register for 100 s); its backlog is 4096.
    return {"ngircd": "10", "inspircd": "500"}.get(name, "50")


# ---------------------------------------------------------------------------------------------
# generators
# ---------------------------------------------------------------------------------------------


def build_chatload(cc: str = "gcc") -> Path:
    src = HERE / "loadgen" / "chatload.c"
    out = BIN / "chatload"
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        BIN.mkdir(exist_ok=True)
        cmd = [cc, "-O2", "-g", "-Wall", "-Wextra", "-std=gnu11", "-o", str(out), str(src), "-lssl", "-lcrypto"]
        print(f"building chatload: {shlex.join(cmd)}", file=sys.stderr)
        subprocess.run(cmd, check=True)
    return out


def build_ircload(cc: str = "gcc", src_dir: Path = SHARED_BENCH) -> Path | None:
    """Build ../shared/bench/ircload.c (when that checkout exists) into benchmarks/bin/ircload."""
    src = src_dir / "ircload.c"
    if not src.exists():
        return None
    out = BIN / "ircload"
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        BIN.mkdir(exist_ok=True)
        cmd = [cc, "-O2", "-g", "-Wall", "-Wextra", "-std=gnu11", "-o", str(out), str(src)]
        print(f"building ircload: {shlex.join(cmd)}", file=sys.stderr)
        subprocess.run(cmd, check=True)
    return out


RespValue = bytes | int | str | list["RespValue"] | None


class Resp:
    """A minimal Redis client (RESP2 over one socket), enough for INFO, XRANGE and microbenchmarks."""

    def __init__(self, port: int, host: str = HOST) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.buf = b""

    def __enter__(self) -> Resp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, *args: str | bytes) -> RespValue:
        parts = [a.encode() if isinstance(a, str) else a for a in args]
        self.sock.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in parts))
        return self._value()

    def _more(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise OSError("redis closed the connection")
        self.buf += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._more()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _value(self) -> RespValue:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise OSError(f"redis: {rest.decode(errors='replace')}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._more()
            value, self.buf = self.buf[:n], self.buf[n + 2 :]
            return value
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._value() for _ in range(n)]
        raise OSError(f"unexpected RESP {line[:40]!r}")

    def close(self) -> None:
        self.sock.close()


def redis_info(port: int, section: str) -> dict[str, str]:
    """`INFO section` of the redis-server on HOST:port, as {field: value}."""
    with Resp(port) as r:
        body = r.call("INFO", section)
    if not isinstance(body, bytes):
        raise OSError(f"unexpected INFO reply {body!r:.80}")
    info: dict[str, str] = {}
    for line in body.decode().splitlines():
        key, sep, value = line.partition(":")
        if sep and not key.startswith("#"):
            info[key] = value
    return info


def stream_entries(port: int, key: str, limit: int = 20_000) -> list[tuple[int, bytes]]:
    """Up to `limit` entries of stream `key`, oldest first: (the ms part of the entry id, its `e` field, else its
    first value)."""
    out: list[tuple[int, bytes]] = []
    start = "-"
    with Resp(port) as r:
        while len(out) < limit:
            reply = r.call("XRANGE", key, start, "+", "COUNT", "2000")
            if not isinstance(reply, list) or not reply:
                break
            for entry in reply:
                if not isinstance(entry, list) or len(entry) != 2:
                    continue
                entry_id, fields = entry
                if not isinstance(entry_id, bytes) or not isinstance(fields, list) or len(fields) < 2:
                    continue
                names = fields[0::2]
                value = fields[names.index(b"e") * 2 + 1] if b"e" in names else fields[1]
                out.append((int(entry_id.split(b"-")[0]), value if isinstance(value, bytes) else b""))
                start = "(" + entry_id.decode()
    return out


def append_delays(port: int, key: str) -> dict[str, float] | None:
    """How long a channel message took from the node that made it to Redis: the ms part of its stream entry id
    (Redis's clock at XADD) minus the event's `ms` (the node's clock when it made the message; one machine,
    one clock).  Milliseconds, over the entries still in the (capped) stream."""
    delays = []
    for at, value in stream_entries(port, key):
        try:
            made = json.loads(value).get("ms")
        except ValueError:
            continue
        if isinstance(made, int):
            delays.append(at - made)
    if not delays:
        return None
    delays.sort()
    return {
        "p50": delays[len(delays) // 2],
        "p99": delays[min(len(delays) - 1, int(len(delays) * 0.99))],
        "max": delays[-1],
        "n": len(delays),
    }


def channel_of(gen_cmd: list[str]) -> str:
    """The channel a generator command uses (chatload's -C, default #bench)."""
    for i, arg in enumerate(gen_cmd[:-1]):
        if arg in ("-C", "--channel"):
            return gen_cmd[i + 1]
    return "#bench"


def redis_calls(port: int) -> dict[str, tuple[int, float]]:
    """Per command: (calls, CPU usec inside Redis) from `INFO commandstats`."""
    out: dict[str, tuple[int, float]] = {}
    for key, value in redis_info(port, "commandstats").items():
        fields = dict(kv.split("=", 1) for kv in value.split(",") if "=" in kv)
        out[key.removeprefix("cmdstat_")] = (int(fields.get("calls", 0)), float(fields.get("usec", 0)))
    return out


def cluster_fields(rec: Record, before: dict[str, tuple[int, float]], after: dict[str, tuple[int, float]]) -> None:
    """A cluster run: CPU of the nodes and Redis over the measured phase (chatload --cpu-pid), Redis commands
    over the whole run (INFO commandstats).  `server_cpu_run_s` becomes both nodes' CPU, so that `srv us/deliv`
    is what the network's trio-chat processes spent per delivery."""
    cpu = rec.get("cpu_pids_run_s") or []
    if len(cpu) == 3:
        rec["node1_cpu_run_s"], rec["node2_cpu_run_s"], rec["redis_cpu_run_s"] = cpu
        rec["server_cpu_run_s"] = cpu[0] + cpu[1]
        run_s = rec.get("run_s") or 0
        if run_s:
            rec["server_cpu_run_pct"] = 100.0 * (cpu[0] + cpu[1]) / run_s
    calls: dict[str, dict[str, float]] = {}
    for cmd, (n, usec) in after.items():
        n0, usec0 = before.get(cmd, (0, 0.0))
        if n > n0:
            calls[cmd] = {"calls": n - n0, "usec": usec - usec0}
    rec["redis_commands"] = calls


def run_generator(gen: Path, wl: Workload, srv: Running, opts: Options, extra: list[str], *, timeout: float) -> Record:
    redis = next((p for p in srv.parts if p.name == REDIS_SERVER), None)
    before: dict[str, tuple[int, float]] = {}
    if redis is not None:
        with contextlib.suppress(OSError, ValueError):
            before = redis_calls(redis.port)
    cmd = [
        str(gen),
        "-H",
        HOST,
        "-p",
        str(srv.port),
        "-l",
        srv.name,
        "-S",
        str(srv.pid),
        "-B",
        server_batch(srv.name),
        "-t",
        str(timeout),
        *wl.args,
        *(["--tls"] if wl.tls else []),
        *srv.gen_args,
        *extra,
    ]
    bound = timeout + 300 + 30  # measured phase + registration bound + slack
    cpu = opts.cluster_gen_cpu if srv.name == CLUSTER else opts.gen_cpu
    p = spawn(cmd, gen.name, cpu, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=bound)
    finally:
        _stop_pid(p.pid, grace=5.0)
    rec: Record
    lines = [ln for ln in (out or "").splitlines() if ln.startswith("{")]
    if lines:
        rec = json.loads(lines[-1])
    else:
        rec = {"tool": gen.name, "status": "no_report", "first_error": (err or "").strip()[-300:]}
    rec["runner_cmd"] = shlex.join(cmd)
    rec["runner_exit"] = p.returncode
    if redis is not None:
        after: dict[str, tuple[int, float]] = {}
        with contextlib.suppress(OSError, ValueError):
            after = redis_calls(redis.port)
        cluster_fields(rec, before, after)
        with contextlib.suppress(OSError, ValueError):
            rec["append_delay_ms"] = append_delays(redis.port, "trio-chat:ch:" + channel_of(cmd).lower())
    if err and err.strip():
        rec["runner_stderr"] = err.strip()[-500:]
    # RSS once the clients are gone: does the server give memory back?
    time.sleep(1.0)
    rec["server_rss_after_leave_kb"] = proc_rss_kb(srv.pid)
    rec["server_alive_after"] = srv.alive()
    with contextlib.suppress(OSError), open("/proc/loadavg") as f:
        rec["runner_loadavg"] = f.read().split()[:3]
    return rec


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------


def median(values: Iterable[float | None]) -> float | None:
    present = [x for x in values if x is not None]
    return statistics.median(present) if present else None


def summarise(records: list[Record]) -> Summary:
    ok = [r for r in records if r.get("status") == "complete" and r.get("joined") == r.get("clients")]
    use = ok or records
    lat = [r.get("lat_us") or {} for r in use]
    return {
        "runs": len(records),
        "complete": len(ok),
        "rate": median([r.get("deliveries_per_s") for r in use if r.get("mode") != "idle"]),
        "p50": median([x.get("p50") for x in lat]),
        "p99": median([x.get("p99") for x in lat]),
        "kbconn": median([r.get("server_rss_per_conn_kb") for r in use]),
        "cpu": median([r.get("server_cpu_run_pct") for r in use]),
        # server CPU per delivery: barely moved by other load on the machine, unlike deliveries/s
        "us_per": median(
            [
                r["server_cpu_run_s"] * 1e6 / r["received"]
                for r in use
                if r.get("mode") != "idle" and r.get("received") and r.get("server_cpu_run_s")
            ]
        ),
        "gen_busy": median([r.get("gen_loop_busy_pct") for r in use]),
        # a cluster (chatload --host2): deliveries between the nodes and within one, CPU of each process
        "xp50": median([(r.get("lat_cross_us") or {}).get("p50") for r in use]),
        "xp99": median([(r.get("lat_cross_us") or {}).get("p99") for r in use]),
        "sp50": median([(r.get("lat_same_us") or {}).get("p50") for r in use]),
        "sp99": median([(r.get("lat_same_us") or {}).get("p99") for r in use]),
        **{
            f"{k}_pct": median(
                [
                    100.0 * r[f"{k}_cpu_run_s"] / r["run_s"]
                    for r in use
                    if r.get(f"{k}_cpu_run_s") is not None and r.get("run_s")
                ]
            )
            for k in ("node1", "node2", "redis")
        },
        "redis_us_per": median(
            [
                r["redis_cpu_run_s"] * 1e6 / r["received"]
                for r in use
                if r.get("received") and r.get("redis_cpu_run_s") is not None
            ]
        ),
        "redis_us_per_msg": median(
            [
                r["redis_cpu_run_s"] * 1e6 / r["sent"]
                for r in use
                if r.get("sent") and r.get("redis_cpu_run_s") is not None
            ]
        ),
        "xadd_per_msg": median(
            [
                ((r.get("redis_commands") or {}).get("xadd") or {}).get("calls", 0) / r["sent"]
                for r in use
                if r.get("sent") and "redis_commands" in r
            ]
        ),
        "xread_per_msg": median(
            [
                ((r.get("redis_commands") or {}).get("xread") or {}).get("calls", 0) / r["sent"]
                for r in use
                if r.get("sent") and "redis_commands" in r
            ]
        ),
        "append_p50": median([(r.get("append_delay_ms") or {}).get("p50") for r in use]),
        "append_p99": median([(r.get("append_delay_ms") or {}).get("p99") for r in use]),
        "xadd_usec": median(
            [
                c["xadd"]["usec"] / c["xadd"]["calls"]
                for c in (r.get("redis_commands") or {} for r in use)
                if (c.get("xadd") or {}).get("calls")
            ]
        ),
        "probe_all": median([(r.get("probe_fanout_complete_us") or {}).get("p50") for r in use]),
        "lost": sum(max(0, r.get("lost") or 0) for r in records),
        "dups": sum(r.get("duplicates") or 0 for r in records),
        "ooo": sum(r.get("out_of_order") or 0 for r in records),
        "statuses": sorted({r.get("status", "?") for r in records} - {"complete"})
        + sorted(
            {
                f"joined {r.get('joined')}/{r.get('clients')}"
                for r in records
                if r.get("joined") is not None and r.get("joined") != r.get("clients")
            }
        ),
    }


def fmt_rate(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v / 1e6:.2f} M/s" if v >= 1e6 else f"{v / 1e3:.0f} k/s"


def fmt_ms(us: float | None) -> str:
    return "-" if us is None else f"{us / 1000:.2f}"


def fmt_num(v: float | None, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def main_metric(w: str) -> str:
    """The summary key a workload is judged by: p99 for W3, KB/conn for W4, deliveries/s otherwise."""
    return {"W3": "p99", "W4": "kbconn"}.get(w, "rate")


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "-"


def tls_lines(summary: dict[tuple[str, str], Summary], servers: list[str], wl_names: list[str]) -> list[str]:
    """W1tls over W1 for every server that ran both: what TLS costs."""
    if "W1" not in wl_names or "W1tls" not in wl_names:
        return []
    lines = []
    for s in servers:
        plain, tls = summary.get((s, "W1")), summary.get((s, "W1tls"))
        if plain and tls:
            lines.append(
                f"  {s:{max(map(len, servers))}}  deliveries/s {_ratio(tls['rate'], plain['rate'])}  "
                f"srv us/deliv {_ratio(tls['us_per'], plain['us_per'])}"
            )
    if not lines:
        return []
    return ["", "TLS / plaintext (W1tls over W1): <1 deliveries/s and >1 us/deliv = what TLS costs", *lines]


def before_after_lines(summary: dict[tuple[str, str], Summary], servers: list[str], wl_names: list[str]) -> list[str]:
    """With `--trio-src`: the first trio-chat server in the list over each other one, per workload."""
    trios = [s for s in servers if is_trio(s)]
    if len(trios) < 2:
        return []
    subject, others = trios[0], trios[1:]
    labels = {"rate": "deliveries/s", "p99": "p99", "kbconn": "KB/conn"}
    lines = [
        "",
        f"{subject} over the other trio-chat trees: >1 is better for deliveries/s, <1 is better for "
        "us/deliv, p99 and KB/conn",
    ]
    for w in wl_names:
        a = summary.get((subject, w))
        if not a:
            continue
        metric = main_metric(w)
        for o in others:
            b = summary.get((o, w))
            if not b:
                continue
            text = f"{labels[metric]} {_ratio(a[metric], b[metric])}"
            if metric != "kbconn":
                text += f", srv us/deliv {_ratio(a['us_per'], b['us_per'])}"
            lines.append(f"  {w:9} / {o}: {text}")
    return lines if len(lines) > 2 else []


CROSS_P99_TARGET_US = 10_000  # target: cross-node p99 under 10 ms at 2,000 msgs/s (W3)


def cluster_lines(summary: dict[tuple[str, str], Summary], servers: list[str], wl_names: list[str]) -> list[str]:
    """The cluster beside one node: deliveries/s ratio, latency between the nodes and within one, the CPU of
    each process, what Redis did per message."""
    if CLUSTER not in servers:
        return []
    lines = [
        "",
        f"{CLUSTER}: two nodes + redis-server, clients alternating between the nodes; cross = sender and receiver "
        "on different nodes; CPU % of one core over the measured phase",
    ]
    for w in wl_names:
        c = summary.get((CLUSTER, w))
        if not c:
            continue
        one = summary.get((TRIO, w)) or {}
        parts = [f"  {w:9} deliveries/s {fmt_rate(c['rate'])} = {_ratio(c['rate'], one.get('rate'))} one node"]
        parts.append(
            f"cross p50/p99 {fmt_ms(c['xp50'])}/{fmt_ms(c['xp99'])} ms, same-node {fmt_ms(c['sp50'])}/"
            f"{fmt_ms(c['sp99'])} ms (one node {fmt_ms(one.get('p50'))}/{fmt_ms(one.get('p99'))})"
        )
        lines.append(";  ".join(parts))
        lines.append(
            f"  {'':9} CPU node1 {fmt_num(c['node1_pct'], '.0f')}%, node2 {fmt_num(c['node2_pct'], '.0f')}%, "
            f"redis {fmt_num(c['redis_pct'], '.0f')}%; nodes {fmt_num(c['us_per'], '.2f')} us/deliv "
            f"(one node {fmt_num(one.get('us_per'), '.2f')}), redis {fmt_num(c['redis_us_per'], '.3f')} us/deliv = "
            f"{fmt_num(c['redis_us_per_msg'], '.1f')} us/msg; XADD/msg {fmt_num(c['xadd_per_msg'], '.2f')}, "
            f"XREAD/msg {fmt_num(c['xread_per_msg'], '.2f')}, {fmt_num(c['xadd_usec'], '.2f')} us/XADD inside Redis"
        )
        lines.append(
            f"  {'':9} a message from its node to Redis (stream entry id - its time): p50/p99 "
            f"{fmt_num(c['append_p50'], '.0f')}/{fmt_num(c['append_p99'], '.0f')} ms; the rest of the cross-node "
            "latency is Redis to the other node and that node's delivery"
        )
        if w == "W3" and c["xp99"] is not None:
            met = "met" if c["xp99"] < CROSS_P99_TARGET_US else "NOT met"
            lines.append(f"  {'':9} target cross-node p99 < {CROSS_P99_TARGET_US / 1000:.0f} ms at 2,000 msgs/s: {met}")
    return lines if len(lines) > 2 else []


def render_table(summary: dict[tuple[str, str], Summary], servers: list[str], wl_names: list[str]) -> str:
    head = [
        "workload",
        "server",
        "deliveries/s",
        "p50 ms",
        "p99 ms",
        "reach-all ms",
        "KB/conn",
        "srv CPU%",
        "srv us/deliv",
        "gen busy%",
        "lost/dup/ooo",
        "runs",
    ]
    rows = []
    for w in wl_names:
        for s in servers:
            x = summary.get((s, w))
            if not x:
                continue
            bad = f" ({','.join(x['statuses'])})" if x["statuses"] else ""
            rows.append(
                [
                    w,
                    s,
                    fmt_rate(x["rate"]),
                    fmt_ms(x["p50"]),
                    fmt_ms(x["p99"]),
                    fmt_ms(x["probe_all"]),
                    fmt_num(x["kbconn"], ".2f"),
                    fmt_num(x["cpu"], ".0f"),
                    fmt_num(x["us_per"], ".2f"),
                    fmt_num(x["gen_busy"], ".0f"),
                    f"{x['lost']}/{x['dups']}/{x['ooo']}",
                    f"{x['complete']}/{x['runs']}{bad}",
                ]
            )
    widths = [max(len(str(r[i])) for r in [*rows, head]) for i in range(len(head))]

    def line(r: list[Any]) -> str:
        return "  ".join(str(c).rjust(widths[i]) if i >= 2 else str(c).ljust(widths[i]) for i, c in enumerate(r))

    out = [line(head), line(["-" * w for w in widths])]
    prev = None
    for r in rows:
        if prev is not None and r[0] != prev:
            out.append("")
        out.append(line(r))
        prev = r[0]
    out += tls_lines(summary, servers, wl_names)
    out += before_after_lines(summary, servers, wl_names)
    out += cluster_lines(summary, servers, wl_names)
    # ratios to the best peer
    peers = [s for s in servers if s in PEERS]
    subjects = [s for s in servers if s not in PEERS] or peers
    if peers:
        out.append("")
        out.append(
            "ratios to the best peer (" + "/".join(peers) + "): >1 is better for deliveries/s, "
            "<1 is better for p99 and KB/conn"
        )
        for w in wl_names:
            metric = main_metric(w)
            found = {p: (summary.get((p, w)) or {}).get(metric) for p in peers}
            vals: dict[str, float] = {p: v for p, v in found.items() if v}
            if not vals:
                continue
            best = (max if metric == "rate" else min)(vals, key=lambda p: vals[p])
            parts = []
            for s in subjects:
                v = (summary.get((s, w)) or {}).get(metric)
                if v is None or (s == best):
                    continue
                parts.append(f"{s} {v / vals[best]:.2f}x")
            label = {"rate": "deliveries/s", "p99": "p99", "kbconn": "KB/conn"}[metric]
            out.append(f"  {w:9} {label:12} best peer {best}: {', '.join(parts) if parts else '-'}")
        # W5 flatness: rate at the largest step vs c100
        for s in servers:
            a = (summary.get((s, "W5/c100")) or {}).get("rate")
            b = (summary.get((s, f"W5/c{W5_SIZES[-1]}")) or {}).get("rate")
            if a and b:
                out.append(f"  W5 growth {s}: rate at c{W5_SIZES[-1]} / c100 = {b / a:.2f}")
    return "\n".join(out)


def machine_info() -> str:
    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{platform.node()}: {cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def cpu_busy(seconds: float = 1.0) -> float:
    """Share (0..1) of all CPUs busy over `seconds`, from /proc/stat: is anything else running?"""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v), idle

    try:
        t0, i0 = sample()
        time.sleep(seconds)
        t1, i1 = sample()
    except OSError:
        return 0.0
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


def warn_if_busy() -> float:
    busy = cpu_busy()
    if busy > 0.10:
        print(
            f"warning: the machine is {busy:.0%} busy before the run (other processes): numbers will be "
            "noisy; `top` shows who",
            file=sys.stderr,
        )
    return busy


def default_python() -> str:
    for cand in (REPO / ".venv" / "bin" / "python",):
        if cand.exists():
            return str(cand)
    return sys.executable


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------


def websocket_run(python: str, repeats: int) -> str:
    """W1's pattern (100 clients, 10 senders) over WebSocket and over TCP, alternating, from one Python
    generator that speaks both (``wsload.py``): its table, with the server's CPU per delivery on each."""
    print("# WebSocket fan-out: benchmarks/wsload.py", file=sys.stderr)
    done = subprocess.run(
        [python, str(HERE / "wsload.py"), "-n", str(repeats)], capture_output=True, text=True, check=False
    )
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        return f"WebSocket fan-out (wsload.py) failed: exit {done.returncode}\n{done.stdout[-1000:]}"
    table = done.stdout[done.stdout.find("W1 pattern") :] if "W1 pattern" in done.stdout else done.stdout
    return "WebSocket fan-out (benchmarks/wsload.py; its own Python generator for both transports)\n" + table


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "-w",
        "--workloads",
        default=None,
        help="comma list of W1..W5 (W5 = all its steps), single steps like W5/c1000, or W1tls (W1 over TLS, "
        "trio-chat only; not in the default list); default W1,W2,W3,W4,W5, or W1,W3 with --cluster",
    )
    ap.add_argument(
        "-s",
        "--servers",
        default=None,
        help=f"comma list of trio-chat,ngircd,inspircd (peers not installed are skipped) or {CLUSTER} (two "
        f"trio-chat nodes over a redis-server); default all but {CLUSTER}, trio-chat,{CLUSTER} with --cluster",
    )
    ap.add_argument(
        "--cluster",
        action="store_true",
        help=f"one node beside two nodes over Redis: -s trio-chat,{CLUSTER} -w W1,W3 unless -s/-w say otherwise",
    )
    ap.add_argument(
        "--node-cpus", default="0,1", help="CPUs of the cluster's two nodes (default 0,1; none = no pinning)"
    )
    ap.add_argument("--redis-cpu", default="none", help="CPU of the cluster's redis-server (default none)")
    ap.add_argument(
        "--cluster-gen-cpu", default="none", help="CPU of the generator when it drives the cluster (default none)"
    )
    ap.add_argument("-n", "--repeats", type=int, default=3, help="runs per server x workload (default 3)")
    ap.add_argument("--quick", action="store_true", help="one repeat (same as -n 1)")
    ap.add_argument(
        "--websocket",
        action="store_true",
        help="then W1's pattern over WebSocket beside TCP, in the same sitting (benchmarks/wsload.py)",
    )
    ap.add_argument(
        "--generator",
        default="chatload",
        choices=("chatload", "ircload"),
        help="load generator (ircload needs ../shared/bench/ircload.c)",
    )
    ap.add_argument("--gen-args", default="", help="extra generator flags, e.g. '--drain 3'")
    ap.add_argument("--timeout", type=float, default=60, help="bound on one measured phase, s (default 60)")
    ap.add_argument("--python", default=default_python(), help="interpreter for trio-chat (default: .venv)")
    ap.add_argument(
        "--trio-args",
        default=DEFAULT_TRIO_ARGS,
        help=f"extra args for `trio_chat.cli serve` (default: {DEFAULT_TRIO_ARGS!r}); arguments "
        "the CLI does not know are dropped with a note",
    )
    ap.add_argument("--server-cpu", default="0", help="CPU for the server ('none' = no pinning)")
    ap.add_argument("--gen-cpu", default="1", help="CPU for the generator ('none' = no pinning)")
    ap.add_argument("--port", type=int, default=16700, help="first port to use (each start takes the next)")
    ap.add_argument(
        "--w5-msgs",
        type=int,
        default=None,
        help="messages per sender in every W5 step (default: ~990k deliveries per step)",
    )
    ap.add_argument(
        "--trio-src",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also run the trio-chat source tree DIR (a checkout, e.g. a git worktree) as the server "
        "'trio-chat@NAME': started with PYTHONPATH=DIR from DIR, interleaved with the others (repeatable)",
    )
    ap.add_argument("--cc", default=os.environ.get("CC", "gcc"), help="C compiler (default gcc)")
    ap.add_argument("--results", default=str(RESULTS), help="where to save raw JSON lines")
    return ap.parse_args(argv)


def select_workloads(spec: str, w5_fixed: int | None) -> list[Workload]:
    table = workloads(w5_fixed)
    steps = {w.name: w for ws in table.values() for w in ws}
    groups = {k.upper(): v for k, v in table.items()}
    singles = {k.upper(): w for k, w in steps.items()}
    chosen: list[Workload] = []
    for item in [x.strip() for x in spec.split(",") if x.strip()]:
        key = item.upper()
        if key in groups:
            chosen += groups[key]
        elif key in singles:
            chosen.append(singles[key])
        else:
            raise SystemExit(f"unknown workload {item!r}: choose from {', '.join(list(table) + list(steps))}")
    return chosen


def cpu_arg(v: str) -> int | None:
    return None if v.lower() in ("none", "-", "") else int(v)


def parse_trio_srcs(items: list[str]) -> dict[str, Path]:
    """`--trio-src NAME=DIR` values -> {NAME: DIR}; DIR must hold a trio_chat package."""
    srcs: dict[str, Path] = {}
    for item in items:
        name, sep, d = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z0-9._-]+", name) or not d:
            raise SystemExit(f"--trio-src {item!r}: expected NAME=DIR, NAME of letters, digits, '.', '_', '-'")
        if name.lower() in {n.lower() for n in srcs}:
            raise SystemExit(f"--trio-src: the name {name!r} is given twice")
        path = Path(d).expanduser().resolve()
        if not (path / "trio_chat" / "cli.py").is_file():
            raise SystemExit(f"--trio-src {item!r}: {path} has no trio_chat/cli.py (a trio-chat checkout please)")
        srcs[name] = path
    return srcs


def check_trio_src(python: str, name: str, src: Path) -> None:
    """Make sure `python` imports trio_chat from `src` when started as the runner starts it (an editable
    install of another tree must not win)."""
    probe = "import trio_chat, sys; sys.stdout.write(trio_chat.__file__)"
    env = dict(os.environ, PYTHONPATH=str(src))
    try:
        p = subprocess.run(
            [python, "-c", probe], cwd=src, env=env, capture_output=True, text=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired:
        raise SystemExit(f"{TRIO}@{name}: importing trio_chat took more than 60 s") from None
    got = Path(p.stdout.strip()).resolve() if p.returncode == 0 and p.stdout.strip() else None
    if got is None or not got.is_relative_to(src):
        raise SystemExit(
            f"{TRIO}@{name}: {python} imports trio_chat from {got or '?'}, not from {src}: "
            + (p.stderr.strip()[-300:] or "check the tree")
        )


def select_servers(spec: str, trio_srcs: dict[str, Path] | None = None) -> list[str]:
    """Servers named in `spec`, plus a `trio-chat@NAME` per `--trio-src` (after the last trio-chat server
    named, or first), unless `spec` places it itself."""
    extra = [f"{TRIO}@{n}" for n in trio_srcs or {}]
    known = {s.lower(): s for s in (*ALL_SERVERS, CLUSTER, *extra)}
    servers = []
    for given in [x.strip().lower() for x in spec.split(",") if x.strip()]:
        if given not in known:
            raise SystemExit(
                f"unknown server {given!r}: choose from {', '.join(known.values())} (--trio-src NAME=DIR adds more)"
            )
        s = known[given]
        if s in PEERS and not peer_installed(s):
            print(f"skipping {s}: not installed (apt-get install -y {s})", file=sys.stderr)
            continue
        servers.append(s)
    missing = [s for s in extra if s not in servers]
    if missing:
        trio_at = [i for i, s in enumerate(servers) if is_trio(s)]
        at = trio_at[-1] + 1 if trio_at else 0
        servers[at:at] = missing
    if not servers:
        raise SystemExit("no server to run")
    return servers


def setup_process() -> None:
    atexit.register(stop_all)
    # SIGINT too: a shell starts background jobs with SIGINT ignored, and Python keeps that.
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.workloads is None:
        a.workloads = "W1,W3" if a.cluster else "W1,W2,W3,W4,W5"
    if a.servers is None:
        a.servers = f"{TRIO},{CLUSTER}" if a.cluster else ",".join(ALL_SERVERS)
    setup_process()
    repeats = 1 if a.quick else max(1, a.repeats)
    wls = select_workloads(a.workloads, a.w5_msgs)
    trio_srcs = parse_trio_srcs(a.trio_src)
    for name, src in trio_srcs.items():
        check_trio_src(a.python, name, src)
    servers = select_servers(a.servers, trio_srcs)
    notes: set[str] = set()
    if any(w.tls for w in wls):
        if a.generator != "chatload":
            raise SystemExit("W1tls needs --generator chatload (ircload has no TLS)")
        if not any(is_trio(s) for s in servers):
            raise SystemExit("W1tls runs against trio-chat servers only: add trio-chat to --servers")
        skipped = [s for s in servers if not is_trio(s)]
        if skipped:
            notes.add(f"W1tls runs against trio-chat only: skipped for {', '.join(skipped)}")
    need_fds = max(w.clients for w in wls) + 200
    got = fd_limit(need_fds)
    if got < need_fds:
        print(f"warning: open-file limit {got} < {need_fds} needed by the largest workload", file=sys.stderr)
    gen = build_chatload(a.cc) if a.generator == "chatload" else build_ircload(a.cc)
    if gen is None:
        raise SystemExit(f"ircload source not found in {SHARED_BENCH}")
    opts = Options(a.python, shlex.split(a.trio_args), cpu_arg(a.server_cpu), cpu_arg(a.gen_cpu), a.port, trio_srcs)
    node_cpus = [cpu_arg(c) for c in (a.node_cpus.split(",") * 2)[:2]]
    opts.node_cpus = (node_cpus[0], node_cpus[1])
    opts.redis_cpu, opts.cluster_gen_cpu = cpu_arg(a.redis_cpu), cpu_arg(a.cluster_gen_cpu)
    if (os.cpu_count() or 1) < 2 and opts.server_cpu is not None:
        print("warning: fewer than 2 CPUs, server and generator share one", file=sys.stderr)
        opts.gen_cpu = opts.server_cpu
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    outdir = Path(a.results)
    outdir.mkdir(parents=True, exist_ok=True)
    raw_path = outdir / f"{stamp}-{gen.name}.jsonl"
    print(f"# {machine_info()}", file=sys.stderr)
    print(
        f"# generator {gen.name}; servers {', '.join(servers)}; workloads {', '.join(w.name for w in wls)}; "
        f"{repeats} repeat(s); server CPU {a.server_cpu}, generator CPU {a.gen_cpu}; raw -> {raw_path}",
        file=sys.stderr,
    )
    for name, src in trio_srcs.items():
        print(f"# {TRIO}@{name}: {src}", file=sys.stderr)
    records: dict[tuple[str, str], list[Record]] = {}
    gen_extra = shlex.split(a.gen_args)
    namew = max(9, *(len(s) for s in servers))
    busy_before = warn_if_busy()
    t_start = time.monotonic()
    interrupted = False
    try:
        with open(raw_path, "w") as raw:
            for rep in range(repeats):
                for wl in wls:
                    for name in servers:  # A B A B: servers alternate within every workload and repeat
                        if wl.tls and not is_trio(name):
                            continue  # TLS: trio-chat only (the note says so)
                        tag = f"[{rep + 1}/{repeats}] {wl.name:8} {name:{namew}}"
                        try:
                            srv = start_server(name, opts, tls=wl.tls)
                        except ServerError as e:
                            print(f"{tag} server failed to start: {e}", file=sys.stderr)
                            rec: Record = {"status": "server_failed", "first_error": str(e)[-300:]}
                        else:
                            notes.update(srv.notes)
                            try:
                                rec = run_generator(gen, wl, srv, opts, gen_extra, timeout=a.timeout)
                                if not srv.alive():
                                    rec["server_died"] = True
                                    rec["server_stderr"] = srv.stderr_tail()
                            finally:
                                srv.stop()
                        rec.update(
                            runner_server=name,
                            runner_workload=wl.name,
                            runner_repeat=rep + 1,
                            runner_generator=gen.name,
                            runner_time=_dt.datetime.now().isoformat(),
                        )
                        raw.write(json.dumps(rec) + "\n")
                        raw.flush()
                        records.setdefault((name, wl.name), []).append(rec)
                        lat: dict[str, float] = rec.get("lat_us") or {}
                        print(
                            f"{tag} {rec.get('status', '?'):10} {fmt_rate(rec.get('deliveries_per_s')):>10} "
                            f"p50 {fmt_ms(lat.get('p50'))} p99 {fmt_ms(lat.get('p99'))} ms"
                            + (
                                f" (cross {fmt_ms(rec['lat_cross_us'].get('p50'))}/"
                                f"{fmt_ms(rec['lat_cross_us'].get('p99'))})"
                                if rec.get("lat_cross_us")
                                else ""
                            )
                            + (
                                f" KB/conn {rec['server_rss_per_conn_kb']:.2f}"
                                if rec.get("server_rss_per_conn_kb") is not None
                                else ""
                            )
                            + (f"  lost {rec.get('lost')}" if rec.get("lost") else "")
                            + (f"  error: {rec.get('first_error')}" if rec.get("first_error") else ""),
                            file=sys.stderr,
                        )
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: stopping everything started", file=sys.stderr)
    finally:
        stop_all()
    summary = {k: summarise(v) for k, v in records.items()}
    table = render_table(summary, servers, [w.name for w in wls])
    header = (
        f"trio-chat benchmarks, {_dt.datetime.now():%Y-%m-%d %H:%M}, {machine_info()}\n"
        f"generator {gen.name}, medians of {repeats} run(s) per cell, server pinned to CPU {a.server_cpu}, "
        f"generator to CPU {a.gen_cpu}, {time.monotonic() - t_start:.0f}s in all, "
        f"machine {busy_before:.0%} busy before the run" + (" (INTERRUPTED)" if interrupted else "")
    )
    text = header + "\n" + "".join(f"note: {n}\n" for n in sorted(notes)) + "\n" + table + "\n"
    if a.websocket and not interrupted:
        text += "\n" + websocket_run(a.python, repeats) + "\n"
    print(text)
    (outdir / f"{stamp}-{gen.name}-table.txt").write_text(text)
    print(f"raw results: {raw_path}", file=sys.stderr)
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
