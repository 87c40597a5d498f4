#!/usr/bin/env python3
"""W1's fan-out over WebSocket beside the same over plain TCP: what a WebSocket recipient costs the server.

    .venv/bin/python benchmarks/wsload.py              # 3 runs each, TCP and WebSocket alternating (~1 min)
    .venv/bin/python benchmarks/wsload.py -n 1 -m 300   # a quick look

Target: a WebSocket recipient costs the server at most twice what a TCP one costs per delivery.

Every run starts a fresh ``trio-chat serve --port 0 --web-port 0 --db :memory: --flood-limit 0 --max-clients 0
--max-per-ip 0`` from this checkout (its ports are read from its start-up log), connects ``-c`` clients over one
transport, registers them and joins them to one channel, then ``-s`` senders send ``-m`` messages each as fast as
the server takes them (each keeps at most ``-w`` messages' worth of deliveries outstanding, as chatload does in
W1), and every client counts the PRIVMSGs it receives.  The measured phase runs from the first send to the last
delivery; the server's utime+stime (``/proc/<pid>/stat``) is read at both ends of it.  Runs alternate the
transports (TCP, WebSocket, TCP, ...), nothing is pinned.

The generator is the same Python program for both transports (trio, one task per client): plain TCP reads
split lines at CRLF; WebSocket uses the ``text.ircv3.net`` subprotocol on ``/`` of the web port, with a small
RFC 6455 client written here (handshake checked, client frames masked, one IRC line per frame) because a
per-frame library call costs the generator more than the frames cost the server.  That generator can be the
bottleneck (it shares the 2 CPUs with the server), so deliveries/s says little: the figure to compare is the
server's CPU per delivery, which a slow reader changes much less.

Every process started is stopped by PID (SIGTERM, SIGKILL after 3 s).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")
CHANNEL = "#bench"
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SUBPROTOCOL = "text.ircv3.net"
MASK = b"\x37\xfa\x21\x3d"


def cpu_s(pid: int) -> float:
    """A process's user+system CPU seconds, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK


# ---------------------------------------------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path
    irc_port: int
    web_port: int

    @property
    def pid(self) -> int:
        return self.proc.pid


