"""The soak's clients: what a wave shares, and the connections.

Every client is a :class:`Client` that owns one connection at a time (a reconnecter has a succession of them), an
:class:`~tests.ircclient.IRCClient` over TCP.  Thousands of them read at once, so a client does not parse every
line: lines from well-behaved nicks (``w<index>``: the channel traffic) are taken apart by their first few bytes,
and everything else (numerics, PING, ERROR, QUIT, the misbehavers' lines) is parsed by ``trio_chat.protocol``.
What each kind does with its connection is in :mod:`.behaviours`.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import trio

from tests.ircclient import PARSE_LIMIT, IRCClient, registration
from trio_chat.protocol import Message, ProtocolError, parse_line

from .plan import NICK_LETTER, WELL_BEHAVED, Settings, plan_kinds
from .server import HOST

READ_PAUSE = 0.4
"""Well-behaved clients sleep this long after each read, so thousands of them cost few wake-ups (the kernel
buffers what arrives meanwhile; a few KB)."""

QUIET_NUMERICS = frozenset(("353", "366", "372", "375", "376", "005", "251", "252", "253", "254", "255"))
"""Numerics that wake no one: NAMES, the MOTD, ISUPPORT and LUSERS come in bulk at JOIN and registration."""


# ---- what a wave shares ---------------------------------------------------------------------------------------


@dataclass
class Run:
    """One wave: its clients, its channels, and the counters every client adds to."""

    settings: Settings
    port: int
    rng: random.Random
    channels: list[str]
    chan_index: dict[bytes, int]
    oper_password: str
    chan_members: list[list[int]] = field(default_factory=list)
    """Well-behaved client indices planned for each channel."""
    chan_pos: list[dict[int, int]] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)
    connects: int = 0
    connect_failures: int = 0
    received: int = 0
    """PRIVMSGs from well-behaved senders received by stable receivers (talkers)."""
    misdelivered: int = 0
    """PRIVMSGs for a channel the receiver was never in, or from a sender not in that channel."""
    bad_lines: int = 0
    """Received data with NUL or invalid UTF-8 in it."""
    foreign: int = 0
    """PRIVMSGs from misbehaving clients seen by well-behaved ones (allowed; counted for the record)."""
    quit_reasons: dict[str, str] = field(default_factory=dict)
    """Misbehaver nick -> the QUIT reason its channel peers saw."""
    talking: bool = False
    stop_talking: float = 0.0
    leaving: bool = False
    reconnects: int = 0
    relayed_bytes: int = 0
    """Bytes of PRIVMSG lines sent to channels (well-behaved and non-readers): what a non-reader in every
    channel was sent, roughly (the server adds a prefix of ~30 bytes to each)."""
    nursery_: trio.Nursery | None = None

    @property
    def nursery(self) -> trio.Nursery:
        assert self.nursery_ is not None
        return self.nursery_


def build_run(settings: Settings, port: int, oper_password: str, wave: int) -> Run:
    """Wave number ``wave``: its clients in a random order (from the seed), each well-behaved one with 1-3
    channels, and what each talker expects to receive."""
    rng = random.Random(f"{settings.seed}/{wave}")
    channels = [f"#soak{i:02d}" for i in range(settings.channels)]
    run = Run(
        settings=settings,
        port=port,
        rng=rng,
        channels=channels,
        oper_password=oper_password,
        chan_index={c.encode(): i for i, c in enumerate(channels)},
    )
    kinds = plan_kinds(settings.clients)
    rng.shuffle(kinds)
    run.chan_members = [[] for _ in channels]
    for index, kind in enumerate(kinds):
        client: Client
        if kind in WELL_BEHAVED:
            mine = sorted(rng.sample(range(len(channels)), rng.randint(1, min(3, len(channels)))))
            for c in mine:
                run.chan_members[c].append(index)
            client = WellBehaved(run, index, kind, mine)
        else:
            client = Client(run, index, kind)
        run.clients.append(client)
    run.chan_pos = [{index: pos for pos, index in enumerate(members)} for members in run.chan_members]
    for client in run.clients:
        if isinstance(client, WellBehaved):
            client.setup_expectations()
    return run


# ---- clients --------------------------------------------------------------------------------------------------


class Client:
    """One connection (for a reconnecter, a succession of them) and what it has seen."""

    def __init__(self, run: Run, index: int, kind: str, nick: str | None = None) -> None:
        self.run = run
        self.index = index
        self.kind = kind
        self.nick = nick or f"{NICK_LETTER[kind]}{index}"
        self.prefix = b":" + self.nick.encode() + b"!"
        self.rng = random.Random(run.rng.random())
        self.irc: IRCClient | None = None
        """The connection, while there is one."""
        self.send_lock = trio.Lock()
        self._changed = trio.Event()
        self.registered = False
        self.joined: set[bytes] = set()
        self.errors: list[str] = []
        """Reasons of the ERROR lines received."""
        self.eof = True
        self.numerics: Counter[str] = Counter()
        self.pongs: list[tuple[float, bytes]] = []
        self.pending_pong: str | None = None
        self.read_pause = 0.0
        self.quit_sent = False
        self.problem: str | None = None
        """Why this client failed its part, if it did."""
        self.answer: str | None = None
        """For a misbehaver: how the server answered it."""
        self.connects = 0
        self.unexpected_close: str | None = None
        self.sent_bytes = 0

    # -- plumbing --

    def notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, condition: Callable[[], bool], limit: float) -> bool:
        with trio.move_on_after(limit):
            while not condition():
                await self._changed.wait()
        return condition()

    async def connect(self, *, rcvbuf: int | None = None, mss: int | None = None) -> bool:
        try:
            irc = await IRCClient.connect_tcp(HOST, self.run.port, self.nick, rcvbuf=rcvbuf, mss=mss)
        except OSError as exc:
            self.run.connect_failures += 1
            self.problem = f"connect failed: {exc}"
            return False
        self.irc = irc
        self.eof = False
        self.registered = False
        self.quit_sent = False
        self.joined.clear()
        self.run.connects += 1
        self.connects += 1
        return True

    async def send(self, data: bytes) -> bool:
        """Send ``data``; False when the connection is gone."""
        irc = self.irc
        if irc is None:
            return False
        try:
            async with self.send_lock:
                await irc.send_raw(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            return False
        return True

    async def close(self, *, reset: bool = False) -> None:
        irc = self.irc
        if irc is None:
            return
        self.irc = None
        await irc.aclose(reset=reset)

    async def read_loop(self, until: Callable[[], bool] | None = None) -> None:
        """Read until EOF (or until ``until()`` holds), handing lines to :meth:`feed`; answers PINGs."""
        irc = self.irc
        if irc is None:
            return
        try:
            while True:
                lines = await irc.receive_lines()
                if not lines:
                    break
                self.feed(lines)
                if self.pending_pong is not None:
                    token, self.pending_pong = self.pending_pong, None
                    if not self.quit_sent:
                        await self.send(f"PONG :{token}\r\n".encode())
                if until is not None and until():
                    return
                if self.read_pause:
                    await trio.sleep(self.read_pause)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        if irc is not self.irc:
            return  # closed on purpose (a reconnecter already has a new connection)
        self.eof = True
        if not self.quit_sent and self.unexpected_close is None:
            self.unexpected_close = self.errors[-1] if self.errors else "connection closed"
        self.notify()

    def feed(self, lines: list[bytes]) -> None:
        run = self.run
        received = b"\n".join(lines)
        if b"\x00" in received:
            run.bad_lines += 1
        try:
            received.decode("utf-8")
        except UnicodeDecodeError:
            run.bad_lines += 1
        interesting = False
        for line in lines:
            if line.startswith(b":w"):
                # A well-behaved nick's line: the hot path, taken apart without a parser.
                parts = line.split(b" ", 3)
                if len(parts) < 3:
                    continue
                verb = parts[1]
                if verb == b"PRIVMSG":
                    if len(parts) == 4:
                        self.on_privmsg(parts[0], parts[2], parts[3])
                elif parts[0].startswith(self.prefix):
                    interesting = self.on_own(verb.decode(), parts[2].lstrip(b":")) or interesting
                continue
            try:
                message = parse_line(line, max_tag_bytes=PARSE_LIMIT, max_body_bytes=PARSE_LIMIT)
            except ProtocolError:
                continue  # NUL or invalid UTF-8: counted above
            if self.on_other(message):
                interesting = True
        if interesting:
            self.notify()

    def on_privmsg(self, source: bytes, target: bytes, text: bytes) -> None:
        """A PRIVMSG from a well-behaved sender; talkers check them."""

    def on_own(self, verb: str, channel: bytes) -> bool:
        """Our own JOIN/PART echoed; True when waiters should be woken."""
        if verb == "JOIN":
            self.joined.add(channel)
            return True
        if verb == "PART":
            self.joined.discard(channel)
            return True
        return False

    def on_other(self, message: Message) -> bool:
        """A line not from a well-behaved nick; True when waiters should be woken."""
        command, params = message.command, message.params
        if message.source is None:
            if command == "PING" and params:
                self.pending_pong = params[-1]
            elif command == "ERROR":
                self.errors.append(params[-1] if params else "")
                return True
            return False
        if command == "QUIT":
            nick = message.source.split("!", 1)[0]
            self.run.quit_reasons.setdefault(nick, params[0] if params else "")
            return False
        if command == "PRIVMSG":
            self.run.foreign += 1
            return False
        if command in ("JOIN", "PART"):
            mine = message.source.startswith(self.nick + "!")
            return bool(params) and mine and self.on_own(command, params[0].encode())
        if command == "PONG":
            self.pongs.append((trio.current_time(), params[-1].encode() if params else b""))
            return True
        if (len(command) == 3 and command.isdigit()) or command == "FAIL":
            self.numerics[command] += 1
            if command == "001":
                self.registered = True
            return command not in QUIET_NUMERICS
        return False

    async def register(self, limit: float = 30.0) -> bool:
        """NICK and USER; retries the nick a few times while it is in use (a reconnecter's old self)."""
        if not await self.send(registration(self.nick, realname=f"soak {self.kind}")):
            return False
        deadline = trio.current_time() + limit
        for _ in range(10):
            in_use = self.numerics["433"]

            def answered(in_use: int = in_use) -> bool:
                return self.registered or self.eof or self.numerics["433"] > in_use

            await self.wait_for(answered, deadline - trio.current_time())
            if self.registered or self.eof or trio.current_time() >= deadline:
                break
            await trio.sleep(1.0)
            await self.send(f"NICK {self.nick}\r\n".encode())
        return self.registered

    async def join(self, channels: Iterable[str], limit: float = 60.0) -> bool:
        wanted = {c.encode() for c in channels}
        if not await self.send(f"JOIN {','.join(sorted(channels))}\r\n".encode()):
            return False
        return await self.wait_for(lambda: wanted <= self.joined or self.eof, limit) and wanted <= self.joined

    async def quit(self, limit: float = 20.0) -> bool:
        """QUIT and wait for the end of the stream (after the server's ERROR)."""
        if self.irc is None or self.eof:
            return False
        self.quit_sent = True
        if not await self.send(b"QUIT :soak done\r\n"):
            return False
        return await self.wait_for(lambda: self.eof, limit)

    def final_error(self) -> str:
        """How the server ended this connection, as the report shows it."""
        return f"ERROR :{self.errors[-1]}" if self.errors else "no ERROR"


class WellBehaved(Client):
    """A polite client.  Talkers check everything they receive; rejoiners and reconnecters only send."""

    def __init__(self, run: Run, index: int, kind: str, channels: list[int]) -> None:
        super().__init__(run, index, kind)
        self.channel_ids = channels
        self.sent: dict[int, int] = dict.fromkeys(channels, 0)
        self.expect: dict[bytes, tuple[int, list[int]]] = {}
        """Talkers: channel name -> (channel index, next sequence number expected from each member position)."""
        self.anomalies: dict[tuple[int, int], list[int]] = {}
        """(channel, member position) -> every sequence number received, once one arrived out of order."""
        self.received = 0

    def setup_expectations(self) -> None:
        if self.kind == "talker":
            for c in self.channel_ids:
                self.expect[self.run.channels[c].encode()] = (c, [1] * len(self.run.chan_members[c]))

    def on_privmsg(self, source: bytes, target: bytes, text: bytes) -> None:
        run = self.run
        try:
            sender = int(source[2 : source.index(b"!")])
            space = text.find(b" ")
            seq = int(text[1:space] if space > 0 else text[1:])
        except ValueError:
            run.misdelivered += 1
            return
        entry = self.expect.get(target)
        if entry is None:
            channel_index = run.chan_index.get(target)
            if self.kind == "talker" or channel_index is None or channel_index not in self.sent:
                run.misdelivered += 1
            return
        channel, expected = entry
        pos = run.chan_pos[channel].get(sender)
        if pos is None or sender == self.index:
            run.misdelivered += 1
            return
        self.received += 1
        run.received += 1
        following = expected[pos]
        if following > 0:
            if seq == following:
                expected[pos] = following + 1
                return
            history = list(range(1, following))
            history.append(seq)
            self.anomalies[(channel, pos)] = history
            expected[pos] = 0
        else:
            self.anomalies[(channel, pos)].append(seq)

    async def message(self, channel: int) -> None:
        seq = self.sent[channel] + 1
        padding = "x" * self.rng.randint(8, 160)
        line = f"PRIVMSG {self.run.channels[channel]} :{seq} {self.nick} {padding}\r\n".encode()
        if await self.send(line):
            self.sent[channel] = seq
            self.run.relayed_bytes += len(line) + 30
        elif self.problem is None:
            self.problem = "send failed"

    async def talk(self, until: float) -> None:
        """Now and then, a message to one of the channels we are in, until ``until`` (trio time)."""
        interval = self.run.settings.interval
        while not self.eof:
            pause = self.rng.uniform(0.5, 1.5) * interval
            if trio.current_time() + pause >= until:
                await trio.sleep(max(0.0, until - trio.current_time()))
                return
            await trio.sleep(pause)
            choices = [c for c in self.channel_ids if self.run.channels[c].encode() in self.joined]
            if choices and not self.eof:
                await self.message(self.rng.choice(choices))


class Monitor(Client):
    """The operator connection that reads ``STATS z``."""

    def __init__(self, run: Run) -> None:
        super().__init__(run, 0, "monitor", nick="monitor")
        self.stats: dict[str, int] = {}
        self.reports: list[dict[str, int]] = []
        self.oper = False
        self.stats_lock = trio.Lock()

    def on_other(self, message: Message) -> bool:
        command, params = message.command, message.params
        if command == "249":  # RPL_STATSDEBUG: "<name> <value>"
            name_value = params[-1].split() if len(params) == 3 else []
            if len(name_value) == 2 and name_value[1].lstrip("-").isdigit():
                self.stats[name_value[0]] = int(name_value[1])
            return False
        if command == "219":  # RPL_ENDOFSTATS
            self.reports.append(self.stats)
            self.stats = {}
            return True
        if command == "381":  # RPL_YOUREOPER
            self.oper = True
            return True
        return super().on_other(message)

    async def read_stats(self, limit: float = 15.0) -> dict[str, int] | None:
        async with self.stats_lock:
            count = len(self.reports)
            if not await self.send(b"STATS z\r\n"):
                return None
            await self.wait_for(lambda: len(self.reports) > count or self.eof, limit)
            return self.reports[count] if len(self.reports) > count else None