def start_server(python: str, workdir: Path) -> ServerProcess:
    """Start trio-chat from this checkout on free ports; wait for both listeners in its log."""
    log_path = workdir / f"server-{time.monotonic_ns()}.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = [python, "-m", "trio_chat.cli", "serve", "--host", "127.0.0.1", "--port", "0", "--web-port", "0"]
    args += ["--db", ":memory:", "--flood-limit", "0", "--max-clients", "0", "--max-per-ip", "0"]
    # INFO, not WARNING as run.py does: the ports are read from the start-up lines.  The only INFO lines after
    # that are one per connect and disconnect, outside the measured phase.
    args += ["--log-level", "INFO"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = ServerProcess(proc, log_path, 0, 0)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        irc = re.search(r"listening on \S+ port (\d+)", text)
        web = re.search(r"web client on https?://[^:]+:(\d+)/", text)
        if irc and web:
            server.irc_port, server.web_port = int(irc.group(1)), int(web.group(1))
            return server
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    stop_server(server)
    raise RuntimeError(f"trio-chat did not start:\n{log_path.read_text(errors='replace')[-2000:]}")


def stop_server(server: ServerProcess) -> None:
    if server.proc.poll() is None:
        os.kill(server.pid, signal.SIGTERM)
        try:
            server.proc.wait(3)
        except subprocess.TimeoutExpired:
            os.kill(server.pid, signal.SIGKILL)
            server.proc.wait()
    server.log_path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------------------------
# the two transports: bytes of IRC lines in, lists of IRC lines out
# ---------------------------------------------------------------------------------------------------------------


class Transport:
    """One client connection: ``send_lines`` writes whole lines, ``receive_lines`` returns the next ones."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    def encode(self, lines: list[bytes]) -> bytes:
        return b"".join(line + b"\r\n" for line in lines)

    async def send_lines(self, lines: list[bytes]) -> None:
        await self.stream.send_all(self.encode(lines))

    async def receive_lines(self) -> list[bytes]:
        while True:
            data = await self.stream.receive_some(262144)
            if not data:
                raise EOFError("server closed the connection")
            lines = (self.buffer + data).split(b"\r\n")
            self.buffer = lines.pop()
            if lines:
                return lines


def mask(payload: bytes) -> bytes:
    """XOR with MASK (RFC 6455 5.3), as one big-integer operation."""
    n = len(payload)
    key = (MASK * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def client_frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return header + MASK + mask(payload)


class WebSocketTransport(Transport):
    """IRCv3 WebSocket, text subprotocol: one line per frame, no CRLF; server frames are not masked."""

    def encode(self, lines: list[bytes]) -> bytes:
        return b"".join(client_frame(0x1, line) for line in lines)

    async def handshake(self, host: str, port: int) -> None:
        key = base64.b64encode(os.urandom(16))
        request = (
            f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n"
        ).encode()
        await self.stream.send_all(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                raise EOFError("server closed the connection during the WebSocket handshake")
            data += chunk
        head, _, self.buffer = data.partition(b"\r\n\r\n")
        status, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
        if not status.startswith("HTTP/1.1 101") or headers.get("sec-websocket-accept") != accept:
            raise RuntimeError(f"WebSocket handshake refused: {status}")
        if headers.get("sec-websocket-protocol") != SUBPROTOCOL:
            raise RuntimeError(f"server chose subprotocol {headers.get('sec-websocket-protocol')!r}")

    async def receive_lines(self) -> list[bytes]:
        while True:
            lines: list[bytes] = []
            buf = self.buffer
            pos, end = 0, len(buf)
            while end - pos >= 2:
                b0, b1 = buf[pos], buf[pos + 1]
                n = b1 & 0x7F
                start = pos + 2
                if n == 126:
                    if end - pos < 4:
                        break
                    n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                    start = pos + 4
                elif n == 127:
                    if end - pos < 10:
                        break
                    n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                    start = pos + 10
                if end < start + n:
                    break
                opcode = b0 & 0x0F
                if opcode in (0x1, 0x2):
                    lines.append(buf[start : start + n])
                elif opcode == 0x9:  # ping
                    await self.stream.send_all(client_frame(0xA, buf[start : start + n]))
                elif opcode == 0x8:
                    raise EOFError("server sent a WebSocket close frame")
                pos = start + n
            self.buffer = buf[pos:]
            if lines:
                return lines
            data = await self.stream.receive_some(262144)
            if not data:
                raise EOFError("server closed the connection")
            self.buffer += data


# ---------------------------------------------------------------------------------------------------------------
# the workload
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Run:
    clients: int
    senders: int
    messages: int
    window: int
    run_id: str
    deliveries: int = 0
    duplicates_or_reordered: int = 0
    first_send: float = 0.0
    last_delivery: float = 0.0
    registered: int = 0
    received_from: list[int] = field(default_factory=list)
    sender_wakeups: list[trio.Event] = field(default_factory=list)
    all_registered: trio.Event = field(default_factory=trio.Event)
    go: trio.Event = field(default_factory=trio.Event)
    done: trio.Event = field(default_factory=trio.Event)

    @property
    def expected(self) -> int:
        return self.senders * self.messages * (self.clients - 1)


async def register(run: Run, index: int, transport: Transport) -> None:
    """NICK/USER, wait for 001, JOIN, wait for the end of NAMES."""
    nick = f"cl{index}".encode()
    await transport.send_lines([b"NICK " + nick, b"USER u 0 * :wsload"])
    registered = False
    while not registered:
        for line in await transport.receive_lines():
            if line.startswith(b"PING"):
                await transport.send_lines([b"PONG" + line[4:]])
                continue
            command = line.split(b" ", 2)[1] if line.startswith(b":") else b""
            if command == b"001":
                await transport.send_lines([b"JOIN " + CHANNEL.encode()])
            elif command == b"366":
                registered = True
            elif command in (b"432", b"433", b"465") or line.startswith(b"ERROR"):
                raise RuntimeError(f"cl{index}: {line!r}")


async def client(run: Run, index: int, transport: Transport) -> None:
    """Count this client's deliveries (and send, if it is one of the senders) until cancelled."""
    prefix = b":%" + run.run_id.encode() + b"."
    last_seq = [-1] * run.senders
    run.registered += 1
    if run.registered == run.clients:
        run.all_registered.set()
    async with trio.open_nursery() as nursery:
        if index < run.senders:
            nursery.start_soon(sender, run, index, transport)
        received_from = run.received_from
        wakeups = run.sender_wakeups
        while True:
            lines = await transport.receive_lines()
            got = 0
            for line in lines:
                at = line.find(prefix)
                if at < 0:
                    if line.startswith(b"PING"):
                        await transport.send_lines([b"PONG" + line[4:]])
                    continue
                fields = line[at + len(prefix) :].split(b".", 2)
                who, seq = int(fields[0]), int(fields[1])
                if seq <= last_seq[who]:
                    run.duplicates_or_reordered += 1
                    continue
                last_seq[who] = seq
                received_from[who] += 1
                wakeups[who].set()
                got += 1
            if got:
                run.deliveries += got
                run.last_delivery = time.perf_counter()
                if run.deliveries >= run.expected:
                    run.done.set()


async def sender(run: Run, index: int, transport: Transport) -> None:
    await run.go.wait()
    if run.first_send == 0.0:
        run.first_send = time.perf_counter()
    recipients = run.clients - 1
    budget = run.window * recipients
    head = f"PRIVMSG {CHANNEL} :%{run.run_id}.{index}.".encode()
    size = len(f"PRIVMSG {CHANNEL} :") + 64  # a 64-byte body, as chatload's default
    sent = 0
    while sent < run.messages:
        outstanding = sent * recipients - run.received_from[index]
        room = (budget - outstanding) // recipients
        if room <= 0:
            event = run.sender_wakeups[index] = trio.Event()
            await event.wait()
            continue
        batch = []
        for seq in range(sent, min(run.messages, sent + room)):
            body = head + f"{seq}.{time.perf_counter_ns()}.".encode()
            batch.append(body.ljust(size, b"-"))
        sent += len(batch)
        await transport.send_lines(batch)


async def run_once(
    transport_name: str, server: ServerProcess, args: argparse.Namespace, number: int
) -> dict[str, object]:
    messages = args.ws_messages if transport_name == "websocket" else args.messages
    run = Run(args.clients, args.senders, messages, args.window, f"r{number}")
    run.received_from = [0] * run.senders
    run.sender_wakeups = [trio.Event() for _ in range(run.senders)]
    result: dict[str, object] = {"transport": transport_name, "run": number, "messages_per_sender": messages}
    port = server.web_port if transport_name == "websocket" else server.irc_port

    limiter = trio.CapacityLimiter(50)  # clients connecting and registering at once, as run.py's --batch

    async def connect_one(index: int) -> None:
        async with limiter:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            transport: Transport
            if transport_name == "websocket":
                ws = WebSocketTransport(stream)
                await ws.handshake("127.0.0.1", port)
                transport = ws
            else:
                transport = Transport(stream)
            await register(run, index, transport)
        async with stream:
            await client(run, index, transport)

    with trio.fail_after(args.timeout):
        async with trio.open_nursery() as nursery:
            t0 = time.perf_counter()
            for i in range(run.clients):
                nursery.start_soon(connect_one, i)
            await run.all_registered.wait()
            result["register_s"] = round(time.perf_counter() - t0, 3)
            await trio.sleep(0.5)  # let the JOIN announcements drain before the measured phase
            cpu0 = cpu_s(server.pid)
            gen0 = time.process_time()
            run.go.set()
            with trio.move_on_after(args.timeout - 5):
                while not run.done.is_set():
                    before = run.deliveries
                    with trio.move_on_after(5):
                        await run.done.wait()
                    if run.deliveries == before:
                        break  # nothing for 5 s: lost messages
            cpu1 = cpu_s(server.pid)
            gen1 = time.process_time()
            nursery.cancel_scope.cancel()
    wall = max(run.last_delivery - run.first_send, 1e-9)
    server_cpu = cpu1 - cpu0
    result.update(
        status="complete" if run.deliveries == run.expected else "incomplete",
        deliveries=run.deliveries,
        expected=run.expected,
        dup_or_ooo=run.duplicates_or_reordered,
        wall_s=round(wall, 3),
        deliveries_per_s=round(run.deliveries / wall),
        server_cpu_s=round(server_cpu, 3),
        server_cpu_pct=round(100 * server_cpu / wall, 1),
        server_us_per_delivery=round(1e6 * server_cpu / max(run.deliveries, 1), 3),
        generator_cpu_pct=round(100 * (gen1 - gen0) / wall, 1),
    )
    return result


# ---------------------------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------------------------


def rate(value: float) -> str:
    return f"{value / 1e6:.2f} M/s" if value >= 1e6 else f"{value / 1e3:.0f} k/s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--repeats", type=int, default=3, help="runs per transport, alternating (3)")
    parser.add_argument("-c", "--clients", type=int, default=100, help="clients in the channel (100, as W1)")
    parser.add_argument("-s", "--senders", type=int, default=10, help="senders among them (10, as W1)")
    parser.add_argument("-m", "--messages", type=int, default=1000, help="messages per sender over TCP (1000, as W1)")
    parser.add_argument(
        "--ws-messages",
        type=int,
        default=None,
        help="messages per sender over WebSocket (default: as over TCP)",
    )
    parser.add_argument("-w", "--window", type=int, default=32, help="messages outstanding per sender (32)")
    parser.add_argument("-t", "--transports", default="tcp,websocket", help="tcp,websocket (alternating)")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds per run (90)")
    parser.add_argument("--python", default=sys.executable, help="the Python that runs trio-chat")
    parser.add_argument("--json", action="store_true", help="print each run's record as a JSON line")
    args = parser.parse_args()
    if args.ws_messages is None:
        args.ws_messages = args.messages
    transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="wsload-") as tmp:
        for repeat in range(args.repeats):
            for name in transports:
                server = start_server(args.python, Path(tmp))
                try:
                    result = trio.run(run_once, name, server, args, repeat)
                finally:
                    stop_server(server)
                results.append(result)
                print(
                    f"  {name:9} run {repeat + 1}: {rate(float(result['deliveries_per_s']))}"  # type: ignore[arg-type]
                    f"  server {result['server_us_per_delivery']} us/delivery, {result['server_cpu_pct']}% CPU,"
                    f"  generator {result['generator_cpu_pct']}% CPU  [{result['status']}]",
                    file=sys.stderr,
                )
                if args.json:
                    print(json.dumps(result))
    print_table(results, transports, args)
    return 0 if all(r["status"] == "complete" for r in results) else 1


def print_table(results: list[dict[str, object]], transports: list[str], args: argparse.Namespace) -> None:
    print()
    print(
        f"W1 pattern: {args.clients} clients in one channel, {args.senders} senders x {args.messages} messages"
        f" (TCP) or {args.ws_messages} (WebSocket), window {args.window}; medians of {args.repeats} runs each,"
        " alternating, a fresh server per run"
    )
    print()
    header = f"{'transport':<10} {'deliveries/s':>13} {'srv us/deliv':>13} {'srv CPU%':>9} {'gen CPU%':>9} runs"
    print(header)
    print("-" * len(header))
    us: dict[str, float] = {}
    for name in transports:
        rows = [r for r in results if r["transport"] == name]
        good = [r for r in rows if r["status"] == "complete"] or rows
        med = {
            key: statistics.median(float(r[key]) for r in good)  # type: ignore[arg-type]
            for key in ("deliveries_per_s", "server_us_per_delivery", "server_cpu_pct", "generator_cpu_pct")
        }
        us[name] = med["server_us_per_delivery"]
        complete = sum(r["status"] == "complete" for r in rows)
        print(
            f"{name:<10} {rate(med['deliveries_per_s']):>13} {med['server_us_per_delivery']:>13.3f}"
            f" {med['server_cpu_pct']:>9.0f} {med['generator_cpu_pct']:>9.0f} {complete}/{len(rows)}"
        )
    if "tcp" in us and "websocket" in us and us["tcp"] > 0:
        ratio = us["websocket"] / us["tcp"]
        verdict = "met" if ratio <= 2.0 else "NOT met"
        print()
        print(f"WebSocket / TCP, server us per delivery: {ratio:.2f}x (target <= 2x: {verdict})")
    print()
    print(
        "The generator is Python and shares the machine's CPUs with the server: when its CPU% is near 100 it is\n"
        "the bottleneck and deliveries/s measures it, not the server.  Compare the server's CPU per delivery."
    )


if __name__ == "__main__":
    sys.exit(main())
